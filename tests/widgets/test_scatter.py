"""The scatter canvas under a (virtual) display: points, mouse lasso/box/click, pan and zoom, painting."""

import numpy as np
import pytest
from matplotlib.path import Path as MplPath
from qtpy.QtCore import QPoint, Qt

from napari_cryohype.widgets.scatter import ScatterCanvas, nice_ticks

pytestmark = pytest.mark.gui


@pytest.fixture
def scatter(qtbot):
    w = ScatterCanvas()
    w.resize(400, 360)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def _qpoint(w, xy):
    x, y = w.to_canvas(xy)
    return QPoint(int(round(x)), int(round(y)))


def test_mouse_lasso_selects_exactly_the_points_inside(scatter, qtbot, rng):
    xy = rng.uniform(-5, 5, size=(3000, 2)).astype(np.float32)
    scatter.set_data(xy)
    scatter.set_tool("lasso")
    picked = []
    scatter.selection_changed.connect(picked.append)
    # a pentagon drawn with the mouse, in data coordinates
    t = np.linspace(0, 2 * np.pi, 6)[:-1]
    corners = np.c_[3 * np.cos(t) + 0.5, 3 * np.sin(t) - 0.2]
    points = [_qpoint(scatter, c) for c in corners]
    qtbot.mousePress(scatter, Qt.MouseButton.LeftButton, pos=points[0])
    for p in points[1:]:
        qtbot.mouseMove(scatter, p)
    qtbot.mouseRelease(scatter, Qt.MouseButton.LeftButton, pos=points[-1])
    # the polygon the canvas used is the pixel-rounded mouse path mapped back to data coordinates
    polygon = np.array([scatter.to_data((p.x(), p.y())) for p in points])
    expected = np.flatnonzero(MplPath(polygon).contains_points(xy))
    assert len(expected) > 100
    np.testing.assert_array_equal(scatter.selection, expected)
    assert len(picked) == 1 and np.array_equal(picked[0], expected)


def test_a_lasso_closed_where_it_began_is_a_lasso_not_a_click(scatter, qtbot, rng):
    """People close their loops: the release lands on the press point, but the path went round."""
    xy = rng.uniform(-5, 5, size=(2000, 2)).astype(np.float32)
    scatter.set_data(xy)
    scatter.set_tool("lasso")
    clicked = []
    scatter.point_clicked.connect(clicked.append)
    start = xy[np.argmin(np.hypot(*(xy - (-3, -3)).T))]  # pressed on a point: a click would decode it
    corners = [start, start + (3, 0), start + (3, 3), start + (0, 3)]
    points = [_qpoint(scatter, c) for c in corners]
    qtbot.mousePress(scatter, Qt.MouseButton.LeftButton, pos=points[0])
    for p in points[1:] + [points[0]]:
        qtbot.mouseMove(scatter, p)
    qtbot.mouseRelease(scatter, Qt.MouseButton.LeftButton, pos=points[0])
    polygon = np.array([scatter.to_data((p.x(), p.y())) for p in points + [points[0]]])
    expected = np.flatnonzero(MplPath(polygon).contains_points(xy))
    assert clicked == [] and len(expected) > 20
    np.testing.assert_array_equal(scatter.selection, expected)


def test_box_add_subtract_and_click(scatter, qtbot):
    xy = np.array([[0, 0], [1, 1], [2, 2], [3, 3]], np.float32)
    scatter.set_data(xy)
    scatter.set_tool("box")
    qtbot.mousePress(scatter, Qt.MouseButton.LeftButton, pos=_qpoint(scatter, (-0.1, -0.1)))
    qtbot.mouseMove(scatter, _qpoint(scatter, (1.5, 1.5)))
    qtbot.mouseRelease(scatter, Qt.MouseButton.LeftButton, pos=_qpoint(scatter, (1.5, 1.5)))
    np.testing.assert_array_equal(scatter.selection, [0, 1])
    scatter.mode = "add"
    scatter.box((2.5, 2.5), (3.5, 3.5))
    np.testing.assert_array_equal(scatter.selection, [0, 1, 3])
    scatter.mode = "subtract"
    scatter.box((0.5, 0.5), (1.5, 1.5))
    np.testing.assert_array_equal(scatter.selection, [0, 3])

    clicked = []
    scatter.point_clicked.connect(clicked.append)
    scatter.set_tool("click")
    scatter.mode = "replace"
    qtbot.mouseClick(scatter, Qt.MouseButton.LeftButton, pos=_qpoint(scatter, (2.02, 1.98)))
    assert clicked == [2]
    np.testing.assert_array_equal(scatter.selection, [2])
    qtbot.mouseClick(scatter, Qt.MouseButton.LeftButton, pos=_qpoint(scatter, (0.5, 2.5)))  # empty area
    assert clicked == [2]


