"""The Train and Latent Explorer widgets in one dock: what ``napari -w napari-cryohype`` opens (napari
opens a plugin's first widget when none is named), and where training finds the explorer it feeds.

They are two tabs, so that each has the dock's whole height: napari's default window (1089 x 630) has room
for the training form or for the plot with its controls, not both. The Train tab's title shows the
progress while a run trains, and the Explore tab comes forward when a run's first points are drawn.
"""

from __future__ import annotations

from qtpy.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from napari_cryohype.widgets.explorer import LatentExplorer
from napari_cryohype.widgets.train import TrainWidget

TRAIN, EXPLORE = "Train", "Explore"


class CryoHypePanel(QWidget):
    """Train and Latent Explorer as tabs of one dock (npe2 widget contribution "Train and Latent Explorer";
    takes the napari viewer). :attr:`train`, :attr:`explorer`, :attr:`tabs`."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.train = TrainWidget(napari_viewer)
        self.explorer = LatentExplorer(napari_viewer)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.train, TRAIN)
        self.tabs.addTab(self.explorer, EXPLORE)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self._training = False
        self.train.running_changed.connect(self._running_changed)
        self.train.progress.valueChanged.connect(self._show_progress_in_title)
        self.explorer.first_points.connect(lambda: self.tabs.setCurrentWidget(self.explorer))

    def _running_changed(self, running: bool) -> None:
        self._training = running
        self._show_progress_in_title()

    def _show_progress_in_title(self, *_) -> None:
        """"Train · 35%" while a run trains, "Train" otherwise."""
        bar = self.train.progress
        running = self._training and bar.maximum() > 1
        percent = round(100 * (bar.value() - bar.minimum()) / max(bar.maximum() - bar.minimum(), 1))
        self.tabs.setTabText(0, f"{TRAIN} · {percent}%" if running else TRAIN)


def find_explorer(viewer) -> LatentExplorer:
    """The viewer's Latent Explorer: the panel's when a panel is docked, else the "Latent Explorer" dock
    (opened if it is not)."""
    for widget in viewer.window.dock_widgets.values():
        if isinstance(widget, CryoHypePanel):
            return widget.explorer
    _, widget = viewer.window.add_plugin_dock_widget("napari-cryohype", "Latent Explorer")
    return widget
