"""The Fourier-space geometry of one box size: which slice points are trained, which half is evaluated,
and the preparation of a batch of particles into model inputs and loss targets.

Hartley symmetry: a real volume's transform obeys ``F(-k) = conj F(k)``, so its Hartley transform
``H = Re F - Im F`` satisfies ``H(k) = a - b`` and ``H(-k) = a + b`` with ``(a, b) = (Re F(k), Im F(k))``.
The loss uses the slice points inside a circle of radius D/2 (DC excluded); this set is symmetric under
``k -> -k`` and splits into pairs ``(i, N-1-i)`` with ``i < N//2`` (``N = (D+1)**2``). The INR is evaluated
only at the ``half`` points and each evaluation gives the Hartley value at both members of the pair.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from napari_cryohype.core.ctf import ctf_from_table
from napari_cryohype.core.fourier import ht2_center, symmetrize_ht
from napari_cryohype.core.lattice import circular_mask, slice_coords, translate_ht


def soft_window(D: int, inner: float = 0.85, outer: float = 0.99) -> Tensor:
    """Real-space circular window (D, D): 1 inside ``inner * D/2``, cosine fall-off to 0 at ``outer * D/2``."""
    r = torch.arange(D, dtype=torch.float32) - D // 2
    rad = torch.sqrt(r[:, None] ** 2 + r[None, :] ** 2) / (D / 2)
    t = ((rad - inner) / (outer - inner)).clamp(0, 1)
    return 0.5 * (1 + torch.cos(math.pi * t))


class SliceGeometry(nn.Module):
    """Lattice buffers for box size ``D``.

    ``coords_half`` (M, 3) cycles/pixel: the evaluated half of the masked slice lattice; ``half_idx`` and
    ``mirror_idx`` (M,) flat indices of those points and of their opposites ``-k`` in the (D+1)**2 lattice.
    """

    def __init__(self, D: int):
        super().__init__()
        self.D = D
        coords = slice_coords(D)
        mask = circular_mask(D)
        n = coords.shape[0]
        idx = torch.arange(n)
        half = idx[mask & (idx < n // 2)]
        self.register_buffer("coords", coords, persistent=False)
        self.register_buffer("half_idx", half, persistent=False)
        self.register_buffer("mirror_idx", n - 1 - half, persistent=False)
        self.register_buffer("coords_half", coords[half], persistent=False)
        self.register_buffer("window", soft_window(D), persistent=False)
        disk = circular_mask(D, ignore_dc=False).reshape(D + 1, D + 1)[:-1, :-1]
        self.register_buffer("disk", disk.float(), persistent=False)
        self.register_buffer("grid_pairs", torch.stack([self._on_grid(half), self._on_grid(n - 1 - half)], 1),
                             persistent=False)

    def _on_grid(self, idx: Tensor) -> Tensor:
        """Flat (D+1)**2 lattice indices -> flat indices into the D x D encoder grid; D*D (a spare slot)
        for the lattice's last row and column, which the encoder grid crops."""
        D = self.D
        row, col = idx // (D + 1), idx % (D + 1)
        return torch.where((row < D) & (col < D), row * D + col, D * D)

    @property
    def n_half(self) -> int:
        return int(self.half_idx.numel())

    def targets(self, images: Tensor, trans_px: Tensor | None, norm_std: Tensor | float = 1.0) -> Tensor:
        """Centred, normalised Hartley transforms on the full lattice: images (B, D, D) -> (B, (D+1)**2).

        The real-space window is applied, the particle is moved by ``trans_px`` (B, 2) pixels (the pose's
        shift, which centres it) and the values are divided by ``norm_std`` (the dataset's std)."""
        ht = symmetrize_ht(ht2_center(images * self.window)).flatten(1)
        if trans_px is not None:
            ht = translate_ht(ht, self.coords[:, :2], trans_px)
        return ht / norm_std

    def ctf_half(self, ctf: Tensor) -> Tensor:
        """CTF at the evaluated half points: ctf (B, 9) table rows -> (B, M); rows of zeros mean no CTF (1).

        The CTF is even in ``k`` so the same values hold at the mirrored points."""
        has = ctf[:, 0] > 0
        safe = torch.where(has[:, None], ctf, torch.ones_like(ctf))
        c = ctf_from_table(safe, self.coords_half[:, :2])
        return torch.where(has[:, None], c, torch.ones_like(c))

    def split(self, full: Tensor) -> Tensor:
        """Values at the (half, mirror) points: (B, (D+1)**2) -> (B, 2M)."""
        return torch.cat([full[:, self.half_idx], full[:, self.mirror_idx]], dim=1)

    def hide_points(self, x: Tensor, points: Tensor) -> Tensor:
        """Encoder images (B, D, D) or (B, C, D, D) without the half points ``points`` (B, K) and their mirrors
        (zeroed in every channel), the other values scaled by M / (M - K) so that a linear layer sees the same
        expected input."""
        B, D = x.shape[0], self.D
        keep = x.new_ones(B, D * D + 1)
        keep.scatter_(1, self.grid_pairs[points].flatten(1), 0.0)
        scale = self.n_half / (self.n_half - points.shape[1])
        keep = keep[:, :-1].reshape(B, D, D)
        return x * (keep if x.dim() == 3 else keep[:, None]) * scale

    def encoder_input(self, full_ht: Tensor, ctf_half: Tensor, kind: str) -> Tensor:
        """Encoder image of the centred transforms ``full_ht`` (B, (D+1)**2), masked to the disk: (B, D, D) phase-
        flipped by the CTF's sign (``kind="hartley"``), or its inverse transform, a centred, CTF-corrected real
        image (``"real"``); or (B, 2, D, D) for ``"ctf"``: the transform times the CTF and the CTF squared, the
        two sums a backprojection keeps (a linear map of both lifted gives 3D classification's least-squares
        score ``2 <c y, s> - <c^2, s^2>``). The DC value, where no CTF is computed, is kept as it is."""
        B, D = full_ht.shape[0], self.D
        weight = torch.ones_like(full_ht)
        w = ctf_half if kind == "ctf" else torch.sign(ctf_half)
        weight[:, self.half_idx] = w
        weight[:, self.mirror_idx] = w
        x = (full_ht * weight).reshape(B, D + 1, D + 1)[:, :-1, :-1] * self.disk
        if kind == "real":
            x = ht2_center(x) / D
        if kind == "ctf":
            power = (weight * weight).reshape(B, D + 1, D + 1)[:, :-1, :-1] * self.disk
            x = torch.stack([x, power], dim=1)
        return x
