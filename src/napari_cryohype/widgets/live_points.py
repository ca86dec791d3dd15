"""The live map's points during a run's first epoch: the latents each training step computed for its batch
(``Trainer.keep_latents``), gathered per image, and principal components fitted on the images seen so far.
No Qt: the Latent Explorer draws them."""

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
        """(n, k) float32, k = min(n_components, d, seen - 1, at least 1): the seen images' latents projected on
        the principal axes of those seen so far (scikit-learn's PCA, fitted on at most :data:`PCA_MAX_FIT` of
        them, :func:`~napari_cryohype.core.analysis.fit_subset`), by decreasing variance; PCA's sign rule puts
        each axis's largest loading positive, so an axis keeps its direction from one update to the next. NaN
        rows for the images not seen yet."""
        from sklearn.decomposition import PCA

        from napari_cryohype.core.analysis import fit_subset

        rows = np.flatnonzero(self.seen)
        if self.latents is None or len(rows) == 0:
            return np.full((self.n, 1), np.nan, dtype=np.float32)
        seen = self.latents[rows]
        subset = fit_subset(len(rows), PCA_MAX_FIT, seed)
        fit = seen if subset is None else seen[subset]
        k = min(n_components, seen.shape[1], max(1, len(fit) - 1))
        pcs = np.full((self.n, k), np.nan, dtype=np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):   # one image seen: no variance to divide by
            pcs[rows] = PCA(n_components=k, svd_solver="full").fit(fit.astype(np.float64)).transform(seen)
        return pcs
