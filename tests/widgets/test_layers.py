"""How the explorer's volumes are drawn (Placement on napari's viewer model, without Qt): display copies,
linear interpolation, additive blending, colour by role, iso level and contrast limits per rendering."""

import numpy as np
import pytest

from napari_cryohype.widgets.layers import Placement


@pytest.fixture
def placement():
    from napari.components import ViewerModel

    return Placement(ViewerModel(), apix=lambda: 4.0, replace=lambda: True, rendering=lambda: "attenuated_mip")


def molecule(D: int = 24, height: float = 10.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vol = rng.normal(0, 0.5, (D,) * 3).astype(np.float32)
    vol[8:16, 8:16, 8:16] += height
    return vol


def limits(layer, rendering: str) -> tuple[float, float]:
    """What the limits should be: from the median to the maximum, or to 3x the iso level's height for iso."""
    data = np.asarray(layer.data)
    low = float(np.median(data))
    level = data.mean() + 3 * data.std()
    return (low, low + 3 * (level - low)) if rendering == "iso" else (low, float(data.max()))


def test_a_volume_is_drawn_smooth_from_its_display_copy_and_exported_as_decoded(placement):
    vol = molecule()
    layer = placement.put(vol, "decoded volume 1", "decoded volume", 3)
    assert layer.data.shape == (72, 72, 72) and tuple(layer.scale) == pytest.approx((4.0 / 3,) * 3)
    assert layer.interpolation3d == "linear" and layer.blending == "additive" and layer.colormap.name == "gray"
    assert tuple(layer.contrast_limits) == pytest.approx(limits(layer, "attenuated_mip"), rel=1e-5)
    assert layer.iso_threshold == pytest.approx(limits(layer, "iso")[1] / 3, rel=0.02)
    (name, (exported, apix)), = placement.volumes().items()
    assert name == "decoded_volume_1" and np.array_equal(exported, vol) and apix == 4.0


def test_the_true_map_is_cyan_and_iso_shades_every_volume(placement):
    decoded = placement.put(molecule(), "decoded volume 1", "decoded volume", 3)
    truth = placement.put(molecule(height=20, seed=1), "true map 000_X", "true map", 3, translate=(0, 0, -110.4))
    assert truth.colormap.name == "cyan" and truth.blending == "additive" and truth.interpolation3d == "linear"
    placement.set_rendering("iso")
    for layer in (decoded, truth):
        data = np.asarray(layer.data)
        assert layer.rendering == "iso"
        assert layer.iso_threshold == pytest.approx(data.mean() + 3 * data.std(), rel=1e-5)
        assert tuple(layer.contrast_limits) == pytest.approx(limits(layer, "iso"), rel=1e-5)
    truth.rendering = "mip"                       # napari's own layer controls: the limits follow
    assert tuple(truth.contrast_limits) == pytest.approx(limits(truth, "mip"), rel=1e-5)


def test_the_empty_layer_a_click_fills_gets_the_volume_and_its_settings(placement):
    ready = placement.volume(np.zeros((24,) * 3, np.float32), "ready", "decoded volume (ready)", visible=False)
    assert ready.data.shape == (72, 72, 72) and tuple(ready.contrast_limits) == (0.0, 1.0)
    vol = molecule()
    placement.set_rendering("iso")
    layer = placement.fill(ready, vol, "decoded volume 2", "decoded volume")
    assert layer is ready and layer.visible and np.array_equal(layer.metadata["volume"], vol)
    assert tuple(layer.contrast_limits) == pytest.approx(limits(layer, "iso"), rel=1e-5)
