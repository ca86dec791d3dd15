"""Latent-space analysis of a trained run: PCA, UMAP, k-means and classes, written to ``RUN/analysis/``.

``analyze_run`` computes the per-image latents (:meth:`CryoHypeModel.latents`), reduces them
with PCA to at most 100 dimensions (as the paper does before UMAP), embeds the PCA coordinates in 2D
with UMAP, and clusters the directions of the PCA coordinates with k-means (:func:`kmeans`), with the
number of clusters chosen from the data unless it is given (:mod:`napari_cryohype.core.k_choice`). The
clusters then seed a 3D classification with the poses fixed (:mod:`napari_cryohype.core.classify`): each
image goes to the class whose map its image fits best. Every step is seeded.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
from scipy.linalg import orthogonal_procrustes
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score

from napari_cryohype.core import k_choice
from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.atomic import atomic_path

#: progress(stage, fraction): stage is "latents", "pca", "umap", "choose k", "kmeans" or "classes"; fraction in
#: [0, 1].
Progress = Callable[[str, float], None]

#: UMAP settings of a warm start (UMAP's defaults: 200-500 epochs, learning rate 1). On well-separated
#: clusters they cut the movement of points between two embeddings of the same data about threefold.
WARM_START = {"n_epochs": 100, "learning_rate": 0.1}

#: Above this many matrix entries PCA uses a randomized SVD instead of a full one.
_RANDOMIZED_ABOVE = 10_000_000

#: UMAP is fitted on at most this many points: above it, on a seeded random subsample of this size, and
#: every other point is placed by umap-learn's ``transform`` (its nearest fitted neighbours, then a short
#: optimisation against the fitted layout, which stays fixed), the way umap-learn embeds new data. A seeded
#: UMAP runs on one core, and its fit grows faster than the number of points (neighbour search, then 200
#: epochs over every edge); the limit bounds the fit's cost whatever the number of images.
UMAP_MAX_FIT = 100_000
_TRANSFORM_CHUNK = 100_000  # points placed by one transform call (bounds its neighbour-search memory)


def pca(latents: np.ndarray, n_components: int = 100, seed: int = 0) -> np.ndarray:
    """Principal components of latents (N, d): (N, min(n_components, N, d)) float32, by decreasing
    variance. A randomized SVD is used when N * d is large."""
    x = np.asarray(latents, dtype=np.float32)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need latents (N >= 2, d), got shape {x.shape}")
    n = min(n_components, *x.shape)
    solver = "randomized" if x.size > _RANDOMIZED_ABOVE else "full"
    return PCA(n_components=n, svd_solver=solver, random_state=seed).fit_transform(x).astype(np.float32)


def fit_subset(n: int, max_fit: int | None, seed: int = 0) -> np.ndarray | None:
    """The points UMAP is fitted on when there are ``n``: None (all of them) when ``max_fit`` is None or
    ``n <= max_fit``, else ``max_fit`` distinct indices (sorted int64) drawn with ``seed``."""
    if max_fit is None or n <= max_fit:
        return None
    if max_fit < 4:
        raise ValueError(f"UMAP needs at least 4 fitted points, got max_fit={max_fit}")
    return np.sort(np.random.default_rng(seed).choice(n, size=max_fit, replace=False))


def umap_embedding(x: np.ndarray, *, init: np.ndarray | None = None, seed: int = 0,
                   n_neighbors: int = 15, min_dist: float = 0.1,
                   max_fit: int | None = UMAP_MAX_FIT) -> np.ndarray:
    """2D UMAP embedding of x (N, d): (N, 2) float32, reproducible for a given ``seed``.

    More than ``max_fit`` points (:data:`UMAP_MAX_FIT`; None: no limit): UMAP is fitted on ``max_fit`` of
    them chosen with ``seed`` (:func:`fit_subset`) and the others are placed by ``transform``.

    ``init`` (N, 2), e.g. the previous embedding of the same images, is a warm start: the layout is
    refined gently from there (:data:`WARM_START` epochs and learning rate instead of UMAP's defaults),
    then rotated, scaled and moved onto ``init`` (:func:`align_similarity`), so that points keep their
    place when the latents change a little. Without ``init``, UMAP's spectral start is used.
    """
    import umap  # imported here: numba compiles it on first import (tens of seconds)

    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or len(x) < 4:
        raise ValueError(f"UMAP needs at least 4 points (N, d), got shape {x.shape}")
    options = {}
    if init is not None:
        init = np.asarray(init, dtype=np.float32)
        if init.shape != (len(x), 2):
            raise ValueError(f"init must be ({len(x)}, 2), got {init.shape}")
        options = dict(WARM_START)
    fit = fit_subset(len(x), max_fit, seed)
    fitted = slice(None) if fit is None else fit
    reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(x[fitted]) - 1), min_dist=min_dist,
                        init="spectral" if init is None else init[fitted], random_state=seed, **options)
    with warnings.catch_warnings():  # a seed makes UMAP single-threaded, and it says so every time
        warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
        emb = reducer.fit_transform(x[fitted])
        if fit is not None:
            emb = _place_the_rest(reducer, x, fit, emb)
    if init is not None:  # UMAP rescales its start to a 10 x 10 box: bring the result back onto init
        emb = align_similarity(emb, init)
    return emb.astype(np.float32)


def _place_the_rest(reducer, x: np.ndarray, fit: np.ndarray, fitted_emb: np.ndarray) -> np.ndarray:
    """(N, 2): the fitted points' layout at ``fit``, every other point by ``reducer.transform`` in chunks."""
    emb = np.empty((len(x), 2), dtype=np.float32)
    emb[fit] = fitted_emb
    rest = np.setdiff1d(np.arange(len(x)), fit, assume_unique=True)
    for start in range(0, len(rest), _TRANSFORM_CHUNK):
        rows = rest[start:start + _TRANSFORM_CHUNK]
        emb[rows] = reducer.transform(x[rows])
    return emb


def compile_umap() -> None:
    """Run UMAP once on 64 random points, from its spectral start and from a warm start, so that numba
    compiles what every later embedding uses (tens of seconds, once per process)."""
    x = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    umap_embedding(x, init=umap_embedding(x))


def align_similarity(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Rotate (or reflect), scale uniformly and translate points x (N, 2) onto reference (N, 2) in the least
    squares sense (orthogonal Procrustes): the layout is unchanged, only its placement."""
    x, reference = np.asarray(x, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    a, b = x - x.mean(0), reference - reference.mean(0)
    rot, s = orthogonal_procrustes(a, b)
    return a @ rot * (s / max((a**2).sum(), 1e-30)) + reference.mean(0)


def kmeans(x: np.ndarray, k: int, seed: int = 0, *, directions: bool = True) -> np.ndarray:
    """k-means cluster of each row of x (N, d): (N,) int64 in [0, k). Seeded, 4 restarts of k-means++.

    With ``directions`` (the default) the rows are centred and scaled to unit length first, so that two
    images whose latents point the same way from the mean fall in one cluster whatever their lengths.
    A latent's length grows with its structure's mass (correlation 0.93 over 100 structures), so the codes
    of small structures crowd near the mean, where plain k-means merges them (on the 100-structure
    benchmark directions raise the ARI of the lift encoder's latents from 0.11 to 0.47;
    ``docs/benchmarks.md``). ``directions=False``: plain k-means of the rows."""
    x = np.asarray(x, dtype=np.float32)
    if not 1 <= k <= len(x):
        raise ValueError(f"k must be between 1 and the number of points ({len(x)}), got {k}")
    if directions:
        x = k_choice.unit_directions(x)
    return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(x).astype(np.int64)


def adjusted_rand_index(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Adjusted Rand index between a clustering and the true labels (1 = identical partitions, ~0 = chance)."""
    return float(adjusted_rand_score(np.asarray(labels), np.asarray(clusters)))


def load_labels(path: str | os.PathLike, n: int | None = None) -> np.ndarray:
    """Read labels.npy: (N,) integers, one per image (``n`` images when given). InputError if malformed."""
    path = Path(path)
    if not path.is_file():
        raise InputError("labels file not found", path)
    try:
        labels = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputError(f"not a readable .npy array ({err})", path) from None
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"labels must be a 1D integer array, got {labels.dtype} of shape {labels.shape}", path)
    if n is not None and labels.size != n:
        raise InputError(f"has {labels.size} labels but the particle stack has {n} images", path)
    return labels.astype(np.int64)


def save_array(path: Path, array: np.ndarray) -> Path:
    """Write one .npy file atomically."""
    with atomic_path(path) as tmp:
        np.save(tmp, array)
    return path


def analyze_run(run, *, out_dir: str | os.PathLike | None = None, k: int | None = None,
                labels: np.ndarray | None = None, umap: bool = True, umap_start: np.ndarray | None = None,
                classes: bool = True, seed: int = 0, device: str = "cpu",
                progress: Progress | None = None) -> dict[str, Path]:
    """Latents, PCA, UMAP and k-means (of directions, :func:`kmeans`) of every image of a
    :class:`~napari_cryohype.core.run.Run`, written into ``out_dir`` (default ``run.analysis_dir``).

    Writes latents.npy (N, d), loss.npy (N,) (each image's loss under the model), pca.npy (N, <=100),
    umap.npy (N, 2) (fitted on at most :data:`UMAP_MAX_FIT` points; not when ``umap`` is False) and
    kmeans.npy (N,), each atomically. ``umap_start`` (N, 2), e.g. an earlier analysis's umap.npy of the same
    images, seeds the layout, so that re-analysing after more training keeps points in place (ignored when
    its shape differs). k-means has ``k`` clusters when given, else as many as ``labels`` (N,) hold
    structures, else the k chosen from the data (:func:`napari_cryohype.core.k_choice.choose_k`); unless
    ``k`` is given, the score of every k tried is written to k_choice.csv (with each k's adjusted Rand
    index against ``labels`` when given). With ``classes``, the k-means clusters seed a 3D classification
    with the poses fixed (:func:`napari_cryohype.core.classify.classify`): classes.npy (N,), the same ids, and
    class_margin.npy (N,), each image's log-likelihood ratio (nats) of its class over its second-best.
    Returns {name: path}.
    """
    from napari_cryohype.core.latents import latents_and_losses

    report = progress or (lambda stage, fraction: None)
    out_dir = Path(run.analysis_dir if out_dir is None else out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}

    report("latents", 0.0)
    latents, losses = latents_and_losses(run, device=device,
                                         progress=lambda fraction: report("latents", fraction))
    if labels is not None and len(labels) != len(latents):
        raise ValueError(f"need one label per image ({len(latents)}), got {len(labels)}")
    paths["latents"] = save_array(out_dir / "latents.npy", latents)
    paths["loss"] = save_array(out_dir / "loss.npy", losses)

    report("pca", 0.0)
    pcs = pca(latents, seed=seed)
    paths["pca"] = save_array(out_dir / "pca.npy", pcs)
    report("pca", 1.0)

    if umap:
        report("umap", 0.0)
        init = None if umap_start is None or np.shape(umap_start) != (len(pcs), 2) else umap_start
        paths["umap"] = save_array(out_dir / "umap.npy", umap_embedding(pcs, init=init, seed=seed))
        report("umap", 1.0)

    if k is None and len(pcs) >= 3:
        report("choose k", 0.0)
        choice = k_choice.choose_k(pcs, seed=seed, labels=labels,
                                   progress=lambda fraction: report("choose k", fraction))
        paths["k_choice"] = k_choice.write_table(choice, out_dir / "k_choice.csv")
        k = choice.k if labels is None else int(np.unique(labels).size)
    report("kmeans", 0.0)
    clusters = kmeans(pcs, min(k or 1, len(pcs)), seed=seed)
    paths["kmeans"] = save_array(out_dir / "kmeans.npy", clusters)
    report("kmeans", 1.0)
    if classes:
        from napari_cryohype.core.classify import DEFAULT_ITERATIONS, classify

        report("classes", 0.0)
        refined = classify(run.dataset(), clusters, device=device, progress=lambda it, done, total: report(
            "classes", min(1.0, (it + done / total) / (DEFAULT_ITERATIONS + 1))))
        paths["classes"] = save_array(out_dir / "classes.npy", refined.labels)
        if refined.margin is not None:
            paths["class_margin"] = save_array(out_dir / "class_margin.npy", refined.margin)
        report("classes", 1.0)
    return paths
