"""How many k-means clusters the latents hold, when nobody says: each k's silhouette, above that of a
cloud with the same spread and no clusters.

k-means clusters the latents' directions (:func:`unit_directions`, what
:func:`napari_cryohype.core.analysis.kmeans` does). For each k of a grid (:func:`k_grid`: every k from 2
to 20, then steps of 25% up to N/10, at most :data:`K_MAX`; then every k between the chosen one's
neighbours), k-means is fitted on a seeded subsample of at most :data:`SCORE_POINTS` directions and on as
many directions of a structureless reference: Gaussian points with the subsample's spread along each
principal axis (PCA coordinates are uncorrelated, so it has their covariance). Each fit is scored by its
mean silhouette with the cosine distance (1 - cos of the angle between two directions); a silhouette
compares each point's mean distance to its own cluster (a) with its mean distance to the nearest other
cluster (b): (b - a) / max(a, b). The score of k is the data's silhouette less the reference's, and the k of
the highest score is chosen (the gap statistic's idea, Tibshirani et al. 2001, applied to the silhouette):
the raw silhouette favours k = 2 when the cloud is elongated, as latents are (their length and first axis
follow the structures' mass), since cutting any elongated cloud in two scores well; the reference scores that
too, and the difference does not. The distances of each subsample are computed once and reused for every
k, so the cost is bounded whatever the number of images.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from napari_cryohype.core.io.atomic import atomic_path

#: the silhouettes are computed on at most this many images (a seeded subsample)
SCORE_POINTS = 3000
#: the largest k tried
K_MAX = 400
#: k is at most N / MIN_PER_CLUSTER: a cluster should hold a few images at least
MIN_PER_CLUSTER = 10
#: every k up to this one is tried; above it, k grows by GROWTH per step
DENSE_UP_TO = 20
GROWTH = 1.25


@dataclass(frozen=True)
class KChoice:
    """The chosen ``k`` and every k tried (``ks``, increasing) with its ``score``: the mean ``silhouette`` of
    the data less the ``reference`` one of a structureless cloud, on ``n_scored`` images each; ``ari``:
    each k's adjusted Rand index against true labels on the same images, when labels were given (for the
    record: they take no part in the choice)."""

    k: int
    ks: np.ndarray
    scores: np.ndarray
    silhouette: np.ndarray
    reference: np.ndarray
    n_scored: int
    ari: np.ndarray | None = None


def unit_directions(x: np.ndarray) -> np.ndarray:
    """Rows of x (N, d) centred on their mean and scaled to unit length: (N, d) float32."""
    x = np.asarray(x, dtype=np.float32)
    x = x - x.mean(0)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def k_grid(n: int, k_max: int = K_MAX) -> np.ndarray:
    """The k tried first for ``n`` images: 2 .. 20, then steps of about 25% (log-spaced) up to
    min(k_max, n // 10), itself included; at least [2]. (m,) int64, increasing."""
    top = max(2, min(k_max, n // MIN_PER_CLUSTER, n - 1))
    dense = np.arange(2, min(top, DENSE_UP_TO) + 1)
    if top <= DENSE_UP_TO:
        return dense.astype(np.int64)
    steps = int(np.ceil(np.log(top / DENSE_UP_TO) / np.log(GROWTH)))
    sparse = np.round(np.geomspace(DENSE_UP_TO, top, steps + 1)[1:]).astype(np.int64)
    return np.unique(np.concatenate([dense, sparse])).astype(np.int64)


def choose_k(x: np.ndarray, *, seed: int = 0, k_max: int = K_MAX, max_points: int = SCORE_POINTS,
             labels: np.ndarray | None = None, progress: Callable[[float], None] | None = None) -> KChoice:
    """The number of clusters of the directions of x (N, d) (the PCA coordinates of the latents) whose mean
    cosine silhouette stands highest above that of a structureless cloud of the same spread, as the module
    says. ``labels`` (N,), optional: each k's adjusted Rand index is recorded too (not used to choose).
    ``progress(fraction)`` after each k. Needs N >= 3."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, silhouette_score

    x = np.asarray(x, dtype=np.float32)
    if len(x) < 3:
        raise ValueError(f"choosing k needs at least 3 points, got {len(x)}")
    if labels is not None and len(labels) != len(x):
        raise ValueError(f"need one label per point ({len(x)}), got {len(labels)}")
    rng = np.random.default_rng(seed)
    rows = np.arange(len(x)) if len(x) <= max_points else np.sort(rng.choice(len(x), size=max_points,
                                                                             replace=False))
    centred = x[rows] - x.mean(0)
    reference = (rng.standard_normal(centred.shape) * centred.std(0)).astype(np.float32)
    sets = []
    for points in (centred, reference):
        u = unit_directions(points)
        distances = np.clip(1.0 - u @ u.T, 0.0, None)
        np.fill_diagonal(distances, 0.0)
        sets.append((u, distances))

    found: dict[int, tuple[float, float, float | None]] = {}

    def silhouette(k: int, u: np.ndarray, distances: np.ndarray) -> tuple[float, np.ndarray]:
        clusters = KMeans(n_clusters=k, n_init=2, random_state=seed).fit_predict(u)
        value = silhouette_score(distances, clusters, metric="precomputed") if np.unique(clusters).size > 1 else -1
        return float(value), clusters

    def score(k: int) -> None:
        (data, clusters), (ref, _) = (silhouette(k, *pair) for pair in sets)
        found[k] = (data, ref, None if labels is None else float(adjusted_rand_score(np.asarray(labels)[rows],
                                                                                      clusters)))

    def best(ks) -> int:
        return max(ks, key=lambda k: found[k][0] - found[k][1])

    grid = [int(k) for k in k_grid(len(rows), k_max) if k < len(rows)]
    for i, k in enumerate(grid):
        score(k)
        if progress is not None:
            progress(0.8 * (i + 1) / len(grid))
    at = grid.index(best(grid))
    low, high = grid[max(at - 1, 0)], grid[min(at + 1, len(grid) - 1)]
    between = [k for k in range(low + 1, high) if k not in found]
    for i, k in enumerate(between):
        score(k)
        if progress is not None:
            progress(0.8 + 0.2 * (i + 1) / len(between))
    ks = np.array(sorted(found), dtype=np.int64)
    silhouette, ref = (np.array([found[k][j] for k in ks]) for j in (0, 1))
    return KChoice(k=best(ks.tolist()), ks=ks, scores=silhouette - ref, silhouette=silhouette, reference=ref,
                   n_scored=len(rows), ari=None if labels is None else np.array([found[k][2] for k in ks]))


def write_table(choice: KChoice, path: str | os.PathLike) -> Path:
    """``k_choice.csv``: one row per k tried: ``k``, ``score`` (``silhouette`` less ``reference``),
    ``silhouette``, ``reference``, ``chosen`` (1 for the chosen k, else 0) and, when labels were given,
    ``ari``. Written atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["k", "score", "silhouette", "reference", "chosen"]
                        + (["ari"] if choice.ari is not None else []))
        for i, k in enumerate(choice.ks):
            writer.writerow([int(k), f"{choice.scores[i]:.5f}", f"{choice.silhouette[i]:.5f}",
                             f"{choice.reference[i]:.5f}", int(k == choice.k)]
                            + ([f"{choice.ari[i]:.4f}"] if choice.ari is not None else []))
    return path


def read_table(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The columns of a ``k_choice.csv`` (:func:`write_table`) as arrays."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {name: np.array([float(r[name]) for r in rows]) for name in (rows[0] if rows else [])}