def test_pan_zoom_and_paint(scatter, qtbot):
    xy = np.array([[0, 0], [10, 10]], np.float32)
    colors = np.array([[1, 0, 0, 1], [0, 0, 1, 1]], np.float32)
    scatter.set_data(xy, colors)
    image = scatter.grab().toImage()
    red = image.pixelColor(_qpoint(scatter, (0, 0)))
    assert (red.red(), red.green(), red.blue()) == (255, 0, 0)
    x0 = scatter.view_rect.copy()
    scatter.set_tool("pan")
    start = QPoint(200, 150)
    qtbot.mousePress(scatter, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(scatter, QPoint(250, 150))
    qtbot.mouseRelease(scatter, Qt.MouseButton.LeftButton, pos=QPoint(250, 150))
    assert scatter.view_rect[0] < x0[0]  # dragging right moves the view left
    scatter.zoom_by(0.5)
    assert scatter.view_rect[2] == pytest.approx((x0[2]) * 0.5)
    qtbot.waitUntil(lambda: np.array_equal(scatter._image_rect, scatter.view_rect), timeout=2000)


def test_nice_ticks():
    np.testing.assert_allclose(nice_ticks(0.13, 0.92), [0.2, 0.4, 0.6, 0.8])
    np.testing.assert_allclose(nice_ticks(-10, 10), [-10, -5, 0, 5, 10])


def test_hover_reports_the_image_index(scatter, qtbot):
    xy = np.array([[0, 0], [1, 1], [2, 2]], np.float32)
    scatter.set_data(xy)
    hovered = []
    scatter.point_hovered.connect(hovered.append)
    qtbot.mouseMove(scatter, _qpoint(scatter, (1.01, 0.99)))
    qtbot.waitUntil(lambda: len(hovered) > 0, timeout=2000)
    assert hovered[-1] == 1


def _in_view(scatter) -> float:
    """The fraction of the points inside the view."""
    xy, (x0, y0, w, h) = scatter.index.xy, scatter.view_rect
    return float(((xy[:, 0] >= x0) & (xy[:, 0] <= x0 + w) & (xy[:, 1] >= y0) & (xy[:, 1] <= y0 + h)).mean())


def test_an_update_keeps_every_point_in_view_unless_the_user_zoomed(scatter, qtbot):
    """A UMAP update moved the clusters off the plot's edges until Reset view: an update now frames the
    points again, except after the user's own pan or zoom, which it keeps."""
    from qtpy.QtCore import QPointF
    from qtpy.QtGui import QWheelEvent

    scatter.set_data(np.array([[0, 0], [1, 1]], np.float32))
    scatter.set_data(np.array([[5, -3], [20, 9]], np.float32), reset_view=None)   # an update: moved points
    assert _in_view(scatter) == 1.0 and not scatter.user_moved_view

    centre = QPointF(200, 150)
    wheel = QWheelEvent(centre, scatter.mapToGlobal(centre), QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    scatter.wheelEvent(wheel)   # zoomed in by the user
    zoomed = scatter.view_rect.copy()
    assert scatter.user_moved_view and zoomed[2] < 15
    scatter.set_data(np.array([[50, 50], [60, 70]], np.float32), reset_view=None)
    np.testing.assert_array_equal(scatter.view_rect, zoomed)   # the user's view is kept
    scatter.reset_view()
    assert _in_view(scatter) == 1.0 and not scatter.user_moved_view

    # a click's jitter in the pan tool is no pan
    scatter.set_tool("pan")
    qtbot.mousePress(scatter, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(scatter, QPoint(101, 100))
    qtbot.mouseRelease(scatter, Qt.MouseButton.LeftButton, pos=QPoint(101, 100))
    assert not scatter.user_moved_view
    qtbot.mousePress(scatter, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(scatter, QPoint(160, 100))
    qtbot.mouseRelease(scatter, Qt.MouseButton.LeftButton, pos=QPoint(160, 100))
    assert scatter.user_moved_view
