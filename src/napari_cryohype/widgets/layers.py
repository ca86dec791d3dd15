"""Where the Latent Explorer's results go in the napari viewer: image layers tagged with their role
(``metadata['cryohype_role']``), replaced or added, placed side by side, the view framed obliquely in 3D;
volumes drawn as :mod:`.volume_display` says."""

from __future__ import annotations

from typing import Callable

import numpy as np

from napari_cryohype.widgets import stacks
from napari_cryohype.widgets.volume_display import COLORMAPS, contrast_limits, display_copy, iso_threshold

SPACING = 1.15                             # layers placed side by side are this many box widths apart
FIRST_VIEW_ANGLES = (0.0, -30.0, 60.0)     # camera (roll, elevation, azimuth) in degrees for the first volume
PENDING = "decoded volume (pending)"       # the role of the empty layer a click adds while its image decodes
READY = "decoded volume (ready)"           # the role of the hidden empty layer made for the next click
VOLUME_ROLES = ("decoded volume", "selection volume")   # the roles of volumes worth exporting
SET = "display set"     # metadata key: the iso level and contrast limits last set here, to tell the user's own


def camera(viewer):
    """The viewer's camera: ``viewer.scene.camera`` from napari 0.9 (``viewer.camera`` is deprecated there),
    ``viewer.camera`` before."""
    return getattr(viewer, "scene", viewer).camera


def role(layer) -> str | None:
    """The explorer's role of a layer, None for the user's own layers."""
    return layer.metadata.get("cryohype_role")


