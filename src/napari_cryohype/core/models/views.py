"""Synthetic views: more views of each structure for the encoder than the stack holds.

A mixture of hundreds of structures gives the encoder a few hundred noisy views of each, too few to learn
to name a structure from any one of them (a classifier of the encoder's shape trained on the true labels
fits its training images and names 0.66 of held-out ones at 100 structures). The decoder, though, learns
each structure's map well. So each training image's own map, as the decoder has it now, is rendered at a
random new pose, multiplied by another image's CTF, given Gaussian noise as strong as the image's own
residual, and read by the encoder; the encoder is trained to give that synthetic view the latent it gave
the real image (a stop-gradient target). What the two share is the structure: not the pose (random), not
the CTF (another image's), not the noise (fresh). Only the encoder learns from this loss; the decoder's
map and the real image's latent are held fixed in it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from napari_cryohype.core.rotation import matrix_entries


def random_rotations(n: int, device: torch.device | str, dtype: torch.dtype = torch.float32) -> Tensor:
    """``n`` rotation matrices (n, 3, 3) uniform on SO(3) (normalised Gaussian quaternions), from torch's
    generator (the trainer seeds it)."""
    q = torch.randn(n, 4, device=device, dtype=torch.float64)
    entries = matrix_entries(*(q / q.norm(dim=1, keepdim=True)).unbind(1))
    return torch.stack(entries, dim=1).reshape(n, 3, 3).to(dtype)


def latent_mismatch(synthetic: Tensor, target: Tensor) -> Tensor:
    """Mean squared distance (a scalar) of the synthetic views' latents (B, d) from the real images'
    ``target`` latents (B, d, no gradient), over the batch's spread of the targets about their mean: 0 when
    every view gives its image's latent, about 2 when the views' latents are unrelated to them; unchanged
    when every latent is scaled, so the encoder cannot lower it by shrinking its codes."""
    target = target.detach()
    spread = (target - target.mean(dim=0)).pow(2).sum(dim=1).mean().clamp_min(1e-12)
    return (synthetic - target).pow(2).sum(dim=1).mean() / spread
