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
    assert main(["analyze", str(run.path), "--no-umap", "--k", "3", "--per-cluster", "2"]) == 0
    out = run.analysis_dir
    clusters = np.load(out / "kmeans.npy")
    maps = sorted(p.name for p in (out / "clusters").iterdir())
    assert maps == [f"cluster_{c:03d}{end}.mrc" for c in range(3) for end in ("", "_centre")]
    volume, apix = read_volume(out / "clusters" / "cluster_001.mrc")
    assert volume.shape == (run.D,) * 3 and apix == pytest.approx(run.apix) and volume.std() > 0
    assert (out / "pca.png").read_bytes()[:4] == b"\x89PNG" and not (out / "umap.png").exists()
    index = (out / "index.md").read_text()
    for name in ("latents.npy", "pca.npy", "kmeans.npy", "pca.png", "clusters/cluster_NNN.mrc",
                 "clusters/cluster_NNN_centre.mrc", "checkpoints/last.pt"):
        assert f"`{name}`" in index
    for c, n in zip(*np.unique(clusters, return_counts=True)):
        assert f"| {c} | {n} |" in index
    assert str(out / "index.md") in capsys.readouterr().out

    # fewer clusters, no maps: the earlier maps (of other clusters) are removed, the index says none
    assert main(["analyze", str(run.path), "--no-umap", "--k", "2", "--no-volumes"]) == 0
    assert list((out / "clusters").iterdir()) == [] and "cluster_NNN" not in (out / "index.md").read_text()


def test_analyze_an_epoch_kept_during_training(run, capsys):
    assert main(["analyze", str(run.path), "--epoch", "1", "--no-umap", "--k", "2", "--no-volumes"]) == 0
    first = run.path / "analysis" / "epoch_001"
    assert "`checkpoints/epoch_001.pt`" in (first / "index.md").read_text()
    last = run.at_epoch(2)
    assert main(["analyze", str(run.path), "--epoch", "2", "--no-umap", "--k", "2", "--no-volumes"]) == 0
    assert not np.allclose(np.load(first / "latents.npy"), np.load(last.analysis_dir / "latents.npy"))
    capsys.readouterr()
    assert main(["analyze", str(run.path), "--epoch", "7"]) == 2
    assert "no checkpoint of epoch 7 (kept epochs: 1, 2)" in capsys.readouterr().err


def test_umap_plot_is_drawn_when_there_is_an_embedding(tmp_path, rng):
    np.save(tmp_path / "kmeans.npy", np.repeat(np.arange(4), 25))
    np.save(tmp_path / "pca.npy", rng.standard_normal((100, 5)).astype(np.float32))
    np.save(tmp_path / "umap.npy", rng.standard_normal((100, 2)).astype(np.float32))
    paths = analysis_outputs.write_plots(tmp_path, "run")
    assert set(paths) == {"pca_plot", "umap_plot"} and paths["umap_plot"].read_bytes()[:4] == b"\x89PNG"
