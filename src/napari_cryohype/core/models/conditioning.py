"""How the encoder's tokens condition the INR.

``hyper`` (CryoHype): the weight tokens are split into one group per INR layer (``g_j`` tokens for layer
``j``). A per-layer head (LayerNorm + Linear(width -> in_j)) turns the group into a matrix (B, in_j, g_j);
it is tiled across the layer's ``out_j`` columns (column ``c`` uses token ``c mod g_j``), multiplied
element-wise with the layer's shared base weight (in_j, out_j), and every output unit's weight vector is
L2-normalised over its fan-in. Every layer, the output layer included, is modulated; biases are shared.

``concat`` (cryoDRGN's baseline): one token -> LayerNorm + Linear -> ``z`` (zdim), concatenated to the
INR's first-layer input, i.e. ``z W_z`` is added to the first pre-activation; the INR weights are shared.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class HyperConditioning(nn.Module):
    def __init__(self, shapes: list[tuple[int, int]], width: int, tokens_per_layer: int, output_tokens: int):
        super().__init__()
        self.groups = [min(tokens_per_layer, o) for _, o in shapes[:-1]] + [min(output_tokens, shapes[-1][1])]
        for (_, o), g in zip(shapes, self.groups):
            if o % g:
                raise ValueError(f"layer width {o} is not a multiple of its {g} weight tokens")
        self.heads = nn.ModuleList(nn.Sequential(nn.LayerNorm(width), nn.Linear(width, i)) for i, _ in shapes)

    @property
    def n_tokens(self) -> int:
        return sum(self.groups)

    def forward(self, tokens: Tensor, base: list[Tensor]) -> list[Tensor]:
        """tokens (B, n_tokens, width), base weights [(in_j, out_j)] -> per-image weights [(B, in_j, out_j)]."""
        out, start = [], 0
        for head, g, w in zip(self.heads, self.groups, base):
            m = head(tokens[:, start:start + g]).transpose(1, 2)  # (B, in, g)
            start += g
            i, o = w.shape
            mod = w.view(1, i, o // g, g) * m[:, :, None, :]      # column c = k g + r uses token r
            out.append(F.normalize(mod.reshape(-1, i, o), dim=1))
        return out


class ConcatConditioning(nn.Module):
    def __init__(self, width: int, zdim: int, first_out: int):
        super().__init__()
        self.to_z = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, zdim))
        self.z_in = nn.Linear(zdim, first_out, bias=False)  # the z rows of the first layer's weight
        self.n_tokens = 1

    def forward(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """tokens (B, 1, width) -> (z (B, zdim), first-layer contribution z W_z (B, out_0))."""
        z = self.to_z(tokens[:, 0])
        return z, self.z_in(z)
