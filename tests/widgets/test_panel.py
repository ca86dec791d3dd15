"""`napari -w napari-cryohype` opens Train and Latent Explorer (one dock, two tabs), and the docks fit napari's
default window and a 1080 px screen."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.gui

# napari's own command line, `napari -w napari-cryohype`, with napari.run replaced by a look at the window
CLI = """
import sys
import napari
from napari.__main__ import _run

def look(**kwargs):
    viewer = napari.current_viewer()
    for name, widget in viewer.window.dock_widgets.items():
        print("dock:", name, type(widget).__name__, type(getattr(widget, "train", None)).__name__,
              type(getattr(widget, "explorer", None)).__name__, flush=True)

napari.run = look
sys.argv = ["napari", "-w", "napari-cryohype"]
_run()
"""


def test_napari_w_opens_train_and_latent_explorer(tmp_path):
    env = {**os.environ, "NAPARI_CONFIG": str(tmp_path / "napari.yaml")}
    done = subprocess.run([sys.executable, "-c", CLI], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    docks = [line for line in done.stdout.splitlines() if line.startswith("dock:")]
    assert done.returncode == 0 and docks == [
        "dock: Train and Latent Explorer (napari-cryohype) CryoHypePanel TrainWidget LatentExplorer"
    ], done.stdout + done.stderr[-3000:]


def test_the_panel_trains_into_its_own_explorer_and_opens_runs_there(make_napari_viewer, wait_idle, tiny_run):
    from napari_cryohype._reader import read_run_folder

    viewer = make_napari_viewer()
    _, panel = viewer.window.add_plugin_dock_widget("napari-cryohype", "Train and Latent Explorer")
    panel.explorer.auto_umap.setChecked(False)
    assert panel.train._explorer() is panel.explorer
    assert panel.tabs.currentWidget() is panel.train
    read_run_folder(str(tiny_run))
    wait_idle(panel.explorer)
    assert panel.explorer.scatter.n_points == 36
    assert panel.tabs.currentWidget() is panel.explorer   # a run's first points bring the Explore tab forward
    assert list(viewer.window.dock_widgets) == ["Train and Latent Explorer (napari-cryohype)"]  # no second one


@pytest.mark.parametrize("widgets", [["Train and Latent Explorer"], ["Train", "Latent Explorer"]])
def test_the_docked_widgets_fit_a_1080_px_screen(make_napari_viewer, qtbot, widgets):
    """Train and Latent Explorer stacked needed a 1429 px tall window; at 1920 x 1000 the canvas keeps most
    of the window and the widgets scroll."""
    viewer = make_napari_viewer(show=True)
    for name in widgets:
        viewer.window.add_plugin_dock_widget("napari-cryohype", name)
    window = viewer.window._qt_window  # private: the QMainWindow, for its size
    window.resize(1920, 1000)
    qtbot.wait(500)   # the docks' minimum heights are enforced by the layout, after the resize
    assert window.height() == 1000   # (was forced to 1424 without the scroll areas)
    canvas = viewer.window._qt_viewer.canvas.native
    assert canvas.width() >= 1000 and canvas.height() >= 900


def test_the_panel_fits_napari_s_default_window_without_scroll_bars(make_napari_viewer, qtbot):
    """At napari's default 1089 x 630 the dock was 556 px wide (the canvas kept 236 px) and both widgets
    scrolled. Now the dock is narrow, each tab fits its height, and the plot has most of the Explore tab."""
    from qtpy.QtWidgets import QScrollArea

    viewer = make_napari_viewer(show=True)
    _, panel = viewer.window.add_plugin_dock_widget("napari-cryohype", "Train and Latent Explorer")
    viewer.window._qt_window.resize(1089, 630)   # private: the QMainWindow, for its size
    qtbot.wait(500)
    canvas = viewer.window._qt_viewer.canvas.native
    assert panel.width() <= 400 and canvas.width() >= 400, (panel.width(), canvas.width())
    for tab in (panel.train, panel.explorer):
        panel.tabs.setCurrentWidget(tab)
        qtbot.wait(300)
        area = tab.findChild(QScrollArea)
        assert not area.verticalScrollBar().isVisible() and not area.horizontalScrollBar().isVisible(), tab
    assert panel.explorer.scatter.height() >= 200
    assert panel.train.loss_curve.height() >= 100
