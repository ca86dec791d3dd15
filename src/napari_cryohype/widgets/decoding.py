"""Decoding in the Latent Explorer: a clicked image's volume with its particle image, rendered projection and
true map beside it; a selection's volume; the layer a first click fills, made in advance. The computing is
:mod:`napari_cryohype.core.decode`, in workers (:class:`~.jobs.Jobs`); the layers go through
:class:`~.layers.Placement`."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from qtpy.QtCore import QTimer

from napari_cryohype.widgets.jobs import Jobs
from napari_cryohype.widgets.layers import PENDING, READY, SPACING, Placement, role


class Decoder:
    """Decodes images of the run ``source()`` gives ((run, dataset), or (None, None)) into ``placement``'s
    viewer. ``true_map(index)``: the true map's file of an image, or None; ``prepare()``: whether to make the
    layer a click fills (decoding on click is on); ``say(text)``: a status line."""

    def __init__(self, jobs: Jobs, placement: Placement, source: Callable[[], tuple],
                 true_map: Callable[[int], Path | None], prepare: Callable[[], bool], say: Callable[[str], None]):
        self.jobs, self.placement = jobs, placement
        self.viewer = placement.viewer
        self.source, self.true_map, self.prepare, self.say = source, true_map, prepare, say
        self.pending: list[Callable[[], object]] = []   # layer steps of a decoded image, in order
        self.first_draw = False   # the prepared layer's first (transparent) draw is under way

    @property
    def busy(self) -> bool:
        """True while decoded layers are still being added or the prepared layer's first draw is under way."""
        return bool(self.pending or self.first_draw)

    def preload(self, run) -> None:
        """Load the run's model for decoding in a worker now (core.decode.preload), then, once no worker
        runs (the CPU is free), make the layer the first click fills (:meth:`prepare_volume_layer`): that
        click then waits for the decoding only."""
        if run is not None and run.has_checkpoint:
            self.jobs.start(_preload, run, on_done=lambda _: self.jobs.when_idle.append(self.prepare_volume_layer),
                            what="Loading the model for decoding")

    def decode_index(self, index: int) -> None:
        """Decode image ``index``'s INR to a volume (core.decode.decode_images) in a worker and show it with
        the particle image, the model's rendered projection and, for simulations, the true map.

        The volume's layer is there at once: the one to replace, or a new empty one while the worker
        decodes (creating a napari layer is most of a first click's wait; it then overlaps the decoding).
        The empty one is hidden until filled: drawing an empty volume costs as much as a full one."""
        run, dataset = self.source()
        if run is None:
            self.say("Decoding needs a run folder (latents alone have no model).")
            return
        target = []  # the volume's layer, found or made once the worker has started (results come after)

        def failed() -> None:
            if target[0] in self.viewer.layers and role(target[0]) == PENDING:
                self.viewer.layers.remove(target[0])

        self.jobs.start(decode_one, run, dataset, index, self.true_map(index),
                        on_done=lambda r: self.show_decoded(r, target[0]), on_failed=failed,
                        what=f"Decoding image {index}")
        layer = self.placement.find(READY, 3)
        if layer is not None:
            layer.visible, layer.opacity = False, 1.0  # (shown transparent while prepared)
            layer.name, layer.metadata["cryohype_role"] = f"decoding image {index}…", PENDING
        elif self.placement.replace():  # (a pending one: a click while another decodes)
            layer = self.placement.find("decoded volume", 3) or self.placement.find(PENDING, 3)
        if layer is None:
            layer = self.placement.new_volume(np.zeros((run.D,) * 3, np.float32), f"decoding image {index}…",
                                              PENDING, visible=False)
        target.append(layer)

    def decode_selection(self, selection: np.ndarray) -> None:
        """One volume for the images ``selection`` (core.decode.decode_selection) in a worker, shown as a 3D
        layer in a row of its own."""
        from napari_cryohype.core.decode import decode_selection

        run, _ = self.source()
        if run is None or len(selection) == 0:
            self.say("Select images of a run first.")
            return
        selection = np.array(selection)
        name = f"selection volume ({len(selection)} images)"
        self.jobs.start(decode_selection, run, selection,
                        on_done=lambda vol: self.placement.put(vol, name, "selection volume", 3,
                                                               translate=self.placement.selection_place(
                                                                   run.D * run.apix)),
                        what=f"Decoding {len(selection)} selected images")

    def show_decoded(self, result: dict, target=None) -> None:
        """Put a decoded image's layers in the viewer in two event-loop turns: first the volume (what the
        click asked for; into the layer ``target`` when given and still there), drawn before the UI thread
        goes on to the particle image, the rendered projection and the true map beside it (each new napari
        layer costs the UI thread a few hundred ms under software OpenGL)."""
        run, _ = self.source()
        i, shift = result["index"], SPACING * run.D * run.apix
        put = self.placement.put
        first = all(role(layer) in (None, PENDING, READY) for layer in self.viewer.layers)

        def volume() -> None:
            if target is not None and target in self.viewer.layers:
                self.placement.fill(target, result["volume"], f"decoded volume {i}", "decoded volume")
            else:
                put(result["volume"], f"decoded volume {i}", "decoded volume", 3)

        def beside() -> None:
            put(result["image"], f"particle image {i}", "particle image", 2, translate=(0, shift))
            put(result["projection"], f"rendered projection {i}", "rendered projection", 2, translate=(0, 2 * shift))
            if result["truth"] is not None:
                put(result["truth"], f"true map {result['truth_name']}", "true map", 3, translate=(0, 0, -shift))
            if first:  # the first decoded image: frame all of its layers
                self.placement.frame_all()

        self.pending.extend([volume, beside])
        self._next_layer()

    def _next_layer(self) -> None:
        """Run the next queued layer step; the rest follow after Qt has handled its events and repainted
        (a 0 ms timer would come first: Qt posts a repaint request at low priority; a 1 ms timer comes after)."""
        if self.pending:
            self.pending.pop(0)()
        if self.pending:
            QTimer.singleShot(1, self._next_layer)

    def prepare_volume_layer(self) -> None:
        """Add the hidden, empty 3D layer that the next click's volume fills, unless a decoded volume's layer
        is already there. Under software OpenGL, creating a napari layer costs the UI thread ~0.3 s and the
        first draw of a volume ~0.08 s more (its shader is compiled): both are paid once the run has loaded,
        not after a click. For that draw the viewer goes to 3D and the layer is shown fully transparent for
        half a second, then hidden; a viewer showing the user's own layers in 2D is left as it is (the
        click switches it)."""
        run, _ = self.source()
        roles = (READY, PENDING, "decoded volume")
        if run is None or not self.prepare() or any(role(layer) in roles for layer in self.viewer.layers):
            return
        if not any(layer.visible and not role(layer) for layer in self.viewer.layers):
            self.placement.to_3d()
        selection = self.viewer.layers.selection
        selected = set(selection)
        layer = self.placement.volume(np.zeros((run.D,) * 3, np.float32), "decoded volume (click a point)", READY,
                                      visible=False)
        selection.clear()            # a placeholder: the user's selection stays as it was
        selection.update(selected)
        if self.viewer.dims.ndisplay == 3:
            self.placement.frame_all()
            self.first_draw = True
            QTimer.singleShot(1, lambda: self._draw_ready(layer))  # its first draw: an event-loop turn of its own

    def _still_ready(self, layer) -> bool:
        """The prepared layer is in the viewer and no click has taken it."""
        return layer in self.viewer.layers and role(layer) == READY

    def _draw_ready(self, layer) -> None:
        """Show the prepared layer, fully transparent, for its first draw; hidden again half a second later
        (its opacity is 0 only meanwhile: its layer controls show it)."""
        if self._still_ready(layer):
            layer.opacity = 0.0
            layer.visible = True
            QTimer.singleShot(500, lambda: self._hide_ready(layer))
        else:
            self.first_draw = False

    def _hide_ready(self, layer) -> None:
        """Hide the prepared layer after its first (transparent) draw, unless a click has taken it; its
        opacity back to 1."""
        self.first_draw = False
        if self._still_ready(layer):
            layer.visible = False
            layer.opacity = 1.0


