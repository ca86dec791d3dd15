"""Latent Explorer in a napari viewer: points, picks, decoding a click into 3D layers, export, docking."""

import pickle

import mrcfile
import numpy as np
import pytest

from napari_cryohype.widgets import export
from napari_cryohype.widgets.explorer import camera
from tests.widgets.conftest import clustered_latents

pytestmark = pytest.mark.gui


@pytest.fixture
def explorer(make_napari_viewer):
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget("napari-cryohype", "Latent Explorer")
    widget.auto_umap.setChecked(False)  # UMAP's first use compiles for ~40 s; tested in core
    return widget


def test_plain_latents_one_point_per_image_lasso_and_export(explorer, qtbot, tmp_path, monkeypatch):
    z, labels = clustered_latents(300)
    explorer.set_latents(z, labels=labels, covariates={"defocus (Å)": np.linspace(1e4, 2e4, 300)})
    assert explorer.scatter.n_points == 300
    assert explorer.x_axis.currentText() == "PC1" and explorer.color_by.currentText() == "true label"
    assert [text for text, _ in explorer.scatter.legend] == ["label 0", "label 1", "label 2"]
    # the lasso picks exactly the points of one cluster: a polygon around that cluster's points
    xy = explorer.scatter.index.xy
    members = np.flatnonzero(labels == 1)
    lo, hi = xy[members].min(0) - 0.2, xy[members].max(0) + 0.2
    others = np.flatnonzero(labels != 1)
    assert not ((xy[others] > lo) & (xy[others] < hi)).all(1).any(), "clusters overlap in PC1/PC2"
    explorer.scatter.set_tool("lasso")
    explorer.scatter.lasso(np.array([lo, (hi[0], lo[1]), hi, (lo[0], hi[1])]))
    np.testing.assert_array_equal(explorer.selection, members)
    assert explorer.count_label.text().startswith(f"{len(members)} of 300")

    paths = explorer.save_indices(tmp_path / "indices.pkl")
    with open(paths[0], "rb") as f:
        chosen = pickle.load(f)
    with open(paths[1], "rb") as f:
        rest = pickle.load(f)
    assert chosen.dtype == np.int64 and np.array_equal(chosen, members)
    np.testing.assert_array_equal(np.sort(np.concatenate([chosen, rest])), np.arange(300))

    # never overwrite without asking: "no" writes nothing, "yes" replaces
    explorer.invert_selection()
    monkeypatch.setattr(export, "confirm_overwrite", lambda paths, parent=None: False)
    assert explorer.save_indices(tmp_path / "indices.pkl") == []
    with open(tmp_path / "indices.pkl", "rb") as f:
        assert np.array_equal(pickle.load(f), members)
    monkeypatch.setattr(export, "confirm_overwrite", lambda paths, parent=None: True)
    explorer.save_indices(tmp_path / "indices.pkl")
    with open(tmp_path / "indices.pkl", "rb") as f:
        assert np.array_equal(pickle.load(f), others)

    written = explorer.save_arrays(tmp_path / "arrays")
    assert {p.name for p in written} == {"latents.npy", "pca.npy", "selection.npy"}
    np.testing.assert_array_equal(np.load(tmp_path / "arrays" / "latents.npy"), z)

    explorer.load_indices(tmp_path / "indices.pkl")
    np.testing.assert_array_equal(explorer.selection, others)
    picked = explorer.select_range("defocus (Å)", 1e4, 1.2e4)
    assert len(picked) == np.sum(np.linspace(1e4, 2e4, 300) <= 1.2e4)


def test_umap_worker_updates_axes(explorer, wait_idle, monkeypatch):
    from napari_cryohype.core import analysis

    # the real UMAP is tested in core; here only the worker plumbing (compile time would dominate)
    inits = []

    def fake_umap(x, init=None, seed=0):
        inits.append(init)
        return x[:, :2] * 2

    monkeypatch.setattr(analysis, "umap_embedding", fake_umap)
    z, labels = clustered_latents(100)
    explorer.auto_umap.setChecked(True)
    explorer.set_latents(z)
    wait_idle(explorer)
    assert explorer.x_axis.currentText() == "UMAP1"
    np.testing.assert_allclose(explorer.axis_values("UMAP2"), explorer.pcs[:, 1] * 2)
    # new latents of the same images (training went on): the old layout stays up and seeds the new UMAP
    first = explorer.embedding.copy()
    explorer.set_latents(z + 0.01)
    assert explorer.x_axis.currentText() == "UMAP1"
    wait_idle(explorer)
    assert inits[0] is None and np.array_equal(inits[1], first)


