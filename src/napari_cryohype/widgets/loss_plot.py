"""A light live loss curve: a QPainter polyline of (step, loss) on a log-scaled y axis; no OpenGL, no
matplotlib. Adding a point costs an append; the widget repaints at most once per event-loop pass."""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtGui import QColor, QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QWidget


class LossCurve(QWidget):
    """Training loss per step (thin line) and per epoch (dots)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumHeight(100)
        self.steps: list[tuple[int, float]] = []
        self.epochs: list[tuple[int, float]] = []

    def clear(self) -> None:
        self.steps.clear()
        self.epochs.clear()
        self.update()

    def add_step(self, global_step: int, loss: float) -> None:
        if np.isfinite(loss) and loss > 0:
            self.steps.append((global_step, loss))
            self.update()

    def add_epoch(self, global_step: int, loss: float) -> None:
        if np.isfinite(loss) and loss > 0:
            self.epochs.append((global_step, loss))
            self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("white"))
        area = QRectF(46, 8, max(self.width() - 56, 1), max(self.height() - 30, 1))
        p.setPen(QPen(QColor(120, 120, 120), 1))
        p.drawRect(area)
        font = p.font()
        font.setPointSizeF(7.5)
        p.setFont(font)
        if not self.steps:
            p.drawText(area, Qt.AlignmentFlag.AlignCenter, "loss appears here while training")
            p.end()
            return
        pts = np.array(self.steps, dtype=np.float64)
        stride = max(1, len(pts) // max(int(area.width()), 1))
        pts = pts[::stride]
        x_lo, x_hi = 0.0, max(pts[-1, 0], 1.0)
        logs = np.log10(pts[:, 1])
        y_lo, y_hi = float(logs.min()), float(logs.max())
        if y_hi - y_lo < 1e-6:
            y_lo, y_hi = y_lo - 0.5, y_hi + 0.5

        def to_px(step, log_loss):
            return QPointF(area.left() + (step - x_lo) / (x_hi - x_lo) * area.width(),
                           area.bottom() - (log_loss - y_lo) / (y_hi - y_lo) * area.height())

        p.setPen(QPen(QColor(70, 110, 200), 1))
        p.drawPolyline(QPolygonF([to_px(s, v) for s, v in zip(pts[:, 0], logs)]))
        p.setPen(QPen(QColor(220, 90, 20), 1))
        p.setBrush(QColor(220, 90, 20))
        for s, v in self.epochs:
            p.drawEllipse(to_px(s, np.log10(v)), 3, 3)
        p.setPen(QColor(40, 40, 40))
        for value in (y_lo, y_hi):
            y = to_px(0, value).y()
            p.drawText(QRectF(0, y - 7, 42, 14), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       f"{10 ** value:.3g}")
        p.drawText(QRectF(area.left(), area.bottom() + 2, area.width(), 14), Qt.AlignmentFlag.AlignHCenter,
                   f"step (0 – {int(x_hi)})   ·   loss, log scale   ·   dots: epoch means")
        p.end()
