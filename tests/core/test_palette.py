"""Category colours: every one of the 50 tells apart from every other, and the plots and the explorer agree."""

import numpy as np
import pytest
from matplotlib import colormaps

from napari_cryohype.core.analysis_outputs import _palette
from napari_cryohype.core.palette import LIGHTNESS, category_palette, srgb_to_lab


def test_lab_of_reference_colours():
    np.testing.assert_allclose(srgb_to_lab([1.0, 1.0, 1.0]), [100, 0, 0], atol=1e-3)
    np.testing.assert_allclose(srgb_to_lab([1.0, 0.0, 0.0]), [53.24, 80.09, 67.20], atol=0.02)
    np.testing.assert_allclose(srgb_to_lab([0.0, 0.0, 1.0]), [32.30, 79.19, -107.86], atol=0.02)


def test_fifty_categories_stay_apart_and_read_on_white():
    palette = category_palette(50)
    assert palette.shape == (50, 4) and palette.dtype == np.float32 and (palette[:, 3] == 1).all()
    np.testing.assert_allclose(palette[:10], colormaps["tab10"](np.arange(10)), atol=1e-6)   # the familiar ten first
    lab = srgb_to_lab(palette[:, :3])
    distance = np.linalg.norm(lab[:, None] - lab[None], axis=-1) + np.diag(np.full(50, np.inf))
    # the former tab10 + tab20b + tab20c palette: 4.6 (categories 0 and 30 alike), 14 between 10 and 11
    assert distance.min() > 20
    assert (lab[10:, 0] >= LIGHTNESS[0] - 1e-6).all() and (lab[10:, 0] <= LIGHTNESS[1] + 1e-6).all()
    np.testing.assert_array_equal(category_palette(50), palette)   # deterministic
    with pytest.raises(ValueError):
        palette[0, 0] = 0.5   # shared: nobody changes it


def test_plots_and_explorer_colour_a_cluster_alike():
    from napari_cryohype.widgets.colors import category_colors

    np.testing.assert_array_equal(_palette(120), category_colors(np.arange(120)))
