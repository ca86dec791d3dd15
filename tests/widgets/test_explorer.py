"""Latent Explorer in a napari viewer: points, picks, UMAP and k-means workers, export, docking (decoding:
test_decoding.py; its jobs and failures: test_jobs.py)."""

import pickle

import numpy as np
import pytest

from napari_cryohype.widgets import export
from tests.widgets.conftest import clustered_latents

pytestmark = pytest.mark.gui


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
    np.testing.assert_allclose(explorer.axis_values("UMAP2"), explorer.data.pcs[:, 1] * 2)
    # new latents of the same images (training went on): the old layout stays up and seeds the new UMAP
    first = explorer.data.embedding.copy()
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
    np.save(analysis / "classes.npy", labels[::-1].copy())
    np.save(analysis / "class_margin.npy", np.linspace(0, 1, 36, dtype=np.float32))
    explorer.load_run(run_dir)
    assert not explorer.busy and explorer.scatter.n_points == 36
    assert explorer.x_axis.currentText() == "UMAP1"
    np.testing.assert_array_equal(explorer.axis_values("UMAP1"), z[:, 0])
    np.testing.assert_array_equal(explorer.data.clusters, labels)
    np.testing.assert_array_equal(explorer.data.classes, labels[::-1])
    assert explorer.data.labels is not None  # labels.npy beside the particles
    explorer.color_by.setCurrentText("class margin")   # each image's sureness, a colour and a range to select
    assert explorer.color_by.currentText() == "class margin"
    assert [text for text, _ in explorer.scatter.legend] == ["class margin 0.01", "class margin 0.99"]


def test_large_latents_get_their_pca_in_a_worker(explorer, wait_idle, monkeypatch):
    from napari_cryohype.widgets import explorer as explorer_module

    monkeypatch.setattr(explorer_module, "_SYNC_PCA_ENTRIES", 100)
    z, labels = clustered_latents(200)
    explorer.set_latents(z, labels=labels)
    assert explorer.busy
    wait_idle(explorer)
    assert explorer.scatter.n_points == 200 and explorer.data.pcs.shape == (200, 6)


def test_kmeans_colouring_runs_in_a_worker(explorer, wait_idle):
    z, labels = clustered_latents(150)
    explorer.set_latents(z)
    explorer.k_spin.setValue(3)
    explorer.color_by.setCurrentText("k-means")
    assert explorer.busy
    wait_idle(explorer)
    assert explorer.data.clusters.shape == (150,) and len(np.unique(explorer.data.clusters)) == 3
    # the three well separated clusters are found (up to renaming)
    pairs = set(zip(labels.tolist(), explorer.data.clusters.tolist()))
    assert len(pairs) == 3
    assert [text for text, _ in explorer.scatter.legend] == ["cluster 0", "cluster 1", "cluster 2"]


def test_subset_star_of_an_mrcs_and_pkl_run_carries_poses_and_ctf(explorer, wait_idle, tiny_run, tmp_path):
    """A run trained on .mrcs + .pkl files: the selection goes out as a .star that RELION (and our reader)
    reads, with each image's pose and CTF."""
    from napari_cryohype.core.io.dataset import ParticleDataset

    assert explorer.save_star(tmp_path / "none.star") == [] and "Select images" in explorer.status.text()
    explorer.load_run(tiny_run)
    wait_idle(explorer)
    chosen = np.array([3, 8, 20])
    explorer.set_selection(chosen)
    [path] = explorer.save_star(tmp_path / "subset.star")
    back, source = ParticleDataset(path, path, path), explorer.dataset
    np.testing.assert_array_equal(back.particles[np.arange(3)], source.particles[chosen])
    np.testing.assert_allclose(back.poses.rots, source.poses.rots[chosen], atol=1e-5)
    np.testing.assert_allclose(back.ctf, source.ctf[chosen], rtol=1e-5)
    assert "subset.star" in explorer.status.text()


def test_pose_angles_and_defocus_are_axes(explorer, tmp_path):
    """As cryoDRGN's filter: a latent coordinate against a pose angle or the defocus, and the selection
    drawn there works like anywhere else."""
    z, labels = clustered_latents(200)
    defocus, tilt = np.linspace(1e4, 3e4, 200), np.linspace(0, 180, 200)
    explorer.set_latents(z, labels=labels, covariates={"defocus (Å)": defocus, "pose tilt (°)": tilt})
    items = [explorer.x_axis.itemText(i) for i in range(explorer.x_axis.count())]
    assert items[-2:] == ["defocus (Å)", "pose tilt (°)"]
    explorer.x_axis.setCurrentText("pose tilt (°)")
    explorer.y_axis.setCurrentText("defocus (Å)")
    np.testing.assert_allclose(explorer.scatter.index.xy, np.stack([tilt, defocus], 1))
    assert (explorer.scatter.x_label, explorer.scatter.y_label) == ("pose tilt (°)", "defocus (Å)")
    explorer.scatter.set_tool("box")
    explorer.scatter.box((-1, 1e4 - 1), (90, 3e4 + 1))
    np.testing.assert_array_equal(explorer.selection, np.flatnonzero(tilt <= 90))
    explorer.set_latents(z + 0.01, labels=labels)  # new latents of the same images: the chosen axes stay
    assert explorer.x_axis.currentText() == "pose tilt (°)"


