"""What `cryohype analyze` writes besides the arrays: plots, cluster maps, the index; and --epoch."""

import numpy as np
import pytest

from napari_cryohype.cli import main
from napari_cryohype.core import analysis_outputs
from napari_cryohype.core.io.mrc import read_volume
from tests.core.mixture_data import trained_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return trained_run(tmp_path_factory.mktemp("analyse"), epochs=2, checkpoint_every_epoch=True)


def test_analyze_writes_plots_cluster_maps_and_an_index(run, capsys):
    assert main(["analyze", str(run.path), "--no-umap", "--k", "3", "--per-cluster", "2", "--threads", "1"]) == 0
    out = run.analysis_dir
    seeds, clusters = np.load(out / "kmeans.npy"), np.load(out / "classes.npy")   # the classes keep the seeds' ids
    assert np.unique(seeds).size == 3 and set(np.unique(clusters)) <= set(range(3))
    maps = sorted(p.name for p in (out / "clusters").iterdir())
    assert maps == [f"cluster_{c:03d}{end}.mrc" for c in np.unique(clusters) for end in ("", "_centre")]
    volume, apix = read_volume(out / "clusters" / maps[0])
    assert volume.shape == (run.D,) * 3 and apix == pytest.approx(run.apix) and volume.std() > 0
    assert (out / "pca.png").read_bytes()[:4] == b"\x89PNG" and not (out / "umap.png").exists()
    index = (out / "index.md").read_text()
    margin = np.load(out / "class_margin.npy")
    assert margin.shape == clusters.shape and margin.dtype == np.float32 and (margin >= 0).all() and margin.max() > 0
    for name in ("latents.npy", "pca.npy", "kmeans.npy", "classes.npy", "class_margin.npy", "pca.png", "clusters/cluster_NNN.mrc",
                 "clusters/cluster_NNN_centre.mrc", "checkpoints/last.pt"):
        assert f"`{name}`" in index
    for c, n in zip(*np.unique(clusters, return_counts=True)):
        assert f"| {c} | {n} |" in index
    assert "k = 3, as given (--k)." in index and not (out / "k_choice.csv").exists()
    assert str(out / "index.md") in capsys.readouterr().out
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    # again, k chosen from the data, no maps: a folder of its own, the first analysis untouched
    assert main(["analyze", str(run.path), "--no-umap", "--no-volumes"]) == 0
    again = run.path / "analysis-2"
    printed = capsys.readouterr()
    assert f"this one goes to {again}" in printed.err and str(again / "index.md") in printed.out
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    k = np.unique(np.load(again / "kmeans.npy")).size
    index = (again / "index.md").read_text()
    assert f"k = {k}, chosen from the data" in index and "`k_choice.png`" in index and "cluster_NNN" not in index
    assert (again / "k_choice.png").read_bytes()[:4] == b"\x89PNG" and not (again / "clusters").exists()
    assert main(["analyze", str(run.path), "--no-umap", "--no-volumes", "--k", "2"]) == 0
    assert (run.path / "analysis-3" / "index.md").is_file()
    with pytest.raises(SystemExit):   # argparse refuses it
        main(["analyze", str(run.path), "--threads", "many"])


def test_analyze_an_epoch_kept_during_training(run, capsys):
    assert main(["analyze", str(run.path), "--epoch", "1", "--no-umap", "--k", "2", "--no-volumes"]) == 0
    first = run.path / "analysis" / "epoch_001"
    assert "`checkpoints/epoch_001.pt`" in (first / "index.md").read_text()
    assert main(["analyze", str(run.path), "--epoch", "1", "--no-umap", "--k", "2", "--no-volumes"]) == 0
    assert (run.path / "analysis" / "epoch_001-2" / "index.md").is_file()
    last = run.at_epoch(2)
    assert main(["analyze", str(run.path), "--epoch", "2", "--no-umap", "--k", "2", "--no-volumes"]) == 0
    assert not np.allclose(np.load(first / "latents.npy"), np.load(last.analysis_dir / "latents.npy"))
    capsys.readouterr()
    assert main(["analyze", str(run.path), "--epoch", "7"]) == 2
    assert "no checkpoint of epoch 7 (kept epochs: 1, 2)" in capsys.readouterr().err


def test_new_analysis_folders_never_reuse_one_that_holds_an_analysis(tmp_path):
    base = tmp_path / "analysis"
    assert analysis_outputs.new_analysis_dir(base) == base
    (base / "epoch_001").mkdir(parents=True)          # an epoch's analysis inside: analysis/ itself is free
    (base / "epoch_001" / "index.md").write_text("x")
    assert analysis_outputs.new_analysis_dir(base) == base and analysis_outputs.analysis_folders(base) == []
    (base / "latents.npy").write_text("x")
    assert analysis_outputs.new_analysis_dir(base) == tmp_path / "analysis-2"
    for name in ("analysis-2", "analysis-10"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "index.md").write_text("x")
    assert analysis_outputs.new_analysis_dir(base) == tmp_path / "analysis-3"
    assert analysis_outputs.analysis_folders(base) == [base, tmp_path / "analysis-2", tmp_path / "analysis-10"]


def test_latest_umap_is_the_newest_of_the_right_length(tmp_path):
    base = tmp_path / "analysis"
    for name, n in (("analysis", 10), ("analysis-2", 10), ("analysis-3", 7)):
        (tmp_path / name).mkdir()
        np.save(tmp_path / name / "latents.npy", np.zeros((n, 2)))
        np.save(tmp_path / name / "umap.npy", np.full((n, 2), float(name[-1] == "2")))
    assert analysis_outputs.latest_umap(base, 10).max() == 1.0     # analysis-2's; analysis-3 has 7 points
    assert analysis_outputs.latest_umap(base, 5) is None


def test_cluster_numbers_do_not_overlap(tmp_path, rng):
    # 40 clusters crowded into one corner, two of them far away: every number placed, no two boxes overlapping
    anchors = np.concatenate([0.05 + 0.02 * rng.random((40, 2)), [[0.9, 0.9], [0.5, 0.5]]])
    size = (0.05, 0.035)
    places = analysis_outputs.place_labels(anchors, size)
    assert all(p is not None for p in places)
    xy = np.array(places)
    gap_x = np.abs(xy[:, None, 0] - xy[None, :, 0]) >= size[0] - 1e-9
    gap_y = np.abs(xy[:, None, 1] - xy[None, :, 1]) >= size[1] - 1e-9
    assert (gap_x | gap_y | np.eye(len(xy), dtype=bool)).all()
    assert np.allclose(xy[-2:], anchors[-2:])                      # a free place keeps its anchor
    assert ((xy >= np.array(size) / 2 - 1e-9) & (xy <= 1 - np.array(size) / 2 + 1e-9)).all()   # inside
    assert analysis_outputs.place_labels(np.full((400, 2), 0.5), (0.3, 0.3), rings=2).count(None) > 0


def test_umap_plot_is_drawn_when_there_is_an_embedding(tmp_path, rng):
    np.save(tmp_path / "kmeans.npy", np.repeat(np.arange(4), 25))
    np.save(tmp_path / "pca.npy", rng.standard_normal((100, 5)).astype(np.float32))
    np.save(tmp_path / "umap.npy", rng.standard_normal((100, 2)).astype(np.float32))
    paths = analysis_outputs.write_plots(tmp_path, "run")
    assert set(paths) == {"pca_plot", "umap_plot"} and paths["umap_plot"].read_bytes()[:4] == b"\x89PNG"
