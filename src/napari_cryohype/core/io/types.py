"""The types every reader returns, in cryoDRGN's conventions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Poses:
    """Known particle poses (cryoDRGN convention).

    rots: (N, 3, 3) float32 rotation matrices; an image is ``img[y, x] = sum_z vol(p @ R)``.
    trans: (N, 2) float32 shifts in fractions of the box, columns (x, y); translating an image's
    transform by ``+trans * D`` pixels centres the particle.
    """

    rots: np.ndarray
    trans: np.ndarray

    def __post_init__(self) -> None:
        self.rots = np.asarray(self.rots, dtype=np.float32)
        self.trans = np.asarray(self.trans, dtype=np.float32)
        if self.rots.ndim != 3 or self.rots.shape[1:] != (3, 3):
            raise ValueError(f"rots must be (N, 3, 3), got {self.rots.shape}")
        if self.trans.shape != (len(self.rots), 2):
            raise ValueError(f"trans must be ({len(self.rots)}, 2), got {self.trans.shape}")

    def __len__(self) -> int:
        return len(self.rots)

    def subset(self, indices: np.ndarray) -> "Poses":
        """The poses of the selected images (an index array or boolean mask)."""
        return Poses(self.rots[indices], self.trans[indices])