def test_float_and_redock_survives(explorer, qtbot):
    z, labels = clustered_latents(500)
    explorer.set_latents(z, labels=labels)
    dock = explorer.parentWidget()
    while dock is not None and not hasattr(dock, "setFloating"):
        dock = dock.parentWidget()
    for floating in (True, False, True, False):
        dock.setFloating(floating)
        qtbot.wait(50)
        assert dock.isFloating() == floating
        explorer.scatter.box((-100, -100), (100, 100))
        image = explorer.scatter.grab().toImage()
        assert image.width() > 100
    assert len(explorer.selection) == 500


def test_run_folder_click_decodes_a_volume(make_napari_viewer, qtbot, wait_idle, tiny_run, tmp_path, monkeypatch):
    from qtpy.QtCore import QPoint, Qt

    viewer = make_napari_viewer(show=True)  # a hidden viewer's screenshot is black under Xvfb
    viewer.open(str(tiny_run), plugin="napari-cryohype")   # the reader opens the explorer
    explorer = viewer.window.dock_widgets["Latent Explorer (napari-cryohype)"]
    explorer.auto_umap.setChecked(False)
    wait_idle(explorer)                                       # latents computed from the checkpoint
    assert explorer.scatter.n_points == 36
    assert explorer.labels is not None and explorer.color_by.currentText() == "true label"
    assert "defocus (Å)" in explorer.covariates
    loss = explorer.covariates["loss (per image)"]
    assert loss.shape == (36,) and np.all(loss > 0)

    target = 5
    x, y = explorer.scatter.to_canvas(explorer.scatter.index.xy[target])
    near = explorer.scatter.nearest((x, y))
    qtbot.mouseClick(explorer.scatter, Qt.MouseButton.LeftButton, pos=QPoint(int(round(x)), int(round(y))))
    wait_idle(explorer)
    vol = viewer.layers[f"decoded volume {near}"]
    assert vol.data.shape == (24, 24, 24) and vol.ndim == 3
    assert tuple(vol.scale) == pytest.approx((4.0, 4.0, 4.0))
    assert viewer.layers[f"particle image {near}"].data.shape == (24, 24)
    assert viewer.layers[f"rendered projection {near}"].data.shape == (24, 24)
    assert any(layer.name.startswith("true map") for layer in viewer.layers)
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
    explorer._show_decoded({"index": 9, "volume": np.zeros((24, 24, 24), np.float32), "image": blank,
                            "projection": blank, "truth": None, "truth_name": None})
    assert "decoded volume 9" in viewer.layers and len(viewer.layers) == n_layers + 1 and explorer.busy
    wait_idle(explorer)
    assert {"particle image 9", "rendered projection 9"} <= {layer.name for layer in viewer.layers}
    assert layers_at_draw[0] == n_layers + 1, "the volume alone was never drawn"

    explorer.set_selection(np.arange(10))
    explorer.decode_selection()
    wait_idle(explorer)
    selected = viewer.layers["selection volume (10 images)"]
    assert selected.data.shape == (24, 24, 24)
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


