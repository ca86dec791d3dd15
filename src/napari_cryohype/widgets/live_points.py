"""The live map's points during a run's first epoch: the latents each training step computed for its batch
(``Trainer.keep_latents``), gathered per image, and principal components fitted on the images seen so far.
Pure numpy, no Qt (the Latent Explorer draws them)."""

from __future__ import annotations

import numpy as np

#: at most this many of the images seen so far fit the principal axes (a seeded subset); all are projected
PCA_MAX_FIT = 20_000


class LivePoints:
    """Latents of the ``n`` images of a run, filled in as training steps report their batches.

    :attr:`latents` (n, d) float32 has NaN rows for the images not seen yet (None before the first batch);
    :attr:`seen` (n,) bool marks the others.
    """

    def __init__(self, n: int):
        self.n = int(n)
        self.latents: np.ndarray | None = None
        self.seen = np.zeros(self.n, dtype=bool)

    def add(self, indices: np.ndarray, latents: np.ndarray) -> None:
        """One step's batch: dataset ``indices`` (B,) int and their ``latents`` (B, d); a later value of an
        image replaces its earlier one."""
        if self.latents is None:
            self.latents = np.full((self.n, latents.shape[1]), np.nan, dtype=np.float32)
        self.latents[indices] = latents
        self.seen[indices] = True

    @property
    def count(self) -> int:
        """How many images have a latent."""
        return int(np.count_nonzero(self.seen))

    def principal_components(self, n_components: int, seed: int = 0) -> np.ndarray:
        """(n, k) float32, k = min(n_components, d, seen): the seen images' latents projected on the principal
        axes of those seen so far (fitted on at most :data:`PCA_MAX_FIT` of them), by decreasing variance;
        each axis's sign puts its largest loading positive (as scikit-learn's PCA), so an axis keeps its
        direction from one update to the next. NaN rows for the images not seen yet."""
        rows = np.flatnonzero(self.seen)
        if self.latents is None or len(rows) == 0:
            return np.full((self.n, 1), np.nan, dtype=np.float32)
        fit = rows if len(rows) <= PCA_MAX_FIT else np.sort(
            np.random.default_rng(seed).choice(rows, size=PCA_MAX_FIT, replace=False))
        x = self.latents[fit].astype(np.float64)
        mean = x.mean(axis=0)
        _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
        k = min(n_components, len(vt), max(1, len(fit) - 1))
        axes = vt[:k]
        axes *= np.sign(axes[np.arange(k), np.abs(axes).argmax(axis=1)])[:, None]
        pcs = np.full((self.n, k), np.nan, dtype=np.float32)
        pcs[rows] = (self.latents[rows] - mean.astype(np.float32)) @ axes.T.astype(np.float32)
        return pcs
