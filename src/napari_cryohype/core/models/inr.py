"""The implicit neural representation of a volume's Fourier transform: Gaussian Fourier features of a 3D
frequency, then a ReLU MLP with residual middle layers. Output: two numbers ``(a, b)`` per point, the real
and imaginary part of the transform (see :mod:`.slices` for how they give Hartley values).

Weights may be shared (one (in, out) matrix) or per image ((B, in, out), from the hypernetwork); per-image
weights are applied with one batched matmul per layer (``torch.baddbmm``), never a loop over images.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class GaussianFourierFeatures(nn.Module):
    """Gaussian Fourier features ``[sin(k . f_j D/2), cos(k . f_j D/2)]``, ``f_j ~ N(0, sigma**2 I)``,
    ``k`` in cycles/pixel (cryoDRGN's Gaussian encoding). The frequencies are a buffer saved with the model."""

    def __init__(self, n_freqs: int, sigma: float, D: int):
        super().__init__()
        self.register_buffer("freqs", torch.randn(3, n_freqs) * sigma * (D / 2))

    @property
    def out_dim(self) -> int:
        return 2 * self.freqs.shape[1]

    def forward(self, coords: Tensor) -> Tensor:
        """coords (..., 3) cycles/pixel -> (..., 2 n_freqs)."""
        phase = coords @ self.freqs
        return torch.cat([torch.sin(phase), torch.cos(phase)], dim=-1)


def _init_linear(fan_in: int, fan_out: int) -> tuple[Tensor, Tensor]:
    """PyTorch's default Linear initialisation, stored as weight (in, out) and bias (out,)."""
    w = torch.empty(fan_out, fan_in)
    nn.init.kaiming_uniform_(w, a=math.sqrt(5))
    bound = 1 / math.sqrt(fan_in)
    return w.t().contiguous(), torch.empty(fan_out).uniform_(-bound, bound)


class INR(nn.Module):
    """Base network: ``layers`` linear maps, widths in -> width -> ... -> width -> 2.

    Layer 0 takes the positional encoding (plus ``extra_in`` conditioning inputs for the concat baseline),
    layers 1..L-2 are residual (``x = relu(x W + b + x)``), the last one is linear.
    ``weights[j]`` (in_j, out_j) and ``biases[j]`` (out_j,) are the shared base parameters.
    """

    def __init__(self, pe: GaussianFourierFeatures, width: int, layers: int, extra_in: int = 0):
        super().__init__()
        if layers < 2:
            raise ValueError("the INR needs at least 2 layers")
        self.pe = pe
        dims = [pe.out_dim + extra_in] + [width] * (layers - 1) + [2]
        self.shapes = list(zip(dims[:-1], dims[1:]))
        ws, bs = zip(*(_init_linear(i, o) for i, o in self.shapes))
        self.weights = nn.ParameterList(nn.Parameter(w) for w in ws)
        self.biases = nn.ParameterList(nn.Parameter(b) for b in bs)

    def forward(self, feats: Tensor, weights: list[Tensor] | None = None, first: Tensor | None = None) -> Tensor:
        """feats (B, N, in_0) encoded points -> (B, N, 2).

        weights: per-layer matrices, each (B, in, out) per image or None for the shared base weights.
        first: (B, out_0) added to the first layer's pre-activation (the concat baseline's ``z W_z``).
        """
        x = feats
        last = len(self.shapes) - 1
        for j, (b, w_shared) in enumerate(zip(self.biases, self.weights)):
            w = None if weights is None else weights[j]
            if w is None:
                y = torch.matmul(x, w_shared) + b
            else:
                y = torch.baddbmm(b, x, w)
            if j == 0 and first is not None:
                y.add_(first[:, None, :])
            if j == last:
                return y
            if 0 < j and y.shape[-1] == x.shape[-1]:
                y.add_(x)  # residual; in place: neither matmul nor relu backward needs y before it
            x = torch.relu_(y)
        raise AssertionError("unreachable")
