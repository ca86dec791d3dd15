"""The Train and Latent Explorer widgets in one dock: what ``napari -w napari-cryohype`` opens (napari
opens a plugin's first widget when none is named), and where training finds the explorer it feeds."""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QSplitter, QVBoxLayout, QWidget

from napari_cryohype.widgets.explorer import LatentExplorer
from napari_cryohype.widgets.train import TrainWidget


class CryoHypePanel(QWidget):
    """Train above, Latent Explorer below, with a handle between them to share the height (npe2 widget
    contribution "Train and Latent Explorer"; takes the napari viewer). :attr:`train`, :attr:`explorer`."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.train = TrainWidget(napari_viewer)
        self.explorer = LatentExplorer(napari_viewer)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.train)
        splitter.addWidget(self.explorer)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([2, 3])   # in proportion: the explorer's scatter gets the larger part
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)


def find_explorer(viewer) -> LatentExplorer:
    """The viewer's Latent Explorer: the panel's when a panel is docked, else the "Latent Explorer" dock
    (opened if it is not)."""
    for widget in viewer.window.dock_widgets.values():
        if isinstance(widget, CryoHypePanel):
            return widget.explorer
    _, widget = viewer.window.add_plugin_dock_widget("napari-cryohype", "Latent Explorer")
    return widget
