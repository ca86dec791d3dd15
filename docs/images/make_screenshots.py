"""Regenerate the user guide's screenshots from the running app (run under a virtual display):

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/images/make_screenshots.py [--epochs 20]

Opens the plugin's dock as ``napari -w napari-cryohype`` does (Train and Explore tabs), uses the sample
mixture (simulated into the user cache on first use), trains it with the Train widget's defaults (the
``many`` preset, 20 epochs), lets the Latent Explorer compute the UMAP, selects one cluster and decodes one
image by clicking it. Writes PNGs next to this file.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def wait(app, condition, timeout: float, what: str) -> None:
    t0 = time.time()
    while not condition():
        app.processEvents()
        time.sleep(0.02)
        if time.time() - t0 > timeout:
            raise TimeoutError(what)


def main() -> None:
    import napari
    from qtpy.QtCore import QPoint, Qt
    from qtpy.QtTest import QTest
    from qtpy.QtWidgets import QApplication

    from napari_cryohype.widgets.layers import camera

    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()

    viewer = napari.Viewer(show=True, title="napari-cryohype")
    viewer.window._qt_window.resize(1580, 980)
    app = QApplication.instance()
    _, panel = viewer.window.add_plugin_dock_widget("napari-cryohype", "Train and Latent Explorer")
    train, explorer = panel.train, panel.explorer
    explorer.follow_every.setValue(2)

    train.use_sample()
    wait(app, lambda: train.fields["particles"].text(), 120, "sample data")
    train.fields["outdir"].setText(str(Path(tempfile.mkdtemp()) / "sample-run"))
    train.epochs.setValue(args.epochs)
    train.batch_size.setValue(16)
    viewer.open(train.fields["particles"].text(), plugin="napari-cryohype")
    train.start()
    wait(app, lambda: sum(e.kind == "epoch" for e in train.events) >= 2, 900, "two epochs")
    wait(app, lambda: len(train.events) and train.events[-1].global_step % 13 == 5, 300, "mid-epoch")
    panel.tabs.setCurrentWidget(train)   # (the Explore tab came forward with the first points)
    for _ in range(5):
        app.processEvents()
    train.grab().save(str(HERE / "train-widget.png"))
    viewer.window._qt_window.grab().save(str(HERE / "training-window.png"))
    wait(app, lambda: train.worker is None, 1800, "training")
    wait(app, lambda: not explorer.busy, 600, "latents")
    explorer.compute_umap()
    wait(app, lambda: not explorer.busy, 600, "UMAP")
    explorer.color_by.setCurrentText("true label")

    # select the images of one true label with a lasso around them (what a user's drag does)
    label = int(np.bincount(explorer.data.labels).argmax())
    members = explorer.scatter.index.xy[explorer.data.labels == label]
    centre = np.median(members, axis=0)
    radius = np.percentile(np.linalg.norm(members - centre, axis=1), 80)
    t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    explorer.scatter.lasso(np.c_[centre[0] + radius * np.cos(t), centre[1] + radius * np.sin(t)])
    app.processEvents()

    # click one image of that label: decode it
    index = int(np.flatnonzero(explorer.data.labels == label)[0])
    x, y = explorer.scatter.to_canvas(explorer.scatter.index.xy[index])
    QTest.mouseClick(explorer.scatter, Qt.MouseButton.LeftButton, pos=QPoint(int(round(x)), int(round(y))))
    wait(app, lambda: not explorer.busy, 300, "decoding")
    for layer in viewer.layers:
        if layer.name == "particles":
            layer.visible = False
    viewer.reset_view()
    camera(viewer).angles = (0, -30, 60)  # as the explorer sets it on its first volume
    panel.tabs.setCurrentWidget(explorer)
    for _ in range(20):
        app.processEvents()
    explorer.grab().save(str(HERE / "explorer-widget.png"))
    viewer.window._qt_window.grab().save(str(HERE / "explorer-window.png"))
    print("events:", len(train.events), "last:", train.events[-1])
    print("selected:", len(explorer.selection), "decoded image:", index, "label:", label)
    viewer.close()


if __name__ == "__main__":
    main()
