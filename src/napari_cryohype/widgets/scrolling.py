"""Docked widgets that fit a laptop screen: their contents in a scroll area that fills them, and a dock
that asks for no more width than it needs, so that napari's canvas keeps the rest."""

from __future__ import annotations

from qtpy.QtCore import QSize
from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget


#: the width (pixels) a dock asks for, unless its contents need more: napari's default window is 1089 px
#: wide, and the canvas beside the dock shows the decoded volumes
DOCK_WIDTH = 360


class _ScrollArea(QScrollArea):
    """A scroll area that asks for its contents' full height (Qt's caps its wish at 24 lines of text), so a
    dock gets its natural height where there is room, and scrolls only where there is not; and for
    :data:`DOCK_WIDTH`, or the contents' minimum width where that is more."""

    def sizeHint(self) -> QSize:
        content = self.widget()
        if content is None:
            return super().sizeHint()
        hint = content.sizeHint()
        return QSize(min(hint.width(), max(DOCK_WIDTH, content.minimumSizeHint().width())), hint.height())


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
