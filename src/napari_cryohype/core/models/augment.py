"""Training-time augmentation of the encoder's input.

``rotate_in_plane``: the encoder reads its image turned about the zero frequency by a random angle, so
that it sees each structure in more orientations than the stack holds and learns codes that do not
depend on the in-plane angle. Only the encoder's view changes: the loss still compares the decoder's
slice at the image's own pose with the image itself, so the physics (pose, shift, CTF) is untouched.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def rotate_in_plane(x: Tensor, angles: Tensor) -> Tensor:
    """Images (B, D, D) ``[y, x]`` turned by ``angles`` (B,) radians about pixel (D//2, D//2), the zero
    frequency of a centred transform: what sat at offset (x, y) from it moves to
    (x cos a - y sin a, x sin a + y cos a). Bilinear; zero where the turned image has no source."""
    B, D = x.shape[0], x.shape[-1]
    c, s = torch.cos(angles), torch.sin(angles)
    rot = torch.stack([torch.stack([c, s], 1), torch.stack([-s, c], 1)], 1).to(x.dtype)   # (B, 2, 2)
    centre = torch.full((2,), (2 * (D // 2) + 1) / D - 1, dtype=x.dtype, device=x.device)  # grid units
    theta = torch.cat([rot, (centre - rot @ centre)[..., None]], dim=2)
    grid = F.affine_grid(theta, [B, 1, D, D], align_corners=False)
    return F.grid_sample(x[:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[:, 0]


def random_angles(n: int, device: torch.device | str) -> Tensor:
    """``n`` angles uniform in [0, 2 pi) radians, from torch's generator (the trainer seeds it)."""
    return torch.rand(n, device=device) * (2 * math.pi)
