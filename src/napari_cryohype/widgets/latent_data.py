"""What the Latent Explorer shows: every image's latent and what is derived from it (principal components,
UMAP, k-means clusters), the true labels and per-image covariates (defocus, pose angles, loss)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

N_PC_AXES = 6   # PC1..PC6 offered as axes


@dataclass
class LatentData:
    """Per-image arrays of N images: latents (N, d), pcs (N, >=2), embedding (N, 2) or None (UMAP),
    clusters (N,) or None (k-means), classes (N,) or None (``cryohype analyze``'s classes: its k-means refined
    by 3D classification), labels (N,) or None, covariates name -> (N,)."""

    latents: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), np.float32))
    pcs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    embedding: np.ndarray | None = None
    clusters: np.ndarray | None = None
    classes: np.ndarray | None = None
    labels: np.ndarray | None = None
    covariates: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.latents)

    def axis_names(self) -> list[str]:
        """What the scatter's axes can show: UMAP1/2 (when computed), PC1..PC6, then every covariate (pose
        angles, defocus, loss: as cryoDRGN's filter plots them)."""
        names = ["UMAP1", "UMAP2"] if self.embedding is not None else []
        return names + [f"PC{i + 1}" for i in range(min(N_PC_AXES, self.pcs.shape[1]))] + list(self.covariates)

    def values(self, name: str) -> np.ndarray:
        """The (N,) values called ``name``: a covariate, UMAP1/2 or PC1.."""
        if name in self.covariates:
            return self.covariates[name]
        if name.startswith("UMAP"):
            return self.embedding[:, int(name[4:]) - 1]
        return self.pcs[:, int(name[2:]) - 1]