def test_training_shows_every_images_latents_at_the_first_epoch_then_every_few(explorer, tiny_run, monkeypatch):
    """Every image's latents (from the checkpoint) come at the first epoch's end, then every few epochs (the
    points within the first epoch: test_explorer_live.py)."""
    refreshed = []
    monkeypatch.setattr(explorer, "refresh_latents", lambda: refreshed.append(explorer._epochs_seen))
    explorer.follow_every.setValue(3)
    explorer.follow_training(tiny_run)
    for epoch in range(1, 8):
        explorer.training_epoch(epoch)
    assert refreshed == [1, 3, 6]


def test_new_latents_are_drawn_while_a_umap_runs_and_the_next_umap_waits_for_it(explorer, wait_idle, monkeypatch,
                                                                                qtbot):
    """While the first UMAP of a session compiles (tens of seconds), each new latents' PCA is drawn; one
    further UMAP follows, from the newest principal components, warm-started from the first; every update
    keeps all points in view."""
    import threading

    from napari_cryohype.core import analysis

    release, calls = threading.Event(), []

    def slow_umap(x, init=None, seed=0):   # stands in for the compiling UMAP (run in this process)
        calls.append((x.copy(), init))
        release.wait(30)
        return x[:, :2] * 10 + 100   # far from the PCA's place: the view must follow

    monkeypatch.setattr(analysis, "umap_embedding", slow_umap)
    explorer.auto_umap.setChecked(True)
    z, _ = clustered_latents(100)
    explorer.set_latents(z)
    first_pcs = explorer.scatter.index.xy.copy()
    qtbot.waitUntil(lambda: len(calls) == 1, timeout=30_000)   # the first UMAP is running (its thread started)
    for step in (1, 2):
        explorer.set_latents(z * (1 + step))   # new latents arrive while the UMAP runs: drawn at once
        assert explorer.x_axis.currentText() == "PC1"
        assert not np.allclose(explorer.scatter.index.xy, first_pcs)
    assert len(calls) == 1
    release.set()
    wait_idle(explorer)
    assert len(calls) == 2 and calls[0][1] is None
    np.testing.assert_allclose(calls[1][0], explorer.data.pcs)   # the newest principal components
    np.testing.assert_allclose(calls[1][1], calls[0][0][:, :2] * 10 + 100)   # from the first's layout
    assert explorer.x_axis.currentText() == "UMAP1"
    xy, (x0, y0, w, h) = explorer.scatter.index.xy, explorer.scatter.view_rect
    assert ((xy[:, 0] >= x0) & (xy[:, 0] <= x0 + w) & (xy[:, 1] >= y0) & (xy[:, 1] <= y0 + h)).all()


def test_one_click_then_whole_class_selects_the_clicked_images_class(explorer):
    """An analysis's classes colour the points by default (no labels) and name their legend; "Whole class"
    grows a selection to the class most of it belongs to, or to a true label when coloured by labels."""
    z, labels = clustered_latents(300)
    classes = (labels + 1) % 3 + 10     # other ids than the labels
    classes[:5] = 12                   # and not the same grouping
    explorer.set_latents(z, classes=classes)
    assert explorer.color_by.currentText() == "classes"
    assert [text for text, _ in explorer.scatter.legend] == ["class 10", "class 11", "class 12"]
    explorer.scatter.set_selection(np.array([7]))
    np.testing.assert_array_equal(explorer.select_group(), np.flatnonzero(classes == classes[7]))
    explorer.scatter.set_selection(np.array([0, 1, 250]))
    np.testing.assert_array_equal(explorer.select_group(), np.flatnonzero(classes == 12))
    explorer.set_latents(z, labels=labels, classes=classes)
    explorer.color_by.setCurrentText("true label")
    explorer.scatter.set_selection(np.array([0]))
    np.testing.assert_array_equal(explorer.select_group(), np.flatnonzero(labels == labels[0]))
    explorer.color_by.setCurrentText("none")
    explorer.scatter.set_selection(np.array([3]))
    np.testing.assert_array_equal(explorer.select_group(), [3])   # no categories: unchanged
