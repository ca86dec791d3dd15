"""Lift an image's central transform into 3D at its known pose: the slice, placed where it lies in the volume.

Images of one structure seen from different directions are different 2D arrays, but their transforms are
slices of the same 3D transform (the projection-slice theorem holds for the Hartley transform too). Placed
in a 3D grid at their poses they share one volume, so a linear map of the lifted slice (a sum over the
slice of w(k) x(k)) is a correlation with a 3D template w: the evidence a 3D classification weighs, the
same function of the structure from every direction.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch
from torch import Tensor, nn


class SliceLift(nn.Module):
    """Trilinear placement of the low-frequency disk of an encoder image into a 3D grid.

    ``D`` the image box (pixels); ``radius`` the disk lifted (Fourier pixels, DC included). The grid is
    ``size`` = 2 * ceil(radius) + 3 voxels a side, centred on DC, indexed ``[kz, ky, kx]``."""

    def __init__(self, D: int, radius: float):
        super().__init__()
        if not 0 < radius <= D / 2:
            raise ValueError(f"lift radius must be in (0, {D / 2}] Fourier pixels, got {radius}")
        # numpy, not torch: the encoder is also built on the meta device (core/boxes.py), where a boolean
        # selection of tensor values cannot run
        k = np.arange(D) - D // 2                                          # pixels, encoder grid order
        ky, kx = (a.ravel() for a in np.meshgrid(k, k, indexing="ij"))
        pixels = np.flatnonzero(kx**2 + ky**2 <= radius**2 + 1e-6)
        self.half = math.ceil(radius)
        self.size = 2 * self.half + 3
        coords = np.stack([kx[pixels], ky[pixels], np.zeros(len(pixels))], axis=1)
        self.register_buffer("pixels", torch.as_tensor(pixels), persistent=False)
        self.register_buffer("coords", torch.as_tensor(coords, dtype=torch.float32), persistent=False)

    @property
    def n_voxels(self) -> int:
        return self.size**3

    def forward(self, x: Tensor, rots: Tensor) -> Tensor:
        """Encoder images (B, D, D) at poses rots (B, 3, 3) -> lifted slices (B, size**3); a point k of the
        image lands at k @ R (the central-slice convention), shared among its 8 neighbouring voxels."""
        return self.place(x.flatten(1)[:, self.pixels], rots)

    def place(self, vals: Tensor, rots: Tensor) -> Tensor:
        """Values (B, P) at the disk's pixels (``pixels``, ``coords``) at poses rots (B, 3, 3) -> (B, size**3)."""
        out = vals.new_zeros(len(vals), self.size**3)
        for idx, w in self.corners(rots):
            out.scatter_add_(1, idx, (w * vals).to(out.dtype))
        return out

    def corners(self, rots: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
        """Where the disk's pixels land at poses rots (B, 3, 3): for each of the 8 neighbouring voxels of a
        pixel's point, its flat index in the grid (B, P) and its trilinear weight (B, P). :meth:`place` adds
        values there; summing ``w * map[idx]`` over the 8 samples a map (size**3,) at the points."""
        s = self.size
        q = self.coords.to(rots.dtype) @ rots + (self.half + 1)            # (B, P, 3) in (x, y, z) voxels
        q0 = q.floor()
        f = q - q0
        q0 = q0.long()
        for dz in (0, 1):
            for dy in (0, 1):
                for dx in (0, 1):
                    w = ((f[..., 0] if dx else 1 - f[..., 0]) * (f[..., 1] if dy else 1 - f[..., 1])
                         * (f[..., 2] if dz else 1 - f[..., 2]))
                    yield ((q0[..., 2] + dz) * s + q0[..., 1] + dy) * s + q0[..., 0] + dx, w
