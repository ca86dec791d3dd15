"""Fourier-space lattices, central slices, trilinear sampling and shifts (cryoDRGN's convention).

Frequencies are in cycles per pixel, in [-1/2, 1/2]. A slice lattice for images of even size ``D`` has
``(D+1)**2`` points ``(kx, ky, 0)`` in row-major ``(ky, kx)`` order, ``kx`` fastest, matching the
(D+1, D+1) grid of :func:`napari_cryohype.core.fourier.symmetrize_ht`; the point ``-k`` of flat index
``i`` is flat index ``(D+1)**2 - 1 - i``. The slice of a pose with rotation ``R`` is ``coords @ R``:
``img[y, x] = sum_z vol(p @ R)`` with ``p = (x, y, z)`` has transform ``F2(k) = F3(k @ R)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def slice_coords(D: int, device: torch.device | str | None = None) -> Tensor:
    """Central-slice lattice for even image size ``D``: ((D+1)**2, 3) float32, cycles/pixel."""
    if D % 2:
        raise ValueError(f"image size must be even, got {D}")
    k = torch.linspace(-0.5, 0.5, D + 1, device=device)
    ky, kx = torch.meshgrid(k, k, indexing="ij")
    return torch.stack([kx.ravel(), ky.ravel(), torch.zeros_like(kx).ravel()], dim=-1)


def circular_mask(D: int, radius: float | None = None, ignore_dc: bool = True,
                  device: torch.device | str | None = None) -> Tensor:
    """Boolean mask ((D+1)**2,) of slice points within ``radius`` pixels of DC (default ``D/2``)."""
    radius = D / 2 if radius is None else radius
    coords = slice_coords(D, device) * D
    mask = coords[:, :2].pow(2).sum(-1) <= radius**2 + 1e-6
    if ignore_dc:
        mask[(D + 1) ** 2 // 2] = False
    return mask


def rotate_coords(coords: Tensor, rots: Tensor) -> Tensor:
    """Rotate lattice points by poses: coords (N, 3), rots (B, 3, 3) -> (B, N, 3) = coords @ R."""
    return coords @ rots


def _grid(freqs: Tensor, size: int, D: int) -> Tensor:
    """Map frequencies (cycles/pixel) to grid_sample's [-1, 1] for a centred grid of ``size`` points."""
    index = freqs * D + D // 2
    return 2 * index / (size - 1) - 1


def sample_volume(vol: Tensor, freqs: Tensor) -> Tensor:
    """Trilinearly sample a centred 3D transform at 3D frequencies.

    vol: (D, D, D) or (D+1, D+1, D+1) real, axes (z, y, x), DC at index D//2.
    freqs: (B, N, 3) in cycles/pixel, columns (kx, ky, kz). Points outside the grid give 0.
    Returns (B, N).
    """
    size = vol.shape[-1]
    D = size - (size % 2)
    grid = _grid(freqs, size, D)  # (B, N, 3) ordered (x, y, z) like grid_sample
    out = F.grid_sample(vol[None, None].expand(grid.shape[0], 1, *vol.shape), grid[:, None, None],
                        mode="bilinear", padding_mode="zeros", align_corners=True)
    return out[:, 0, 0, 0]


def sample_volumes(vols: Tensor, freqs: Tensor) -> Tensor:
    """Trilinearly sample several centred 3D transforms at the same frequencies: vols (K, D, D, D) axes (z, y, x),
    DC at index D//2; freqs (P, 3) cycles/pixel (kx, ky, kz) -> (K, P). Points outside the grid give 0."""
    size = vols.shape[-1]
    grid = _grid(freqs, size, size - (size % 2))
    return F.grid_sample(vols[None], grid[None, None, None], mode="bilinear", padding_mode="zeros",
                         align_corners=True)[0, :, 0, 0]


def phase_ramp(freqs2d: Tensor, trans_px: Tensor) -> Tensor:
    """Phase ``2 pi k.t`` of a shift: freqs2d (N, 2) cycles/pixel, trans_px (B, 2) pixels -> (B, N)."""
    return 2 * math.pi * (trans_px @ freqs2d.T)


def translate_ht(ht: Tensor, freqs2d: Tensor, trans_px: Tensor) -> Tensor:
    """Shift images by ``trans_px`` through their Hartley transform on a symmetric lattice.

    ht: (B, N) values on a full symmetric lattice (or a mask of it that is symmetric under k -> -k, in
    the lattice's flat order), freqs2d: (N, 2), trans_px: (B, 2) (x, y) pixels.
    ``H'(k) = cos(2 pi k.t) H(k) + sin(2 pi k.t) H(-k)``: the image moved by ``+t``.
    """
    phase = phase_ramp(freqs2d, trans_px)
    return torch.cos(phase) * ht + torch.sin(phase) * ht.flip(-1)


def translate_ft(ft: Tensor, freqs2d: Tensor, trans_px: Tensor) -> Tensor:
    """Shift images by ``trans_px`` (B, 2) pixels: complex ft (B, N) times ``exp(-2 pi i k.t)``."""
    return ft * torch.exp(-1j * phase_ramp(freqs2d, trans_px))


def rotate_volume(vol: Tensor, rots: Tensor) -> Tensor:
    """Real-space rotation for tests and references: vol (D, D, D) (z, y, x) -> (B, D, D, D) with
    ``out[b, z, y, x] = vol(p @ R_b)``, ``p = (x, y, z) - D//2`` in voxels, trilinear, zero outside."""
    D = vol.shape[-1]
    r = torch.arange(D, dtype=vol.dtype, device=vol.device) - D // 2
    z, y, x = torch.meshgrid(r, r, r, indexing="ij")
    p = torch.stack([x, y, z], dim=-1).reshape(-1, 3)
    freqs = rotate_coords(p / D, rots)  # treat voxel offsets like the centred grid's coordinates
    return sample_volume(vol, freqs).reshape(-1, D, D, D)


def project_volume(vol: Tensor, rots: Tensor) -> Tensor:
    """Real-space projection ``img[y, x] = sum_z vol(p @ R)``: vol (D, D, D), rots (B, 3, 3) -> (B, D, D)."""
    return rotate_volume(vol, rots).sum(dim=1)
