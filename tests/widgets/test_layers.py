"""How the explorer's volumes are drawn (Placement on napari's viewer model, without Qt): display copies,
linear interpolation, additive blending, colour by role, iso level and contrast limits per rendering, the
user's own settings kept when a new decode replaces a layer's data, the view framed on what is shown."""

import numpy as np
import pytest

from napari_cryohype.widgets.layers import Placement, camera
from napari_cryohype.widgets.volume_display import contrast_limits, iso_threshold


@pytest.fixture
def placement():
    from napari.components import ViewerModel

    return Placement(ViewerModel(), apix=lambda: 4.0, replace=lambda: True, rendering=lambda: "iso")


def molecule(D: int = 24, height: float = 10.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vol = rng.normal(0, 0.5, (D,) * 3).astype(np.float32)
    vol[8:16, 8:16, 8:16] += height
    return vol


def drawn_as_its_data_says(layer) -> bool:
    """The layer's iso level and contrast limits are those of its data, for its rendering."""
    data = np.asarray(layer.data)
    return (layer.iso_threshold == pytest.approx(iso_threshold(data), rel=1e-5)
            and tuple(layer.contrast_limits) == pytest.approx(contrast_limits(data, layer.rendering), rel=1e-5))


def test_a_volume_is_drawn_smooth_from_its_display_copy_and_exported_as_decoded(placement):
    vol = molecule()
    layer = placement.put(vol, "decoded volume 1", "decoded volume", 3)
    assert layer.data.shape == (72, 72, 72) and tuple(layer.scale) == pytest.approx((4.0 / 3,) * 3)
    assert layer.interpolation3d == "linear" and layer.blending == "additive" and layer.colormap.name == "gray"
    assert layer.rendering == "iso" and drawn_as_its_data_says(layer)
    (name, (exported, apix)), = placement.volumes().items()
    assert name == "decoded_volume_1" and np.array_equal(exported, vol) and apix == 4.0


def test_the_true_map_is_cyan_and_every_rendering_gets_its_limits(placement):
    decoded = placement.put(molecule(), "decoded volume 1", "decoded volume", 3)
    truth = placement.put(molecule(height=20, seed=1), "true map 000_X", "true map", 3, translate=(0, 0, -110.4))
    assert truth.colormap.name == "cyan" and truth.blending == "additive" and truth.interpolation3d == "linear"
    placement.set_rendering("attenuated_mip")
    for layer in (decoded, truth):
        assert layer.rendering == "attenuated_mip" and drawn_as_its_data_says(layer)
    truth.rendering = "mip"                       # napari's own layer controls: the limits follow
    assert drawn_as_its_data_says(truth)


def test_the_empty_layer_a_click_fills_gets_the_volume_and_its_settings(placement):
    ready = placement.volume(np.zeros((24,) * 3, np.float32), "ready", "decoded volume (ready)", visible=False)
    assert ready.data.shape == (72, 72, 72) and tuple(ready.contrast_limits) == (0.0, 1.0)
    vol = molecule()
    layer = placement.fill(ready, vol, "decoded volume 2", "decoded volume")
    assert layer is ready and layer.visible and np.array_equal(layer.metadata["volume"], vol)
    assert drawn_as_its_data_says(layer)


def test_a_new_decode_keeps_what_the_user_changed_and_updates_the_rest(placement):
    layer = placement.put(molecule(), "decoded volume 1", "decoded volume", 3)
    layer.iso_threshold = 2.5                     # the user's own level and colour (napari's layer controls)
    layer.colormap = "magma"
    layer = placement.put(molecule(height=20, seed=1), "decoded volume 2", "decoded volume", 3)
    assert layer.name == "decoded volume 2" and len(placement.viewer.layers) == 1
    assert layer.iso_threshold == 2.5 and layer.colormap.name == "magma"
    limits = contrast_limits(np.asarray(layer.data), "iso")
    assert tuple(layer.contrast_limits) == pytest.approx(limits, rel=1e-5)   # not changed: follows the map
    layer.rendering = "mip"                       # the user's rendering, then their contrast limits
    layer.contrast_limits = (1.0, 7.0)
    layer = placement.put(molecule(height=15, seed=2), "decoded volume 3", "decoded volume", 3)
    assert layer.rendering == "mip" and tuple(layer.contrast_limits) == pytest.approx((1.0, 7.0))
    assert layer.iso_threshold == 2.5


def test_the_view_frames_the_shown_layers_not_a_hidden_stack(placement):
    viewer = placement.viewer
    stack = viewer.add_image(np.zeros((400, 24, 24), np.float32), scale=(1.0, 4.0, 4.0))  # 400 Å deep
    placement.put(molecule(), "decoded volume 1", "decoded volume", 3)
    stack.visible = False
    placement.frame_all()
    centre = np.asarray(camera(viewer).center)
    assert centre == pytest.approx((47.3, 47.3, 47.3), abs=2.0)   # the volume's centre (Å), not the stack's


def test_the_explorer_hides_a_particle_stack_before_it_switches_to_3d(placement):
    from napari_cryohype.widgets.stacks import STACK

    viewer = placement.viewer
    stack = viewer.add_image(np.zeros((400, 24, 24), np.float32), scale=(1.0, 4.0, 4.0), metadata={STACK: True})
    placement.put(molecule(), "decoded volume 1", "decoded volume", 3)
    assert viewer.dims.ndisplay == 3 and not stack.visible
    assert stack._slice.image.view.size < stack.data.size   # never read whole (a large stack would take minutes)
    viewer.dims.ndisplay = 2                      # back in 2D: the particles to flip through
    assert stack.visible
