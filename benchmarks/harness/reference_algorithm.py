"""The CryoHype reference implementation's training step, re-implemented as a same-process speed baseline.

Written from the facts in the reference's description (`../shared/method-notes.md`, summarised in
`docs/model.md`), not from its code. It keeps the reference's sizes and algorithm where ours differs:

- every token goes through every Transformer block, the weight tokens are copied per image, and attention
  is an explicit ``softmax(q k^T / sqrt(d)) v`` (ours: the first block projects the shared weight tokens
  once, the last block computes only their outputs, fused attention);
- per-image INR weights are stored ``(in + 1, out)`` with the bias as the last row and applied to
  ``[x, 1]``; the INR outputs one Hartley value and is evaluated at **every** point of the masked slice
  (ours: shared biases, two outputs at half the points, see ``napari_cryohype.core.models.slices``).

It trains the same kind of model (not the same numbers: its initialisation and output head differ), so
``bench_train.py`` can print our speed as a ratio to it, measured in the same process on the same batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from napari_cryohype.core.models.inr import GaussianFourierFeatures
from napari_cryohype.core.models.slices import SliceGeometry


class _Block(nn.Module):
    def __init__(self, width: int, heads: int, mlp_dim: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.q = nn.Linear(width, width, bias=False)
        self.kv = nn.Linear(width, 2 * width, bias=False)
        self.out = nn.Linear(width, width)
        self.ff = nn.Sequential(nn.Linear(width, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, width))

    def forward(self, x: Tensor) -> Tensor:
        B, T, W = x.shape
        h = self.ln1(x)
        q = self.q(h).view(B, T, self.heads, -1).transpose(1, 2)
        k, v = self.kv(h).view(B, T, 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
        x = x + self.out((att @ v).transpose(1, 2).reshape(B, T, W))
        return x + self.ff(self.ln2(x))


class ReferenceAlgorithm(nn.Module):
    """The reference's model for box ``D`` from one of our model configs (``cfg`` as in presets)."""

    def __init__(self, cfg: dict, D: int):
        super().__init__()
        w, p = cfg["width"], cfg["patch"]
        self.patch, self.geometry = p, SliceGeometry(D)
        self.pe = GaussianFourierFeatures(cfg["n_freqs"], cfg["pe_sigma"], D)
        dims = [self.pe.out_dim] + [cfg["inr_width"]] * (cfg["inr_layers"] - 1) + [1]
        self.shapes = list(zip(dims[:-1], dims[1:]))
        self.groups = [min(cfg["tokens_per_layer"], o) for _, o in self.shapes[:-1]] + [cfg["output_tokens"]]
        self.base = nn.ParameterList(nn.Parameter(torch.randn(i + 1, o) / math.sqrt(i)) for i, o in self.shapes)
        self.heads = nn.ModuleList(nn.Sequential(nn.LayerNorm(w), nn.Linear(w, i)) for i, _ in self.shapes)
        self.embed = nn.Linear(p * p, w)
        self.tokens = nn.Parameter(torch.randn(sum(self.groups), w))
        self.blocks = nn.ModuleList(_Block(w, cfg["heads"], cfg["mlp_dim"]) for _ in range(cfg["depth"]))

    def forward(self, images: Tensor, rots: Tensor, trans_px: Tensor, ctf: Tensor) -> Tensor:
        """The training loss of a batch: images (B, D, D), rots (B, 3, 3), trans_px (B, 2), ctf (B, 9)."""
        geo, B, D = self.geometry, images.shape[0], images.shape[-1]
        full = geo.targets(images, trans_px)
        pts = torch.cat([geo.half_idx, geo.mirror_idx])             # the whole masked slice
        target = full[:, pts]
        c_half = geo.ctf_half(ctf)
        c = torch.cat([c_half, c_half], dim=1)
        x = geo.encoder_input(full, c_half, "hartley")
        x = x.reshape(B, D // self.patch, self.patch, D // self.patch, self.patch).transpose(2, 3)
        t = torch.cat([self.embed(x.reshape(B, -1, self.patch ** 2)), self.tokens.expand(B, -1, -1)], dim=1)
        for blk in self.blocks:
            t = blk(t)
        t = t[:, -self.tokens.shape[0]:]
        h = self.pe(geo.coords[pts] @ rots)                          # (B, 2M, F)
        start, last = 0, len(self.shapes) - 1
        for j, (head, g, wb) in enumerate(zip(self.heads, self.groups, self.base)):
            m = head(t[:, start:start + g]).transpose(1, 2)          # (B, in, g)
            start += g
            wgt = wb[:-1].expand(B, -1, -1) * m.repeat(1, 1, wb.shape[1] // g)
            wgt = torch.cat([F.normalize(wgt, dim=1), wb[-1:].expand(B, -1, -1)], dim=1)
            y = torch.cat([h, torch.ones_like(h[..., :1])], dim=-1) @ wgt
            h = y if j == last else torch.relu(y + h if 0 < j else y)
        return (h[..., 0] * c - target).pow(2).mean()
