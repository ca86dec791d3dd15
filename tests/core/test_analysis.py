"""Latent analysis: PCA, k-means, UMAP and the labels file."""

from types import SimpleNamespace

import numpy as np
import pytest

from napari_cryohype.core import analysis, k_choice
from napari_cryohype.core.errors import InputError


def clusters(rng: np.random.Generator, n_per: int = 60, k: int = 3, d: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """k well-separated Gaussian clusters in d dimensions, and their labels."""
    centres = rng.standard_normal((k, d)) * 10
    labels = np.repeat(np.arange(k), n_per)
    return (centres[labels] + rng.standard_normal((k * n_per, d))).astype(np.float32), labels


def test_pca_orders_components_and_caps_dimension(rng):
    x = rng.standard_normal((300, 150)) * np.linspace(10, 0.1, 150)
    pcs = analysis.pca(x)
    assert pcs.shape == (300, 100) and pcs.dtype == np.float32
    var = pcs.var(0)
    assert np.all(np.diff(var) <= 1e-3 * var[0]) and var[0] > 10 * var[-1]
    assert analysis.pca(x[:, :5]).shape == (300, 5)  # never more than d
    assert analysis.pca(x[:8]).shape == (8, 8)  # never more than N


def test_randomized_pca_agrees_with_full_on_the_leading_components(rng, monkeypatch):
    x = rng.standard_normal((400, 60)) * np.linspace(10, 0.1, 60)
    full = analysis.pca(x, n_components=3)
    monkeypatch.setattr(analysis, "_RANDOMIZED_ABOVE", 0)
    fast = analysis.pca(x, n_components=3)
    for a, b in zip(full.T, fast.T):
        assert abs(np.corrcoef(a, b)[0, 1]) > 0.999  # same axes up to sign


def test_kmeans_recovers_separated_clusters_reproducibly(rng):
    x, labels = clusters(rng)
    found = analysis.kmeans(x, 3, seed=0)
    assert found.shape == labels.shape and found.dtype == np.int64
    assert analysis.adjusted_rand_index(found, labels) == pytest.approx(1.0)
    np.testing.assert_array_equal(found, analysis.kmeans(x, 3, seed=0))
    assert analysis.adjusted_rand_index(rng.permutation(found), labels) < 0.1
    with pytest.raises(ValueError, match="k must be"):
        analysis.kmeans(x, 0)


def test_kmeans_groups_latents_by_direction_not_length(rng):
    # six directions; three structures' latents 20 times as long as the others' (latent length grows with
    # mass), each image's length drawn within ±50%: one cluster per direction, while plain k-means of the
    # same rows splits the long clusters along their length and merges the short ones near the mean
    directions = rng.standard_normal((6, 20))
    directions -= directions.mean(0)
    labels = np.repeat(np.arange(6), 50)
    lengths = np.array([20, 20, 20, 1, 1, 1])[labels] * rng.uniform(0.5, 1.5, size=labels.size)
    x = directions[labels] * lengths[:, None] + 0.05 * rng.standard_normal((labels.size, 20))
    assert analysis.adjusted_rand_index(analysis.kmeans(x, 6), labels) == pytest.approx(1.0)
    assert analysis.adjusted_rand_index(analysis.kmeans(x, 6, directions=False), labels) < 0.7


def test_load_labels_checks_the_file(tmp_path):
    good = tmp_path / "labels.npy"
    np.save(good, np.array([0, 1, 1], dtype=np.int32))
    np.testing.assert_array_equal(analysis.load_labels(good, 3), [0, 1, 1])
    with pytest.raises(InputError, match="3 labels but the particle stack has 4"):
        analysis.load_labels(good, 4)
    floats = tmp_path / "floats.npy"
    np.save(floats, np.zeros(3))
    with pytest.raises(InputError, match="integer"):
        analysis.load_labels(floats)
    (tmp_path / "junk.npy").write_text("not numpy")
    with pytest.raises(InputError, match="junk.npy"):
        analysis.load_labels(tmp_path / "junk.npy")
    with pytest.raises(InputError, match="not found"):
        analysis.load_labels(tmp_path / "missing.npy")


def test_similarity_alignment_undoes_rotation_scale_and_shift(rng):
    ref = rng.standard_normal((30, 2))
    c, s = np.cos(0.7), np.sin(0.7)
    moved = 3.0 * ref @ np.array([[c, s], [-s, c]]) + np.array([5.0, -2.0])
    np.testing.assert_allclose(analysis.align_similarity(moved, ref), ref, atol=1e-9)


def test_umap_separates_clusters_is_seeded_and_warm_starts(rng):
    """One test for UMAP: numba compiles it on first use (tens of seconds)."""
    x, labels = clusters(rng, n_per=50)
    emb = analysis.umap_embedding(x, seed=0)
    assert emb.shape == (150, 2) and emb.dtype == np.float32
    assert analysis.adjusted_rand_index(analysis.kmeans(emb, 3), labels) == pytest.approx(1.0)
    np.testing.assert_allclose(analysis.umap_embedding(x, seed=0), emb)
    # slightly changed latents, started from the previous layout: points stay near their old place
    moved = analysis.umap_embedding(x + 0.05 * rng.standard_normal(x.shape).astype(np.float32), init=emb, seed=1)
    spread = np.linalg.norm(emb - emb.mean(0), axis=1).mean()
    assert np.linalg.norm(moved - emb, axis=1).mean() < 0.35 * spread
    with pytest.raises(ValueError, match="init must be"):
        analysis.umap_embedding(x, init=emb[:10])
    # above max_fit points: fitted on a seeded subsample, the others placed by transform, in their cluster
    sub = analysis.umap_embedding(x, seed=0, max_fit=60)
    assert sub.shape == (150, 2) and np.isfinite(sub).all()
    assert analysis.adjusted_rand_index(analysis.kmeans(sub, 3), labels) == pytest.approx(1.0)
    np.testing.assert_allclose(analysis.umap_embedding(x, seed=0, max_fit=60), sub)


def test_umap_fit_subset_is_seeded_distinct_and_only_above_the_limit():
    assert analysis.fit_subset(100, 100) is None and analysis.fit_subset(100, None) is None
    idx = analysis.fit_subset(1000, 300, seed=3)
    assert idx.shape == (300,) and np.unique(idx).size == 300 and (np.diff(idx) > 0).all()
    assert idx.min() >= 0 and idx.max() < 1000
    np.testing.assert_array_equal(analysis.fit_subset(1000, 300, seed=3), idx)
    assert not np.array_equal(analysis.fit_subset(1000, 300, seed=4), idx)
    with pytest.raises(ValueError, match="at least 4"):
        analysis.fit_subset(1000, 2)


def test_analyze_run_writes_every_file_and_keeps_the_layout(rng, tmp_path, monkeypatch):
    """analyze_run on stand-in latents (the model is tested elsewhere): files, k, warm start.
    Runs after the UMAP test in the same process, so UMAP is already compiled."""
    from napari_cryohype.core import latents as latents_module

    x, labels = clusters(rng, n_per=40, d=300)
    def stand_in(run, device, progress, losses):
        losses[:] = np.arange(len(x))
        progress(1.0)
        return x

    monkeypatch.setattr(latents_module, "compute_latents", stand_in)
    run = SimpleNamespace(analysis_dir=tmp_path / "analysis", dataset=lambda: x)
    stages = []
    paths = analysis.analyze_run(run, classes=False, progress=lambda s, f: stages.append((s, f)))
    assert set(paths) == {"latents", "loss", "pca", "umap", "k_choice", "kmeans"}
    np.testing.assert_array_equal(np.load(paths["loss"]), np.arange(len(x)))
    assert all(p.parent == run.analysis_dir for p in paths.values())
    assert np.load(paths["pca"]).shape == (120, 100) and np.load(paths["umap"]).shape == (120, 2)
    # k chosen from the data alone: the 3 clusters
    assert analysis.adjusted_rand_index(np.load(paths["kmeans"]), labels) == pytest.approx(1.0)
    assert [s for s, f in stages if f == 0.0] == ["latents", "pca", "umap", "choose k", "kmeans"]
    assert sorted(p.name for p in run.analysis_dir.iterdir()) == ["k_choice.csv", "kmeans.npy", "latents.npy",
                                                                   "loss.npy", "pca.npy", "umap.npy"]  # no temporaries
    first = np.load(paths["umap"])
    again_dir = tmp_path / "analysis-2"
    again_paths = analysis.analyze_run(run, out_dir=again_dir, k=5, seed=3, umap_start=first,  # from that layout
                                       classes=False)
    assert set(again_paths) == {"latents", "loss", "pca", "umap", "kmeans"}   # k given: none chosen
    again = np.load(again_dir / "umap.npy")
    spread = np.linalg.norm(first - first.mean(0), axis=1).mean()
    assert np.linalg.norm(again - first, axis=1).mean() < 0.35 * spread
    assert np.unique(np.load(again_dir / "kmeans.npy")).size == 5
    np.testing.assert_array_equal(np.load(paths["umap"]), first)   # the first analysis is untouched
    # labels tell k (here 4 of them over the 3 clusters) and give each k tried its ARI
    four = np.arange(len(x)) % 4
    told = analysis.analyze_run(run, out_dir=tmp_path / "told", labels=four, umap=False, classes=False)
    assert np.unique(np.load(told["kmeans"])).size == 4
    assert "ari" in k_choice.read_table(told["k_choice"])
    with pytest.raises(ValueError, match="one label per image"):
        analysis.analyze_run(run, labels=labels[:-1], umap=False)
