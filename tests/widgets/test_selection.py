"""The scatter's picking math (pure numpy): lasso, box and nearest point against references."""

import numpy as np
import pytest
from matplotlib.path import Path as MplPath

from napari_cryohype.widgets.raster import pack_rgba, rasterize
from napari_cryohype.widgets.selection import PointIndex, as_selection, combine, invert


@pytest.mark.parametrize("vertices", [3, 7, 60])
def test_lasso_matches_matplotlib(rng, vertices):
    xy = rng.normal(size=(5000, 2)).astype(np.float32)
    t = np.sort(rng.uniform(0, 2 * np.pi, vertices))
    r = rng.uniform(0.3, 2.0, vertices)  # a star-shaped, usually non-convex polygon
    polygon = np.c_[r * np.cos(t), r * np.sin(t)]
    expected = np.flatnonzero(MplPath(polygon).contains_points(xy))
    got = PointIndex(xy).in_polygon(polygon)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)


def test_self_intersecting_lasso_uses_even_odd_rule():
    xy = np.array([[0.3, 1.0], [1.7, 1.0], [1.0, 1.7], [1.0, 0.3]], np.float32)
    bowtie = np.array([[0, 0], [2, 2], [2, 0], [0, 2]], float)  # left and right triangles meeting at (1, 1)
    got = PointIndex(xy).in_polygon(bowtie)
    np.testing.assert_array_equal(got, [0, 1])
    np.testing.assert_array_equal(got, np.flatnonzero(MplPath(bowtie).contains_points(xy)))


def test_box_and_nearest(rng):
    xy = rng.uniform(0, 10, size=(2000, 2)).astype(np.float32)
    index = PointIndex(xy)
    got = index.in_box((7, 2), (3, 5))  # corners in any order
    expected = np.flatnonzero((xy[:, 0] >= 3) & (xy[:, 0] <= 7) & (xy[:, 1] >= 2) & (xy[:, 1] <= 5))
    np.testing.assert_array_equal(got, expected)
    target = np.array([4.2, 6.1])
    d = np.hypot(*(xy - target).T)
    assert index.nearest(target, 1.0) == int(np.argmin(d))
    assert index.nearest(target, d.min() * 0.99) is None
    # anisotropic scale: distances measured in "pixels" = data units * scale
    assert index.nearest(target, 10.0, scale=(10.0, 10.0)) == int(np.argmin(d))


def test_combine_and_invert():
    cur = np.array([1, 3, 5])
    np.testing.assert_array_equal(combine(cur, np.array([5, 2, 2]), "replace", 8), [2, 5])
    np.testing.assert_array_equal(combine(cur, np.array([2]), "add", 8), [1, 2, 3, 5])
    np.testing.assert_array_equal(combine(cur, np.array([3, 7]), "subtract", 8), [1, 5])
    np.testing.assert_array_equal(invert(cur, 7), [0, 2, 4, 6])
    np.testing.assert_array_equal(as_selection([4, 1, 4], 6), [1, 4])
    with pytest.raises(ValueError):
        combine(cur, cur, "xor", 8)


def test_rasterize_paints_points_and_selection_outline():
    xy = np.array([[0.5, 0.5], [9.5, 9.5]], np.float32)
    packed = pack_rgba(np.array([[1, 0, 0, 1], [0, 0, 1, 1]], np.float32))
    img = rasterize(xy, packed, (0, 0, 10, 10), (10, 10), 0, selected_xy=xy[1:], selected_packed=packed[1:])
    assert img.shape == (10, 10, 4)
    assert tuple(img[0, 0]) == (255, 0, 0, 255)     # row 0 is the bottom (y0)
    assert tuple(img[9, 9]) == (0, 0, 255, 255)
    assert tuple(img[8, 8]) == (0, 0, 0, 255)       # the selected point's outline
    assert img[5, 5, 3] == 0                         # transparent where there is no point
