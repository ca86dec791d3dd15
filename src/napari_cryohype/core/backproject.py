"""Voxel backprojection with CTF correction: the reconstruction a method could reach with true labels.

Each image's centred Hartley transform, shifted to centre the particle, is placed on its central slice
(``slice_coords(D) @ R``) in a 3D Fourier grid. With the image's CTF ``c``, the grid accumulates
``sum c * H_image`` and ``sum c**2`` (each spread over the 8 neighbouring voxels with trilinear weights,
or given to the nearest one); the map's transform is their ratio ``num / (den + reg)`` (a Wiener-style
filter whose ``reg`` stands for the noise-to-signal ratio), then the inverse 3D Hartley transform.
Images are positive-contrast (``image = CTF * projection``); the dataset inverts negative-contrast stacks
(:mod:`napari_cryohype.core.io.contrast`) before they get here.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from napari_cryohype.core import fourier, lattice
from napari_cryohype.core.ctf import ctf_from_table

#: Default Wiener regulariser, in units of summed CTF² (one image with |CTF| = 1 adds 1): it damps the
#: sparsely sampled, noise-dominated voxels and barely touches well-sampled ones.
DEFAULT_REG = 1.0

_CORNERS = torch.tensor([[dx, dy, dz] for dz in (0, 1) for dy in (0, 1) for dx in (0, 1)])


class Backprojector:
    """Accumulates images into ``n_maps`` (D, D, D) Fourier grids; :meth:`volume` (:meth:`volumes`) returns the
    map (maps) so far, :meth:`transforms` their centred Hartley transforms.

    ``interpolation`` is ``"trilinear"`` (each Fourier sample spread over 8 voxels) or ``"nearest"``.
    """

    def __init__(self, D: int, *, interpolation: str = "trilinear", device: torch.device | str = "cpu",
                 n_maps: int = 1):
        if interpolation not in ("trilinear", "nearest"):
            raise ValueError(f"interpolation must be 'trilinear' or 'nearest', got {interpolation!r}")
        self.D, self.interpolation, self.device, self.n_maps = D, interpolation, torch.device(device), int(n_maps)
        self.coords = lattice.slice_coords(D, self.device)
        self.mask = lattice.circular_mask(D, ignore_dc=False, device=self.device)
        # accumulators with two extra planes per axis (grid positions D and D+1), folded in volume()
        self.num = torch.zeros(self.n_maps * (D + 2) ** 3, dtype=torch.float64, device=self.device)
        self.den = torch.zeros(self.n_maps * (D + 2) ** 3, dtype=torch.float64, device=self.device)
        self.count = 0

    def observe(self, images: np.ndarray | Tensor, trans_px: np.ndarray | Tensor | None = None,
                ctf: np.ndarray | Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """The images' centred Hartley transforms, moved by ``trans_px`` (B, 2) pixels (x, y), and their CTF
        (from ``ctf`` (B, 9) table rows; None without) at the disk's points ``coords[mask]``: (B, M) each."""
        D = self.D
        img = self._tensor(images)
        if img.ndim != 3 or img.shape[1:] != (D, D):
            raise ValueError(f"need images (B, {D}, {D}), got {tuple(img.shape)}")
        ht = fourier.symmetrize_ht(fourier.ht2_center(img)).reshape(img.shape[0], -1)
        if trans_px is not None:
            ht = lattice.translate_ht(ht, self.coords[:, :2], self._tensor(trans_px))
        c = None if ctf is None else ctf_from_table(self._tensor(ctf), self.coords[self.mask][:, :2])
        return ht[:, self.mask], c

    def add(self, images: np.ndarray | Tensor, rots: np.ndarray | Tensor, trans_px: np.ndarray | Tensor | None = None,
            ctf: np.ndarray | Tensor | None = None, maps: np.ndarray | Tensor | None = None) -> None:
        """Add a batch: images (B, D, D), rots (B, 3, 3), trans_px (B, 2) pixels (x, y) or None, ctf (B, 9)
        CTF table rows or None (no CTF); ``maps`` (B,) the map each image goes to (all to map 0 when None)."""
        D = self.D
        rots = self._tensor(rots)
        if rots.shape != (len(images), 3, 3):
            raise ValueError(f"need images (B, {D}, {D}) and rots (B, 3, 3), got {tuple(np.shape(images))} "
                             f"and {tuple(rots.shape)}")
        ht, c = self.observe(images, trans_px, ctf)
        num, den = (ht, torch.ones_like(ht)) if c is None else (c * ht, c * c)
        self.add_observed(self.coords[self.mask] @ rots, num, den, maps)

    def add_observed(self, freqs: Tensor, num: Tensor, den: Tensor, maps: np.ndarray | Tensor | None = None,
                     weights: Tensor | None = None) -> None:
        """Add observations already made: at 3D frequencies ``freqs`` (B, M, 3) in cycles/pixel (kx, ky, kz), the
        values ``num`` (B, M) (``c * H_image``) and ``den`` (B, M) (``c**2``); ``maps`` (B,) as in :meth:`add`;
        ``weights`` (B,): each image's share (a class's posterior probability; 1 when None)."""
        which = None if maps is None else torch.as_tensor(np.asarray(maps), device=self.device).long()
        if which is not None and (which.shape != (len(num),) or int(which.min()) < 0
                                  or int(which.max()) >= self.n_maps):
            raise ValueError(f"maps must be (B,) indices below {self.n_maps}")
        if weights is not None:
            num, den = num * weights[:, None], den * weights[:, None]
        self._splat(freqs * self.D + self.D // 2, num, den, which)
        self.count += len(num)

    def _tensor(self, x: np.ndarray | Tensor) -> Tensor:
        x = x if isinstance(x, Tensor) else torch.from_numpy(np.ascontiguousarray(x))
        return x.to(self.device, torch.float32)

    def _splat(self, pos: Tensor, num: Tensor, den: Tensor, maps: Tensor | None = None) -> None:
        """Add values at continuous grid positions pos (B, M, 3) (x, y, z voxels in [0, D]) of the maps
        ``maps`` (B,) (map 0 when None)."""
        n = self.D + 2
        offset = 0 if maps is None else (maps[:, None] * n**3).expand(pos.shape[:2]).reshape(-1)
        # rounding can put a point on the sphere's edge a hair outside [0, D]
        pos, num, den = pos.reshape(-1, 3).clamp(0, self.D), num.reshape(-1), den.reshape(-1)
        if self.interpolation == "nearest":
            base = torch.round(pos).long()
            flat = (base[:, 2] * n + base[:, 1]) * n + base[:, 0] + offset
            self.num.index_add_(0, flat, num.double())
            self.den.index_add_(0, flat, den.double())
            return
        floor = torch.floor(pos)
        base, frac = floor.long(), pos - floor
        flat = (base[:, 2] * n + base[:, 1]) * n + base[:, 0] + offset
        weights = torch.stack([1 - frac, frac])  # (2, P, 3): weight of the lower and upper neighbour per axis
        for dx, dy, dz in _CORNERS.tolist():
            w = weights[dx, :, 0] * weights[dy, :, 1] * weights[dz, :, 2]
            corner = flat + (dz * n + dy) * n + dx
            self.num.index_add_(0, corner, (num * w).double())
            self.den.index_add_(0, corner, (den * w).double())

    def _fold(self, grid: Tensor) -> Tensor:
        """n_maps x (D+2)**3 accumulators -> (n_maps, D, D, D): indices D and D+1 are frequencies -1/2 and
        -1/2 + 1/D again."""
        D = self.D
        g = grid.reshape(self.n_maps, D + 2, D + 2, D + 2).clone()
        for axis in range(1, 4):
            g.narrow(axis, 0, 2).add_(g.narrow(axis, D, 2))
            g = g.narrow(axis, 0, D)
        return g

    def sums(self) -> tuple[Tensor, Tensor]:
        """The accumulated ``sum c * H_image`` and ``sum c**2`` of every map: (n_maps, D, D, D) float64 each,
        axes (z, y, x), centred."""
        return self._fold(self.num), self._fold(self.den)

    def transforms(self, reg: float = DEFAULT_REG) -> Tensor:
        """The maps' centred Hartley transforms so far: (n_maps, D, D, D) float64, axes (z, y, x)."""
        num, den = self.sums()
        return num / (den + reg)

    def volumes(self, reg: float = DEFAULT_REG) -> np.ndarray:
        """The maps from the images added so far: (n_maps, D, D, D) float32, axes (z, y, x)."""
        return fourier.ihtn_center(self.transforms(reg)).float().cpu().numpy()

    def volume(self, reg: float = DEFAULT_REG) -> np.ndarray:
        """The (first) map from the images added so far: (D, D, D) float32, axes (z, y, x)."""
        return self.volumes(reg)[0]


def dataset_batches(dataset, indices: np.ndarray, batch_size: int
                    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]]:
    """A :class:`~napari_cryohype.core.io.dataset.ParticleDataset`'s images ``indices`` in batches: (indices
    (B,), images (B, D, D), rots (B, 3, 3), shifts (B, 2) in pixels, CTF table rows (B, 9) or None)."""
    for start in range(0, len(indices), batch_size):
        idx = indices[start:start + batch_size]
        yield (idx, dataset.particles[idx], dataset.poses.rots[idx], dataset.poses.trans[idx] * dataset.D,
               dataset.ctf[idx] if dataset.has_ctf else None)


