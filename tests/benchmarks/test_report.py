"""Benchmark records (benchmarks/harness/report.py) name no path of the machine that wrote them."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "harness"))
import report  # noqa: E402


def test_portable_records_are_relative_to_the_repository_and_read_back():
    repo = report.REPO
    record = {"rows": [{"umap": str(repo / "benchmarks/work/x/umap.npy"), "n": 3}],
              "settings": {"structures_dir": repo.parent / "corpus/structures", "out": "elsewhere/x"},
              "command": ["/opt/py/bin/python", "-m", "napari_cryohype.cli", "/nonexistent-cryohype/a"]}
    assert not "/nonexistent-cryohype/a".startswith(f"{repo.parent}/")  # a path outside: left as it is
    out = report.portable(record, "/opt/py/bin/python")
    assert out == {"rows": [{"umap": "benchmarks/work/x/umap.npy", "n": 3}],
                   "settings": {"structures_dir": "../corpus/structures", "out": "elsewhere/x"},
                   "command": ["python", "-m", "napari_cryohype.cli", "/nonexistent-cryohype/a"]}
    assert repo / out["rows"][0]["umap"] == repo / "benchmarks/work/x/umap.npy"
    assert str(repo) not in repr(out)


def test_no_umap_plot_when_no_method_has_a_umap(tmp_path):
    """The results page links a UMAP plot only when one was written (a run with --umap-methods backproject
    has none)."""
    from report import plot_umaps

    rows = [{"size": 10, "umap": None, "method": "hyper"}]
    assert plot_umaps(rows, 10, tmp_path / "umap_10.png") is False
    assert not (tmp_path / "umap_10.png").exists()


def test_a_umap_plot_is_kept_when_its_latents_are_gone(tmp_path):
    """Rerun in a fresh clone (empty work folder), the report keeps the record's UMAP figure rather than
    failing on the missing ``umap.npy``, and makes none when there is no figure to keep."""
    from report import plot_umaps

    rows = [{"size": 10, "umap": str(tmp_path / "gone" / "umap.npy"), "labels_path": str(tmp_path / "l.npy"),
             "method": "hyper"}]
    png = tmp_path / "umap_10.png"
    assert plot_umaps(rows, 10, png) is False and not png.exists()
    png.write_bytes(b"figure of the record")
    assert plot_umaps(rows, 10, png) is True
    assert png.read_bytes() == b"figure of the record"


def test_cluster_scores_row_entries():
    """The latent clusters' scores reach the table row; a method without clusters adds nothing."""
    summary = {"fsc_auc": {"mean": 0.6, "std": 0.1}, "chamfer_A": {"mean": 1.5}, "iou": {"mean": 0.7}}
    row = report.cluster_scores({"summary": summary, "missing": [4]})
    assert row == {"clusters_fsc_auc_mean": 0.6, "clusters_fsc_auc_std": 0.1, "clusters_chamfer_A_mean": 1.5,
                   "clusters_viou_mean": 0.7, "clusters_unpaired": 1}
    assert report.cluster_scores(None) == {}
    refined = report.cluster_scores({"summary": summary, "missing": [], "structures_found": 7}, "classes_")
    assert refined == {"classes_fsc_auc_mean": 0.6, "classes_fsc_auc_std": 0.1, "classes_chamfer_A_mean": 1.5,
                       "classes_viou_mean": 0.7, "classes_unpaired": 0, "classes_structures_found": 7}


def test_latent_clusters_are_computed_once_and_shared(tmp_path, monkeypatch):
    """The clusters decoded for the label-free score and those of the ARI are one k-means, saved beside
    the latents; a second call reads it back instead of clustering again."""
    import numpy as np

    rng = np.random.default_rng(0)
    latents = tmp_path / "latents.npy"
    centres = 5.0 * np.eye(4)[:3]
    np.save(latents, np.concatenate([rng.normal(c, 0.1, (20, 4)) for c in centres]).astype(np.float32))
    first, _ = report.latent_clusters(latents, 3, seed=0)
    assert sorted(np.bincount(first)) == [20, 20, 20]
    labels = np.repeat(np.arange(3), 20)
    scores = report.latent_scores(latents, labels, 3, seed=0)   # clusters the plain coordinates too
    assert scores["ari"] == scores["ari_plain"] == 1.0

    def no_second_clustering(*_, **__):
        raise AssertionError("k-means ran again")

    monkeypatch.setattr(report, "kmeans", no_second_clustering)
    again, _ = report.latent_clusters(latents, 3, seed=0)
    np.testing.assert_array_equal(again, first)
    assert report.latent_scores(latents, labels, 3, seed=0)["ari_plain"] == 1.0


def test_the_table_counts_every_leg_of_a_resumed_training():
    """A training resumed once has the wall time of its last process only (100 s); the per-size table gives
    the loop's time over every leg, images x epochs / loop images/s (3000 x 20 / 100 = 600 s), as the
    scaling table does, and the process's wall time where there is no loop speed (backprojection)."""
    resumed = {"size": 10, "method": "hyper", "label": "resumed", "n_images": 3000, "epochs": 20,
               "wall_s": 100.0, "images_per_s": 600.0, "loop_images_per_s": 100.0, "peak_rss_mb": 900.0}
    bound = {"size": 10, "method": "backproject", "label": "bound", "n_images": 3000, "epochs": None,
             "wall_s": 7.0, "images_per_s": 428.6, "loop_images_per_s": None, "peak_rss_mb": 400.0}
    assert report.loop_seconds(resumed) == 600.0 and report.loop_seconds(bound) == 7.0
    lines = report.table([resumed, bound], 10).splitlines()
    assert "training loop (s)" in lines[0] and "wall" not in lines[0]
    cells = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in lines[2:]}
    column = lines[0].split(" | ").index("training loop (s)")
    assert cells["resumed"][column] == "600" and cells["bound"][column] == "7"


def test_parameter_counts_of_cryodrgn_weights_and_none_for_backprojection(tmp_path):
    import torch
    torch.save({"epoch": 3, "model_state_dict": {"a.weight": torch.zeros(4, 3), "a.bias": torch.zeros(4),
                                                 "steps": torch.zeros((), dtype=torch.long)}}, tmp_path / "weights.pkl")
    assert report.parameter_count("cryodrgn_vae", tmp_path) == 16
    assert report.parameter_count("backproject", tmp_path) is None
    assert report.parameter_count("cryodrgn_vae", tmp_path / "missing") is None


def test_every_method_has_a_label():
    """A method without a label stopped a finished benchmark at its report (many_noise1, 7 December)."""
    from compare import ALL_METHODS

    assert set(ALL_METHODS) <= set(report.LABELS)