class Placement:
    """Puts volumes (D, D, D) and images (D, D) of a run into ``viewer`` at voxel size ``apix()`` Å, reusing
    the layer of the same role when ``replace()``, drawn with ``rendering()``. The viewer's particle stacks
    are kept out of its 3D view (:mod:`.stacks`)."""

    def __init__(self, viewer, apix: Callable[[], float], replace: Callable[[], bool],
                 rendering: Callable[[], str]):
        self.viewer = viewer
        self.apix, self.replace, self.rendering = apix, replace, rendering
        stacks.follow(viewer)

    def find(self, role_: str, ndim: int):
        """The viewer's layer of this role and dimensionality, or None."""
        for layer in self.viewer.layers:
            if role(layer) == role_ and layer.ndim == ndim:
                return layer
        return None

    def put(self, data: np.ndarray, name: str, role_: str, ndim: int, translate=None):
        """Show ``data`` as an image layer (translated by ``translate`` Å); when replacing, into the layer of
        the same ``role_``."""
        layer = self.find(role_, ndim) if self.replace() else None
        if layer is not None:
            return self.fill(layer, data, name, role_)
        if ndim == 3:
            return self.new_volume(data, name, role_, translate)
        apix = float(self.apix())
        return self.viewer.add_image(data, name=name, scale=(apix,) * 2,
                                     translate=tuple(translate) if translate is not None else (0.0, 0.0),
                                     colormap="gray", metadata={"cryohype_role": role_, "apix": apix})

    def new_volume(self, data: np.ndarray, name: str, role_: str, translate=None, visible: bool = True):
        """A 3D image layer of ``data`` (:meth:`volume`); the first one switches the viewer to 3D (before
        adding: the layer is then sliced once, in 3D) and frames it (:meth:`frame_all`)."""
        first = not any(role(layer) for layer in self.viewer.layers)
        self.to_3d()
        layer = self.volume(data, name, role_, translate, visible)
        if first:
            self.frame_all()
        return layer

    def volume(self, data: np.ndarray, name: str, role_: str, translate=None, visible: bool = True):
        """Add a 3D image layer of ``data`` (D, D, D) at the voxel size, with the chosen rendering: drawn from
        its display copy (:mod:`.volume_display`), linearly interpolated, in its role's colour, blended
        additively (its black background hides nothing behind it); ``metadata["volume"]`` keeps ``data``."""
        apix, rendering = float(self.apix()), self.rendering()
        shown, factor = display_copy(data)
        settings = {"contrast_limits": contrast_limits(shown, rendering), "iso_threshold": iso_threshold(shown)}
        layer = self.viewer.add_image(shown, name=name, scale=(apix / factor,) * 3,
                                      colormap=COLORMAPS.get(role_, "gray"),
                                      translate=tuple(translate) if translate is not None else (0.0,) * 3,
                                      rendering=rendering, interpolation3d="linear", blending="additive",
                                      visible=visible, **settings,
                                      metadata={"cryohype_role": role_, "apix": apix, "volume": data,
                                                SET: settings})
        layer.events.rendering.connect(lambda _: style(layer))  # (napari's own layer controls too)
        return layer

    def to_3d(self) -> bool:
        """Switch the viewer to 3D display, its particle stacks hidden first (never read as a volume);
        True if it was not in 3D."""
        if self.viewer.dims.ndisplay == 3:
            return False
        stacks.hide(self.viewer)
        self.viewer.dims.ndisplay = 3
        return True

    def frame_all(self) -> None:
        """Fit the view to the visible layers (all when none is), the camera oblique (seen straight down its
        z axis a volume looks like a flat image). A particle stack hidden in 3D is left out of the frame."""
        shown = [layer for layer in self.viewer.layers if layer.visible]
        try:
            self.viewer.reset_view(layers=shown or None)
        except TypeError:  # napari before 0.6 frames every layer
            self.viewer.reset_view()
        camera(self.viewer).angles = FIRST_VIEW_ANGLES

    def fill(self, layer, data: np.ndarray, name: str, role_: str):
        """Put new ``data`` into an existing layer, renamed ``name``, now of ``role_``, at the voxel size;
        a volume's (its display copy) switches the viewer to 3D (framed) if it is not."""
        switched = layer.ndim == 3 and self.to_3d()
        apix = float(self.apix())
        shown, factor = display_copy(data) if layer.ndim == 3 else (data, 1)
        if tuple(layer.scale) != (apix / factor,) * layer.ndim:
            layer.scale = (apix / factor,) * layer.ndim
        layer.metadata["apix"] = apix
        layer.data = shown
        layer.visible = True
        layer.name = name
        layer.metadata["cryohype_role"] = role_
        if layer.ndim == 3:
            layer.metadata["volume"] = data
            style(layer)
        else:
            layer.reset_contrast_limits()
        if switched:
            self.frame_all()
        return layer

    def set_rendering(self, mode: str) -> None:
        """Draw every volume of the explorer with ``mode`` (iso, attenuated_mip, mip), its contrast limits
        set for it (:func:`style`)."""
        for layer in self.viewer.layers:
            if role(layer) and layer.ndim == 3:
                layer.rendering = mode

    def selection_place(self, box_A: float) -> tuple[float, float, float]:
        """Where a new selection volume goes (Å): in a row of its own under the clicked image's volume and
        the images beside it (the first at one volume's height, the next added one below it, …);
        ``box_A``: a box's width in Å."""
        rows = sum(role(layer) == "selection volume" for layer in self.viewer.layers)
        replacing = rows and self.replace()
        return (0.0, SPACING * box_A * (rows if replacing else rows + 1), 0.0)

    def volumes(self) -> dict[str, tuple[np.ndarray, float]]:
        """Every decoded 3D layer in the viewer: file-safe name -> (volume as decoded, not its display copy;
        voxel size Å)."""
        return {layer.name.replace(" ", "_").replace("(", "").replace(")", ""):
                (np.asarray(layer.metadata.get("volume", layer.data)),
                 float(layer.metadata.get("apix", layer.scale[-1])))
                for layer in self.viewer.layers if role(layer) in VOLUME_ROLES}


def style(layer) -> None:
    """A volume layer's iso threshold and contrast limits from its data, for its rendering
    (:mod:`.volume_display`); one the user has changed since it was set here (``metadata[SET]``) stays
    as the user chose it."""
    data = np.asarray(layer.data)
    last = layer.metadata.setdefault(SET, {})
    for name, value in (("iso_threshold", iso_threshold(data)),
                        ("contrast_limits", contrast_limits(data, layer.rendering))):
        if name not in last or np.allclose(getattr(layer, name), last[name]):
            setattr(layer, name, value)
            last[name] = value