def test_finished_run_opens_from_its_analysis_without_a_model(explorer, tiny_run, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    (run_dir / "checkpoints" / "last.pt").unlink()  # nothing to compute with: the arrays must be used
    analysis = run_dir / "analysis"
    analysis.mkdir()
    z, labels = clustered_latents(36)
    np.save(analysis / "latents.npy", z)
    np.save(analysis / "umap.npy", z[:, :2])
    np.save(analysis / "kmeans.npy", labels)
    explorer.load_run(run_dir)
    assert not explorer.busy and explorer.scatter.n_points == 36
    assert explorer.x_axis.currentText() == "UMAP1"
    np.testing.assert_array_equal(explorer.axis_values("UMAP1"), z[:, 0])
    np.testing.assert_array_equal(explorer.clusters, labels)
    assert explorer.labels is not None  # labels.npy beside the particles


def test_large_latents_get_their_pca_in_a_worker(explorer, wait_idle, monkeypatch):
    from napari_cryohype.widgets import explorer as explorer_module

    monkeypatch.setattr(explorer_module, "_SYNC_PCA_ENTRIES", 100)
    z, labels = clustered_latents(200)
    explorer.set_latents(z, labels=labels)
    assert explorer.busy
    wait_idle(explorer)
    assert explorer.scatter.n_points == 200 and explorer.pcs.shape == (200, 6)


def test_kmeans_colouring_runs_in_a_worker(explorer, wait_idle):
    z, labels = clustered_latents(150)
    explorer.set_latents(z)
    explorer.k_spin.setValue(3)
    explorer.color_by.setCurrentText("k-means")
    assert explorer.busy
    wait_idle(explorer)
    assert explorer.clusters.shape == (150,) and len(np.unique(explorer.clusters)) == 3
    # the three well separated clusters are found (up to renaming)
    pairs = set(zip(labels.tolist(), explorer.clusters.tolist()))
    assert len(pairs) == 3
    assert [text for text, _ in explorer.scatter.legend] == ["cluster 0", "cluster 1", "cluster 2"]


def test_the_3d_warm_up_finds_what_it_loads():
    """The explorer's warm-up (run in a worker, errors ignored there) must still find napari's unit
    registry and the modules of a first 3D layer; a napari upgrade that moves them shows up here."""
    from napari_cryohype.widgets.explorer import _warm_up_3d

    _warm_up_3d()


def test_a_failed_decode_removes_its_empty_layer_and_says_why(explorer, wait_idle, tiny_run, monkeypatch):
    from napari_cryohype.widgets import explorer as explorer_module

    def broken(*args):
        raise OSError("particles.mrcs: truncated stack")

    explorer.load_run(tiny_run)
    wait_idle(explorer)
    monkeypatch.setattr(explorer_module, "_decode_one", broken)
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
    wait_idle(explorer)
    assert [layer.name for layer in viewer.layers] == ["decoded volume (click a point)"]
    ready = viewer.layers[0]
    assert ready not in viewer.layers.selection  # a placeholder: not the layer whose controls are shown
    assert ready.data.shape == (24, 24, 24) and tuple(ready.scale) == pytest.approx((4.0,) * 3)
    assert viewer.dims.ndisplay == 3
    qtbot.waitUntil(lambda: bool(drawn_transparent) and not ready.visible, timeout=5000)  # drawn once, then hidden
    assert set(drawn_transparent) == {"decoded volume (click a point)"} and ready.opacity == 1
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

    from napari_cryohype.widgets import explorer as explorer_module

    buttons = [Qt.MouseButton.LeftButton]
    monkeypatch.setattr(explorer_module.QApplication, "mouseButtons", staticmethod(lambda: buttons[0]))
    explorer.load_run(tiny_run)
    qtbot.waitUntil(lambda: not explorer._workers, timeout=60_000)
    qtbot.wait(500)
    assert len(explorer.viewer.layers) == 0 and explorer.busy
    buttons[0] = Qt.MouseButton.NoButton
    wait_idle(explorer)
    assert [layer.name for layer in explorer.viewer.layers] == ["decoded volume (click a point)"]


def test_the_status_line_names_the_jobs_still_running(explorer, qtbot, wait_idle):
    """A job that ends must not leave its name on the line while an older one is the one still running."""
    import threading

    release = {name: threading.Event() for name in ("model", "latents")}
    try:
        explorer._start(release["model"].wait, on_done=lambda _: None, what="Loading the model for decoding")
        explorer._start(release["latents"].wait, on_done=lambda _: None, what="Computing latents")
        assert explorer.status.text() == "Loading the model for decoding… · Computing latents…"
        release["latents"].set()
        qtbot.waitUntil(lambda: len(explorer._workers) == 1, timeout=10_000)
        assert explorer.status.text() == "Loading the model for decoding…"
    finally:  # a failed check must not leave workers waiting forever
        for event in release.values():
            event.set()
    wait_idle(explorer)
    assert explorer.status.text() == ""


def test_a_failure_toast_names_the_file_on_its_first_line(explorer, tmp_path, monkeypatch):
    """napari's toast shows the first line, elided: a long folder path cut the file's name off."""
    import napari.utils.notifications as notifications

    shown = []
    monkeypatch.setattr(notifications, "show_error", shown.append)
    run = tmp_path.joinpath(*[f"a-rather-long-folder-name-{i}" for i in range(6)], "run7")
    explorer._guard("Opening the run", lambda: explorer.load_run(run))
    first, full = shown[0].split("\n")
    assert first == "Opening the run failed: run7: not a CryoHype run folder (no config.json)"
    assert str(run) in full and str(run) in explorer.status.text()