def backproject(dataset, indices: np.ndarray | None = None, *, batch_size: int = 256, reg: float = DEFAULT_REG,
                interpolation: str = "trilinear", device: torch.device | str = "cpu",
                progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Backproject a :class:`~napari_cryohype.core.io.dataset.ParticleDataset` (all images, or ``indices``)
    with its poses and CTF. Returns the (D, D, D) float32 map; ``progress(done, total)`` after each batch."""
    indices = np.arange(len(dataset)) if indices is None else np.sort(np.asarray(indices, dtype=np.int64))
    if indices.size == 0:
        raise ValueError("no images to backproject")
    bp = Backprojector(dataset.D, interpolation=interpolation, device=device)
    for _, images, rots, trans_px, ctf in dataset_batches(dataset, indices, batch_size):
        bp.add(images, rots, trans_px, ctf)
        if progress is not None:
            progress(bp.count, indices.size)
    return bp.volume(reg)


def backproject_labels(dataset, labels: np.ndarray, *, batch_size: int = 256, reg: float = DEFAULT_REG,
                       interpolation: str = "trilinear", device: torch.device | str = "cpu",
                       progress: Callable[[int, int], None] | None = None) -> dict[int, np.ndarray]:
    """One map per label: ``labels`` (N,) ints, one per image of ``dataset``. Returns {label: (D, D, D)}.
    ``progress(done, total)`` counts images over all labels."""
    labels = np.asarray(labels)
    if labels.shape != (len(dataset),):
        raise ValueError(f"need one label per image ({len(dataset)}), got shape {labels.shape}")
    done, total, out = 0, labels.size, {}
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        report = None if progress is None else (lambda k, _n, base=done: progress(base + k, total))
        out[int(label)] = backproject(dataset, idx, batch_size=batch_size, reg=reg, interpolation=interpolation,
                                      device=device, progress=report)
        done += idx.size
    return out