def warm_up_3d() -> None:
    """Worker job when the explorer opens: napari's first 3D image layer pays one-time costs on the UI
    thread (pint for the layer's scale, scipy.ndimage for its thumbnail, scipy.spatial for the 3D camera,
    vispy's volume visual): about 0.5 s of a first click's wait, paid here instead. The unit registry itself
    is read by :func:`load_units` on the UI thread afterwards: read from two threads at once, a layer made
    meanwhile found it half-read ("'pixel' is not defined in the unit registry")."""
    import pint  # noqa: F401
    import scipy.ndimage  # noqa: F401
    import scipy.spatial.transform  # noqa: F401
    import vispy.visuals.volume  # noqa: F401


def load_units(_=None) -> None:
    """Read pint's unit registry (its definitions load on first use, 0.2 s); on the UI thread only."""
    from napari.utils._units import get_unit_registry

    get_unit_registry().pixel


def _preload(run) -> None:
    from napari_cryohype.core.decode import preload

    preload(run)


def decode_one(run, dataset, index: int, truth: Path | None) -> dict:
    """Worker job: image ``index``'s decoded volume, its particle image, the rendered projection and the
    true map (when given)."""
    from napari_cryohype.core.decode import decode_images, render_projection
    from napari_cryohype.core.io.mrc import read_volume

    result = {"index": index, "volume": decode_images(run, np.array([index])),
              "projection": render_projection(run, index), "image": dataset.particles[index],
              "truth": None, "truth_name": None}
    if truth is not None:
        result["truth"] = read_volume(truth)[0]
        result["truth_name"] = truth.stem
    return result
