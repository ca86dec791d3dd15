"""Decoding in the Latent Explorer: a click's volume and the layers beside it, a selection's volume, the
layer a first click fills, failures."""

import mrcfile
import numpy as np
import pytest

from napari_cryohype.widgets.layers import camera

pytestmark = pytest.mark.gui


def test_run_folder_click_decodes_a_volume(make_napari_viewer, qtbot, wait_idle, tiny_run, tmp_path, monkeypatch):
    from qtpy.QtCore import QPoint, Qt

    viewer = make_napari_viewer(show=True)  # a hidden viewer's screenshot is black under Xvfb
    viewer.open(str(tiny_run), plugin="napari-cryohype")   # the reader opens the explorer
    explorer = viewer.window.dock_widgets["Latent Explorer (napari-cryohype)"]
    explorer.auto_umap.setChecked(False)
    wait_idle(explorer)                                       # latents computed from the checkpoint
    assert explorer.scatter.n_points == 36
    assert explorer.data.labels is not None and explorer.color_by.currentText() == "true label"
    assert "defocus (Å)" in explorer.data.covariates
    loss = explorer.data.covariates["loss (per image)"]
    assert loss.shape == (36,) and np.all(loss > 0)

    target = 5
    x, y = explorer.scatter.to_canvas(explorer.scatter.index.xy[target])
    near = explorer.scatter.nearest((x, y))
    qtbot.mouseClick(explorer.scatter, Qt.MouseButton.LeftButton, pos=QPoint(int(round(x)), int(round(y))))
    wait_idle(explorer)
    vol = viewer.layers[f"decoded volume {near}"]
    assert vol.metadata["volume"].shape == (24, 24, 24) and vol.ndim == 3   # as decoded (and exported)
    assert vol.data.shape == (72, 72, 72)     # drawn from a copy 3x finer (.volume_display), same box in Å
    assert tuple(vol.scale) == pytest.approx((4.0 / 3,) * 3)
    assert viewer.layers[f"particle image {near}"].data.shape == (24, 24)
    assert viewer.layers[f"rendered projection {near}"].data.shape == (24, 24)
    truth = next(layer for layer in viewer.layers if layer.name.startswith("true map"))
    assert truth.colormap.name == "cyan" and vol.colormap.name == "gray"     # (settings: test_layers.py)
    assert truth.blending == vol.blending == "additive" and truth.interpolation3d == "linear"
    assert not _overlap(vol, truth) and truth.extent.world[1][-1] < vol.extent.world[0][-1]  # on its left
    assert viewer.dims.ndisplay == 3
    assert tuple(camera(viewer).angles) == pytest.approx((0.0, -30.0, 60.0))  # oblique: the volume looks 3D
    assert camera(viewer).center[-1] > 24 * 4.0  # framed with the images beside it, not on the volume alone

    shot = viewer.screenshot(canvas_only=True)
    assert shot.ndim == 3 and shot[..., :3].std() > 1.0, "the canvas with a decoded volume is blank"

    # a second click replaces the layers (default), "add layers" adds
    n_layers = len(viewer.layers)
    explorer.decode_index(7)
    wait_idle(explorer)
    assert len(viewer.layers) == n_layers and "decoded volume 7" in viewer.layers
    explorer.layer_mode.setCurrentText("add layers")
    explorer.decode_index(8)
    wait_idle(explorer)
    assert len(viewer.layers) > n_layers

    # the volume is in the viewer as the result arrives, and drawn before its other layers follow
    n_layers = len(viewer.layers)
    layers_at_draw = []
    canvas = viewer.window._qt_viewer.canvas  # private: napari has no public "drawn" event
    canvas.events.draw.connect(lambda event: layers_at_draw.append(len(viewer.layers)), position="last")
    blank = np.zeros((24, 24), np.float32)
    explorer.decoder.show_decoded({"index": 9, "volume": np.zeros((24, 24, 24), np.float32), "image": blank,
                            "projection": blank, "truth": None, "truth_name": None})
    assert "decoded volume 9" in viewer.layers and len(viewer.layers) == n_layers + 1 and explorer.busy
    wait_idle(explorer)
    assert {"particle image 9", "rendered projection 9"} <= {layer.name for layer in viewer.layers}
    assert layers_at_draw[0] == n_layers + 1, "the volume alone was never drawn"

    explorer.set_selection(np.arange(10))
    explorer.decode_selection()
    wait_idle(explorer)
    selected = viewer.layers["selection volume (10 images)"]
    assert selected.metadata["volume"].shape == (24, 24, 24) and selected.data.shape == (72, 72, 72)
    explorer.set_selection(np.arange(10, 20))
    explorer.decode_selection()                    # ("add layers" is on: a second one, placed apart too)
    wait_idle(explorer)
    for layer in (selected, viewer.layers["selection volume (10 images) [1]"]):
        others = [other for other in viewer.layers if other is not layer]
        assert not any(_overlap(layer, other) for other in others), f"{layer.name} lies on another layer"

    written = explorer.save_volumes(tmp_path / "vols")
    assert len(written) >= 3
    with mrcfile.open(written[0]) as mrc:
        assert mrc.data.shape == (24, 24, 24) and float(mrc.voxel_size.x) == pytest.approx(4.0)


