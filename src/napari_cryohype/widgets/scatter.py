"""A scatter plot of many points (1,000,000+) as a Qt widget, with pan/zoom and lasso, box and click picks.

The points of the visible area are painted into an RGBA image with numpy (:mod:`.raster`) and the widget
draws that image, the axes, the lasso and the focus ring with ``QPainter``. Pan and zoom move and scale
the existing image at once; the points are re-painted for the new view ~20 ms after the mouse rests.
Picking runs on :class:`~napari_cryohype.widgets.selection.PointIndex` (numpy, no Qt).

Why not an embedded vispy canvas (measured on this project's 2-core machine, Xvfb + llvmpipe):
one frame of 1,000,000 ``Markers`` takes ~2.5 s (100,000: ~0.3 s); a second OpenGL context docked in
napari fails with ``GLError: invalid value (glVertexAttribPointer)`` and then a segfault as soon as
its dock widget is floated (Qt re-creates the context of a re-parented ``QOpenGLWidget``), and a closed
canvas garbage-collected while another canvas draws crashes the shader compiler. A plain widget has
no GL context, so floating, re-docking and closing are ordinary Qt operations.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from qtpy.QtGui import QColor, QImage, QPainter, QPainterPath, QPen
from qtpy.QtWidgets import QSizePolicy, QToolTip, QWidget

from napari_cryohype.widgets.raster import pack_rgba, rasterize
from napari_cryohype.widgets.selection import PointIndex, as_selection, combine

TOOLS = ("pan", "lasso", "box", "click")
_CLICK_PIXELS = 4        # a press whose mouse path never leaves this radius is a click, not a drag
_PICK_PIXELS = 8         # hover and click find the nearest point within this many screen pixels
_LASSO_STEP_PIXELS = 3   # lasso vertices closer than this on screen are dropped while drawing
_MARGINS = (64, 8, 10, 36)  # left, top, right, bottom: room for tick labels and axis names


def point_radius(n: int) -> int:
    """Point radius in screen pixels for ``n`` points: smaller as the plot gets denser (0 = one pixel)."""
    return 3 if n <= 2_000 else 2 if n <= 20_000 else 1 if n <= 200_000 else 0


def nice_ticks(lo: float, hi: float, target: int = 5) -> np.ndarray:
    """Round tick positions (1, 2 or 5 x 10^k apart) inside [lo, hi]."""
    span = hi - lo
    if not np.isfinite(span) or span <= 0:
        return np.array([lo])
    raw = span / target
    mag = 10.0 ** np.floor(np.log10(raw))
    step = mag * min((s for s in (1, 2, 5, 10) if s * mag >= raw), default=10)
    return np.arange(np.ceil(lo / step), np.floor(hi / step) + 1) * step


class ScatterCanvas(QWidget):
    """A 2D scatter with axes; emits the picked indices.

    Signals: ``selection_changed(ndarray)`` (sorted int64 indices), ``point_clicked(int)`` (a click
    without drag near a point, in any tool), ``point_hovered(object)`` (index or None).
    Tools: ``pan`` (drag pans), ``lasso``, ``box``, ``click`` (click selects one point); the wheel zooms
    about the cursor and a right-button drag pans in every tool. :attr:`mode` ``replace``/``add``/
    ``subtract`` says how a new pick combines with the current selection. :attr:`user_moved_view` is True
    once the mouse has panned or zoomed since the view was last fitted to the points.
    """

    selection_changed = Signal(object)
    point_clicked = Signal(int)
    point_hovered = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setMinimumSize(240, 220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.tool = "pan"
        self.mode = "replace"
        self.x_label, self.y_label = "", ""
        self.legend: list[tuple[str, tuple]] = []   # (text, RGBA floats) drawn at the top right
        self.index = PointIndex(np.zeros((0, 2), np.float32))
        self.colors = np.zeros((0, 4), np.float32)
        self.selection = np.empty(0, dtype=np.int64)
        self.focus: int | None = None
        self.view_rect = np.array([0.0, 0.0, 1.0, 1.0])   # x0, y0, width, height in data units
        self.user_moved_view = False
        self._packed = np.zeros(0, np.uint32)
        self._drawn: np.ndarray | None = None            # (N,) bool: the rows with coordinates; None: all
        self._draw_order = np.zeros(0, np.int64)          # painting order: a fixed shuffle
        self._draw_xy = np.zeros((0, 2), np.float32)
        self._draw_packed = np.zeros(0, np.uint32)
        self._image: QImage | None = None
        self._image_buffer: np.ndarray | None = None        # keeps the QImage's memory alive
        self._image_rect = self.view_rect.copy()
        self._press_pos: np.ndarray | None = None
        self._press_button = None
        self._dragged = False   # the mouse left the click radius since the press
        self._pan_from: np.ndarray | None = None
        self._shape: list[np.ndarray] = []
        self._hover_pos: np.ndarray | None = None
        self._hover_timer = QTimer(self, singleShot=True, interval=40)
        self._hover_timer.timeout.connect(self._do_hover)
        self._paint_timer = QTimer(self, singleShot=True, interval=20)
        self._paint_timer.timeout.connect(self.repaint_points)

    # --- data -----------------------------------------------------------------------------------
    @property
    def n_points(self) -> int:
        return len(self.index)

    def set_data(self, xy: np.ndarray, colors: np.ndarray | None = None, *, reset_view: bool | None = True) -> None:
        """Show ``xy`` (N, 2) points with RGBA ``colors`` (N, 4) (floats in [0, 1] or uint8; default grey).
        Keeps the selection if it still fits. ``reset_view`` True fits the view to the points; None fits it
        unless the user has panned or zoomed since the last fit (:attr:`user_moved_view`); False keeps it.
        A row with a NaN is a point not drawn and never picked (an image with no latent yet)."""
        xy = np.ascontiguousarray(xy, dtype=np.float32)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise ValueError(f"scatter points must be (N, 2), got {xy.shape}")
        self.index = PointIndex(xy)
        drawn = np.isfinite(xy).all(axis=1)
        self._drawn = None if drawn.all() else drawn
        order = np.random.default_rng(0).permutation(len(xy))
        self._draw_order = order if self._drawn is None else order[drawn[order]]
        self._draw_xy = np.stack([xy[:, 0][self._draw_order], xy[:, 1][self._draw_order]], axis=1)
        if len(self.selection) and self.selection[-1] >= len(xy):
            self.selection = np.empty(0, dtype=np.int64)
        if self.focus is not None and self.focus >= len(xy):
            self.focus = None
        if reset_view or (reset_view is None and not self.user_moved_view):
            self.reset_view(repaint=False)
        self.set_colors(np.tile(np.array([[0.3, 0.3, 0.3, 0.8]], np.float32), (len(xy), 1))
                        if colors is None else colors)

    def set_colors(self, colors: np.ndarray) -> None:
        """Recolour the points: RGBA (N, 4), floats in [0, 1] or uint8."""
        if len(colors) != self.n_points:
            raise ValueError(f"{len(colors)} colours for {self.n_points} points")
        self.colors = np.asarray(colors)
        self._packed = pack_rgba(self.colors)
        self._draw_packed = self._packed[self._draw_order]
        self.repaint_points()

    def set_labels(self, x_label: str, y_label: str) -> None:
        """Axis names drawn under the x axis and beside the y axis."""
        self.x_label, self.y_label = x_label, y_label
        self.update()

    def set_legend(self, entries: list[tuple[str, tuple]]) -> None:
        """Legend entries (text, RGBA in [0, 1]) drawn in the plot's top-right corner; [] hides it."""
        self.legend = list(entries)
        self.update()

    # --- view -----------------------------------------------------------------------------------
    def plot_rect(self) -> QRectF:
        """The plotting area inside the axes, in widget pixels."""
        left, top, right, bottom = _MARGINS
        return QRectF(left, top, max(self.width() - left - right, 1), max(self.height() - top - bottom, 1))

    def reset_view(self, *, repaint: bool = True) -> None:
        """Fit the view to the points with a 5 % margin."""
        self.user_moved_view = False
        xy = self.index.xy if self._drawn is None else self.index.xy[self._drawn]
        if len(xy):
            lo = np.array([np.nanmin(xy[:, 0]), np.nanmin(xy[:, 1])], float)
            hi = np.array([np.nanmax(xy[:, 0]), np.nanmax(xy[:, 1])], float)
            pad = np.maximum((hi - lo) * 0.05, 1e-6)
            self.view_rect = np.array([lo[0] - pad[0], lo[1] - pad[1], hi[0] - lo[0] + 2 * pad[0],
                                       hi[1] - lo[1] + 2 * pad[1]])
        if repaint:
            self.repaint_points()

    def pan_by(self, dx_data: float, dy_data: float) -> None:
        """Move the view by a data-space offset; points are re-painted ~20 ms later."""
        self.view_rect[:2] += (dx_data, dy_data)
        self._view_changed()

    def zoom_by(self, factor: float, centre=None) -> None:
        """Zoom by ``factor`` (< 1 zooms in) about ``centre`` (data x, y; default the view's centre)."""
        x0, y0, w, h = self.view_rect
        cx, cy = (x0 + w / 2, y0 + h / 2) if centre is None else centre
        self.view_rect = np.array([cx - (cx - x0) * factor, cy - (cy - y0) * factor, w * factor, h * factor])
        self._view_changed()

    def _view_changed(self) -> None:
        self.update()
        self._paint_timer.start()

    def repaint_points(self) -> None:
        """Paint the points of the visible area into the image now (called ~20 ms after the view
        changes) and schedule a widget repaint."""
        self._paint_timer.stop()
        area = self.plot_rect()
        w, h = int(area.width()), int(area.height())
        sel = self.selection if self._drawn is None else self.selection[self._drawn[self.selection]]
        image = rasterize(self._draw_xy, self._draw_packed, self.view_rect, (h, w), point_radius(self.n_points),
                          selected_xy=self.index.xy[sel], selected_packed=self._packed[sel])
        self._image_buffer = np.ascontiguousarray(image[::-1])  # row 0 at the top for Qt
        self._image = QImage(self._image_buffer.data, w, h, 4 * w, QImage.Format.Format_RGBA8888)
        self._image_rect = self.view_rect.copy()
        self.update()

    # --- coordinates ----------------------------------------------------------------------------
    def to_canvas(self, xy) -> np.ndarray:
        """Data coordinates (x, y) -> widget pixel position (x, y)."""
        area = self.plot_rect()
        x0, y0, w, h = self.view_rect
        return np.array([area.left() + (xy[0] - x0) / w * area.width(),
                         area.bottom() - (xy[1] - y0) / h * area.height()])

    def to_data(self, pos) -> np.ndarray:
        """Widget pixel position (x, y) -> data coordinates (x, y)."""
        area = self.plot_rect()
        x0, y0, w, h = self.view_rect
        return np.array([x0 + (pos[0] - area.left()) / area.width() * w,
                         y0 + (area.bottom() - pos[1]) / area.height() * h])

    def pixels_per_unit(self) -> np.ndarray:
        """Screen pixels per data unit along x and y at the current zoom."""
        area = self.plot_rect()
        return np.array([area.width() / self.view_rect[2], area.height() / self.view_rect[3]])

    def nearest(self, pos) -> int | None:
        """The point within a few pixels of widget position ``pos``, or None."""
        return self.index.nearest(self.to_data(pos), _PICK_PIXELS, scale=self.pixels_per_unit())

    # --- selection ------------------------------------------------------------------------------
    def set_selection(self, indices: np.ndarray, *, emit: bool = True) -> None:
        """Replace the selection (indices into the points) and redraw it."""
        self.selection = as_selection(indices, self.n_points)
        self.repaint_points()
        if emit:
            self.selection_changed.emit(self.selection)

    def pick(self, picked: np.ndarray) -> None:
        """Combine freshly picked indices with the selection according to :attr:`mode`."""
        self.set_selection(combine(self.selection, picked, self.mode, self.n_points))

    def lasso(self, polygon: np.ndarray) -> np.ndarray:
        """Pick the points inside ``polygon`` (M, 2), data coordinates; returns them."""
        picked = self.index.in_polygon(polygon)
        self.pick(picked)
        return picked

    def box(self, corner_a, corner_b) -> np.ndarray:
        """Pick the points in the box spanned by two corners (data coordinates); returns them."""
        picked = self.index.in_box(corner_a, corner_b)
        self.pick(picked)
        return picked

    def show_focus(self, index: int | None) -> None:
        """Ring one point (the one being decoded), or remove the ring with None."""
        self.focus = index
        self.update()

    # --- mouse ----------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        """One of :data:`TOOLS`."""
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; expected one of {TOOLS}")
        self.tool = tool
        self.setCursor(Qt.CursorShape.OpenHandCursor if tool == "pan" else Qt.CursorShape.CrossCursor)

    def mousePressEvent(self, event) -> None:
        pos = np.array([event.position().x(), event.position().y()])
        self._press_pos, self._press_button, self._dragged = pos, event.button(), False
        if event.button() != Qt.MouseButton.LeftButton or self.tool == "pan":
            self._pan_from = pos
        elif self.tool in ("lasso", "box"):
            self._shape = [self.to_data(pos)]

    def mouseMoveEvent(self, event) -> None:
        pos = np.array([event.position().x(), event.position().y()])
        if self._press_pos is None:
            self._hover_pos = pos
            self._hover_timer.start()
            return
        self._dragged = self._dragged or bool(np.hypot(*(pos - self._press_pos)) >= _CLICK_PIXELS)
        if self._pan_from is not None:
            delta = (pos - self._pan_from) / self.pixels_per_unit()
            self._pan_from = pos
            self.user_moved_view = self.user_moved_view or self._dragged   # (not a click's jitter)
            self.pan_by(-delta[0], delta[1])
        elif self.tool == "lasso" and self._shape:
            if np.hypot(*(pos - self.to_canvas(self._shape[-1]))) >= _LASSO_STEP_PIXELS:
                self._shape.append(self.to_data(pos))
                self.update()
        elif self.tool == "box" and self._shape:
            self._shape = [self._shape[0], self.to_data(pos)]
            self.update()

    def mouseReleaseEvent(self, event) -> None:
        if self._press_pos is None:
            return
        pos = np.array([event.position().x(), event.position().y()])
        # decided by the whole path: a lasso closed where it began ends near its start, yet is no click
        is_click = not self._dragged and np.hypot(*(pos - self._press_pos)) < _CLICK_PIXELS
        left = self._press_button == Qt.MouseButton.LeftButton
        shape, self._shape = self._shape, []
        self._press_pos, self._pan_from = None, None
        if is_click and left:
            i = self.nearest(pos)
            if i is not None:
                if self.tool == "click":
                    self.pick(np.array([i]))
                self.point_clicked.emit(i)
        elif left and self.tool == "lasso" and len(shape) >= 3:
            self.lasso(np.array(shape))
        elif left and self.tool == "box" and shape:
            self.box(shape[0], self.to_data(pos))
        self.update()

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120
        pos = (event.position().x(), event.position().y())
        self.user_moved_view = True
        self.zoom_by(0.85**steps, self.to_data(pos))

    def leaveEvent(self, event) -> None:
        self._hover_timer.stop()
        QToolTip.hideText()

    def resizeEvent(self, event) -> None:
        self._paint_timer.start()

    def _do_hover(self) -> None:
        if self._hover_pos is None or self.n_points == 0:
            return
        i = self.nearest(self._hover_pos)
        self.point_hovered.emit(i)
        if i is None:
            QToolTip.hideText()
        else:
            x, y = self._hover_pos
            QToolTip.showText(self.mapToGlobal(QPointF(x + 12, y + 12).toPoint()), f"image {i}", self)

    # --- drawing --------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("white"))
        area = self.plot_rect()
        p.save()
        p.setClipRect(area)
        if self._image is not None:
            x0, y0, w, h = self._image_rect
            a, b = self.to_canvas((x0, y0 + h)), self.to_canvas((x0 + w, y0))
            p.drawImage(QRectF(a[0], a[1], b[0] - a[0], b[1] - a[1]), self._image)
        if self.focus is not None and np.isfinite(self.index.xy[self.focus]).all():
            c = self.to_canvas(self.index.xy[self.focus])
            p.setPen(QPen(QColor(230, 25, 25), 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawEllipse(QPointF(*c), 7, 7)
        if len(self._shape) >= 2:
            p.setPen(QPen(QColor(230, 25, 25), 1.5, Qt.PenStyle.DashLine))
            p.setBrush(QColor(230, 25, 25, 30))
            if self.tool == "box":
                a, b = self.to_canvas(self._shape[0]), self.to_canvas(self._shape[1])
                p.drawRect(QRectF(QPointF(*a), QPointF(*b)).normalized())
            else:
                path = QPainterPath(QPointF(*self.to_canvas(self._shape[0])))
                for v in self._shape[1:]:
                    path.lineTo(QPointF(*self.to_canvas(v)))
                path.closeSubpath()
                p.drawPath(path)
        p.restore()
        self._draw_axes(p, area)
        self._draw_legend(p, area)
        p.end()

    def _draw_legend(self, p: QPainter, area: QRectF) -> None:
        if not self.legend:
            return
        row = 13
        width = 12 + max(p.fontMetrics().horizontalAdvance(text) for text, _ in self.legend) + 20
        box = QRectF(area.right() - width - 4, area.top() + 4, width, row * len(self.legend) + 6)
        p.setPen(QPen(QColor(160, 160, 160), 1))
        p.setBrush(QColor(255, 255, 255, 215))
        p.drawRect(box)
        for i, (text, rgba) in enumerate(self.legend):
            y = box.top() + 3 + i * row
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor.fromRgbF(*(float(c) for c in rgba[:3]), 1.0))
            p.drawEllipse(QPointF(box.left() + 8, y + row / 2), 4, 4)
            p.setPen(QColor(30, 30, 30))
            p.drawText(QRectF(box.left() + 16, y, width - 18, row), Qt.AlignmentFlag.AlignVCenter, text)

    def _draw_axes(self, p: QPainter, area: QRectF) -> None:
        p.setPen(QPen(QColor(110, 110, 110), 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(area)
        font = p.font()
        font.setPointSizeF(7.5)
        p.setFont(font)
        x0, y0, w, h = self.view_rect
        for t in nice_ticks(x0, x0 + w):
            x = self.to_canvas((t, y0))[0]
            p.drawLine(QPointF(x, area.bottom()), QPointF(x, area.bottom() + 4))
            p.drawText(QRectF(x - 30, area.bottom() + 4, 60, 14), Qt.AlignmentFlag.AlignHCenter, f"{t:g}")
        for t in nice_ticks(y0, y0 + h):
            y = self.to_canvas((x0, t))[1]
            p.drawLine(QPointF(area.left() - 4, y), QPointF(area.left(), y))
            p.drawText(QRectF(18, y - 7, area.left() - 24, 14),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{t:g}")
        p.setPen(QColor(40, 40, 40))
        p.drawText(QRectF(area.left(), area.bottom() + 18, area.width(), 16), Qt.AlignmentFlag.AlignHCenter,
                   self.x_label)
        p.save()
        p.translate(10, area.center().y())
        p.rotate(-90)
        p.drawText(QRectF(-area.height() / 2, -8, area.height(), 16), Qt.AlignmentFlag.AlignHCenter, self.y_label)
        p.restore()
