"""Docked widgets that fit a laptop screen: their contents in a scroll area that fills them."""

from __future__ import annotations

from qtpy.QtCore import QSize
from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget


class _ScrollArea(QScrollArea):
    """A scroll area that asks for its contents' full size (Qt's caps its wish at 24 lines of text), so a
    dock gets its natural height where there is room, and scrolls only where there is not."""

    def sizeHint(self) -> QSize:
        return self.widget().sizeHint() if self.widget() is not None else super().sizeHint()


def scrolling_layout(widget: QWidget) -> QVBoxLayout:
    """The layout for ``widget``'s contents, which sit in a scroll area filling ``widget``: a dock can then
    be shorter than the contents (they scroll), and docks stacked beside napari's canvas fit a 1080 px
    screen. The scroll area wants vertical space, so napari adds no stretch under it."""
    content = QWidget()
    area = _ScrollArea(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(content)
    outer = QVBoxLayout(widget)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(area)
    return QVBoxLayout(content)
