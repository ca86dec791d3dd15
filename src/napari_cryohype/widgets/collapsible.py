"""A part of a dock widget that folds away under its title, so a narrow, short dock shows what is used most."""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QSizePolicy, QToolButton, QVBoxLayout, QWidget


class Collapsible(QWidget):
    """A title with an arrow over ``content``; clicking the title shows or hides the content.
    :attr:`expanded` says whether it shows; :meth:`set_expanded` sets it."""

    def __init__(self, title: str, content: QWidget, *, expanded: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        self.content = content
        self.header = QToolButton(text=title, checkable=True, checked=expanded)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setAutoRaise(True)
        self.header.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.header.toggled.connect(self.set_expanded)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addWidget(content)
        self.set_expanded(expanded)

    @property
    def expanded(self) -> bool:
        return self.header.isChecked()

    def set_expanded(self, expanded: bool) -> None:
        """Show (True) or hide the content."""
        self.header.blockSignals(True)
        self.header.setChecked(expanded)
        self.header.blockSignals(False)
        self.header.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.content.setVisible(expanded)
