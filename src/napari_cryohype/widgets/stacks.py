"""Particle stacks are drawn in 2D only. A stack (N, D, D) is a pile of images, not a volume: napari's 3D
view would draw it as a grey slab that hides every map inside it. So while the viewer shows 3D, the stacks
our reader opened (``metadata[STACK]``) are hidden, and back in 2D they show again, to flip through. A
stack the user shows again in 3D stays shown.

napari runs its own callbacks first: after its 3D button a stack is drawn in 3D once (read whole) before it
is hidden. The explorer hides the stacks before it switches to 3D (:func:`hide`), so they are never read
as a volume there.
"""

from __future__ import annotations

import weakref

STACK = "image stack"          # metadata key: True for a layer that is a stack of 2D images
HIDDEN_IN_3D = "hidden in 3D"  # metadata key: True while a stack is hidden because the view is 3D

_followed: list[weakref.ref] = []   # the viewers whose 2D/3D switches are followed


def is_stack(layer) -> bool:
    """True for a particle stack layer (``metadata[STACK]``)."""
    return bool(layer.metadata.get(STACK))


def follow(viewer) -> None:
    """Keep ``viewer``'s stacks out of its 3D view from now on (once per viewer): hidden on each switch to
    3D and when added in 3D, shown again on each switch to 2D."""
    if any(ref() is viewer for ref in _followed):
        return
    ref = weakref.ref(viewer)
    _followed.append(ref)
    viewer.dims.events.ndisplay.connect(lambda _: switched(ref()))
    viewer.layers.events.inserted.connect(lambda event: ref() is not None and ref().dims.ndisplay == 3
                                          and hide(ref(), [event.value]))


def hide(viewer, layers=None) -> None:
    """Hide the visible stacks among ``layers`` (default: all of ``viewer``'s), marked
    :data:`HIDDEN_IN_3D` so that the next switch to 2D shows them again."""
    for layer in list(viewer.layers if layers is None else layers):
        if is_stack(layer) and layer.visible:
            layer.metadata[HIDDEN_IN_3D] = True
            layer.visible = False


def switched(viewer) -> None:
    """After a 2D/3D switch: in 3D hide the visible stacks, in 2D show the stacks hidden for 3D."""
    if viewer is None:
        return
    if viewer.dims.ndisplay == 3:
        hide(viewer)
        return
    for layer in viewer.layers:
        if is_stack(layer) and layer.metadata.pop(HIDDEN_IN_3D, False):
            layer.visible = True