def _overlap(a, b) -> bool:
    """Whether two layers' boxes overlap in y and x (what the 3D view shows side by side)."""
    ea, eb = np.asarray(a.extent.world)[:, -2:], np.asarray(b.extent.world)[:, -2:]
    return bool(np.all((ea[0] < eb[1]) & (eb[0] < ea[1])))


def test_the_3d_warm_up_finds_what_it_loads():
    """The explorer's warm-up (run in a worker, errors ignored there) must still find the modules of a first
    3D layer, and napari's unit registry (read afterwards on the UI thread); a napari upgrade that moves them
    shows up here."""
    from napari_cryohype.widgets.decoding import load_units, warm_up_3d

    warm_up_3d()
    load_units()


def test_a_failed_decode_removes_its_empty_layer_and_says_why(explorer, wait_idle, tiny_run, monkeypatch):
    from napari_cryohype.widgets import decoding

    def broken(*args):
        raise OSError("particles.mrcs: truncated stack")

    explorer.load_run(tiny_run)
    wait_idle(explorer)
    monkeypatch.setattr(decoding, "decode_one", broken)
    explorer.decode_index(3)
    assert [layer.name for layer in explorer.viewer.layers] == ["decoding image 3…"]  # at once, while it runs
    assert not explorer.viewer.layers[0].visible  # hidden until filled (an empty volume costs a full draw)
    wait_idle(explorer)
    assert len(explorer.viewer.layers) == 0
    assert "truncated stack" in explorer.status.text()


def test_loading_a_run_prepares_the_layer_a_click_fills(make_napari_viewer, qtbot, wait_idle, tiny_run):
    """The first click's napari layer (and its first volume draw) is made when the run loads: the click
    fills that layer. An empty viewer goes to 3D for it; the user's own 2D view is left as it is."""
    viewer = make_napari_viewer(show=True)  # drawn: the prepared layer's first draw is part of the point
    _, explorer = viewer.window.add_plugin_dock_widget("napari-cryohype", "Latent Explorer")
    explorer.auto_umap.setChecked(False)
    drawn_transparent = []
    canvas = viewer.window._qt_viewer.canvas  # private: napari has no public "drawn" event
    canvas.events.draw.connect(lambda event: drawn_transparent.extend(
        layer.name for layer in viewer.layers if layer.visible and layer.opacity == 0), position="last")
    explorer.load_run(tiny_run)
    wait_idle(explorer)   # busy until the prepared layer has been drawn once and hidden again
    assert [layer.name for layer in viewer.layers] == ["decoded volume (click a point)"]
    ready = viewer.layers[0]
    assert ready not in viewer.layers.selection  # a placeholder: not the layer whose controls are shown
    assert ready.data.shape == (72, 72, 72) and tuple(ready.scale) == pytest.approx((4.0 / 3,) * 3)
    assert viewer.dims.ndisplay == 3
    assert set(drawn_transparent) == {"decoded volume (click a point)"}
    assert not ready.visible and ready.opacity == 1
    explorer.load_run(tiny_run)                                 # one is enough
    wait_idle(explorer)
    assert len(viewer.layers) == 1

    explorer.decode_index(4)
    assert viewer.layers[0] is ready and ready.name == "decoding image 4…" and not ready.visible
    wait_idle(explorer)
    assert viewer.layers[0] is ready and ready.name == "decoded volume 4"
    assert ready.visible and ready.opacity == 1 and float(np.abs(ready.data).max()) > 0
    assert tuple(camera(viewer).angles) == pytest.approx((0.0, -30.0, 60.0))

    viewer.layers.clear()
    viewer.dims.ndisplay = 2
    viewer.add_image(np.zeros((5, 8, 8), np.float32), name="my stack")
    explorer.load_run(tiny_run)
    wait_idle(explorer)
    ready = viewer.layers["decoded volume (click a point)"]
    assert viewer.dims.ndisplay == 2 and not ready.visible   # not drawn: the user's view stays in 2D
    assert ready.opacity == 1   # its controls, when selected, show what a volume will be drawn with
    assert set(viewer.layers.selection) == {viewer.layers["my stack"]}
    explorer.decode_index(2)
    wait_idle(explorer)
    assert viewer.dims.ndisplay == 3 and viewer.layers["decoded volume 2"] is ready and ready.visible
    assert tuple(camera(viewer).angles) == pytest.approx((0.0, -30.0, 60.0))

    viewer.layers.clear()
    explorer.decode_on_click.setChecked(False)
    explorer.load_run(tiny_run)
    wait_idle(explorer)
    assert len(viewer.layers) == 0


def test_the_prepared_layer_waits_for_a_drag_to_end(explorer, qtbot, wait_idle, tiny_run, monkeypatch):
    """Making the layer holds the UI thread for a few hundred ms: never in the middle of a lasso or a pan."""
    from qtpy.QtCore import Qt

    from napari_cryohype.widgets import jobs

    buttons = [Qt.MouseButton.LeftButton]
    monkeypatch.setattr(jobs.QApplication, "mouseButtons", staticmethod(lambda: buttons[0]))
    explorer.load_run(tiny_run)
    qtbot.waitUntil(lambda: not explorer.jobs.workers, timeout=60_000)
    qtbot.wait(500)
    assert len(explorer.viewer.layers) == 0 and explorer.busy
    buttons[0] = Qt.MouseButton.NoButton
    wait_idle(explorer)
    assert [layer.name for layer in explorer.viewer.layers] == ["decoded volume (click a point)"]
