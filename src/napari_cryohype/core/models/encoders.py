"""Image encoders. Each maps an encoder image (B, D, D) to ``n_tokens`` output tokens (B, n_tokens, width):

- ``vit``: patch tokenizer (non-overlapping p x p patches, one linear layer), optional learned positional
  embedding, ``n_tokens`` learnable weight tokens appended, pre-LayerNorm Transformer (GELU MLP); the
  outputs at the weight-token positions are returned. Exact savings: the first block projects the weight
  tokens (identical for every image) once per batch; the last block computes only their outputs.
- ``mlp``: the flattened image through a residual ReLU MLP to one feature vector ``f``; the tokens are
  ``t_j + f`` (learnable ``t_j``): the same interface, one global code.
- ``lift``: ``mlp`` reading, instead of the image, its central transform placed in 3D at the
  image's pose (:mod:`.lift`): a linear map of it is a correlation with 3D templates, the same function of
  a structure from every direction. Needs the pose (``forward(img, rots)``).
- ``unet``: the contracting path of a U-Net (two 3x3 convolutions per level, stride-2 downsampling)
  pooled to ``f``; tokens as for ``mlp``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .lift import SliceLift


class Block(nn.Module):
    """Pre-LN Transformer block: x + MHSA(LN(x)); x + MLP(LN(x))."""

    def __init__(self, width: int, heads: int, mlp_dim: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not a multiple of heads {heads}")
        self.heads = heads
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, mlp_dim)
        self.fc2 = nn.Linear(mlp_dim, width)

    def forward(self, x: Tensor, last: int | None = None, shared: Tensor | None = None) -> Tensor:
        """x (B, T, W) -> (B, T, W); with ``last``, only the outputs of the last ``last`` tokens are
        computed (they still attend to all tokens): (B, last, W).

        ``shared`` (S, W): tokens that are the same for every image, appended after ``x``; their LayerNorm
        and q, k, v projections are computed once for the batch, not B times (the output is unchanged)."""
        qkv = self.qkv(self.ln1(x))
        if shared is not None:
            B = len(x)
            qkv = torch.cat([qkv, self.qkv(self.ln1(shared)).expand(B, -1, -1)], dim=1)
            x = torch.cat([x, shared.expand(B, -1, -1)], dim=1)
        B, T, W = x.shape
        h = self.heads
        q, k, v = qkv.view(B, T, 3, h, W // h).permute(2, 0, 3, 1, 4)
        if last is not None:
            q, x = q[:, :, -last:], x[:, -last:]
        a = F.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(a.transpose(1, 2).reshape(B, x.shape[1], W))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class ViTEncoder(nn.Module):
    needs_pose = False

    def __init__(self, D: int, n_tokens: int, *, patch: int, width: int, depth: int, heads: int, mlp_dim: int,
                 pos_embed: bool = True, **_):
        super().__init__()
        if D % patch:
            raise ValueError(f"box size {D} is not a multiple of the patch size {patch}")
        self.patch = patch
        n_patches = (D // patch) ** 2
        self.embed = nn.Linear(patch * patch, width)
        self.pos = nn.Parameter(torch.randn(n_patches, width) * 0.02) if pos_embed else None
        self.tokens = nn.Parameter(torch.randn(n_tokens, width) * 0.02)
        self.blocks = nn.ModuleList(Block(width, heads, mlp_dim) for _ in range(depth))

    def forward(self, img: Tensor, rots: Tensor | None = None) -> Tensor:
        B, D, _ = img.shape
        p = self.patch
        x = img.reshape(B, D // p, p, D // p, p).transpose(2, 3).reshape(B, -1, p * p)
        x = self.embed(x)
        if self.pos is not None:
            x = x + self.pos
        n, depth = self.tokens.shape[0], len(self.blocks)
        for i, blk in enumerate(self.blocks):  # the last block computes the weight tokens' outputs only
            x = blk(x, n if i == depth - 1 else None, self.tokens if i == 0 else None)
        return x

    def to_latent(self, tokens: Tensor) -> Tensor:
        """Output tokens (B, q, width) -> latents (B, q * width): every token is its own."""
        return tokens.flatten(1)

    def from_latent(self, z: Tensor) -> Tensor:
        """Latents (B, q * width) -> the output tokens (B, q, width)."""
        return z.reshape(len(z), self.tokens.shape[0], -1)


class _OneCode(nn.Module):
    """An encoder whose tokens are one code per image added to learned tokens: t_j + f. The latent is f
    (B, width): the tokens flattened would repeat it q times. Subclasses set ``tokens`` (q, width) and
    :meth:`code`."""
    needs_pose = False

    def code(self, img: Tensor, rots: Tensor | None) -> Tensor:
        """The image's code f (B, width)."""
        raise NotImplementedError

    def forward(self, img: Tensor, rots: Tensor | None = None) -> Tensor:
        return self.tokens + self.code(img, rots)[:, None, :]

    def to_latent(self, tokens: Tensor) -> Tensor:
        """Output tokens (B, q, width) -> latents f (B, width)."""
        return tokens[:, 0] - self.tokens[0]

    def from_latent(self, z: Tensor) -> Tensor:
        """Latents f (B, width) -> the output tokens (B, q, width). Analyses written before the latent was f
        hold the tokens flattened (B, q * width); those are reshaped."""
        if z.shape[1] == self.tokens.numel():
            return z.reshape(len(z), *self.tokens.shape)
        return self.tokens + z[:, None, :]


class _ResidualMLP(_OneCode):
    """A 3-layer residual ReLU MLP from ``features(img, rots)`` (B, n_in) to the code."""

    def __init__(self, n_in: int, n_tokens: int, width: int, hidden: int):
        super().__init__()
        self.inp = nn.Linear(n_in, hidden)
        self.mid = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(2))
        self.out = nn.Linear(hidden, width)
        self.tokens = nn.Parameter(torch.randn(n_tokens, width) * 0.02)

    def features(self, img: Tensor, rots: Tensor | None) -> Tensor:
        raise NotImplementedError

    def code(self, img: Tensor, rots: Tensor | None) -> Tensor:
        h = torch.relu(self.inp(self.features(img, rots)))
        for lin in self.mid:
            h = torch.relu(lin(h) + h)
        return self.out(h)


class MLPEncoder(_ResidualMLP):
    """The flattened image (B, D*D) through the residual MLP."""

    def __init__(self, D: int, n_tokens: int, *, width: int, encoder_hidden: int, **_):
        super().__init__(D * D, n_tokens, width, encoder_hidden)

    def features(self, img: Tensor, rots: Tensor | None) -> Tensor:
        return img.flatten(1)


class LiftEncoder(_ResidualMLP):
    """The image's slice placed in 3D at its pose (:class:`.lift.SliceLift`, B x size**3; each channel of a
    two-channel ``encoder_input="ctf"`` image in turn, B x 2 size**3) through the residual MLP."""
    needs_pose = True

    def __init__(self, D: int, n_tokens: int, *, width: int, encoder_hidden: int, lift_radius: float,
                 encoder_input: str = "hartley", **_):
        lift = SliceLift(D, lift_radius)
        super().__init__((2 if encoder_input == "ctf" else 1) * lift.n_voxels, n_tokens, width, encoder_hidden)
        self.lift = lift

    def features(self, img: Tensor, rots: Tensor | None) -> Tensor:
        if rots is None:
            raise ValueError("the lift encoder needs each image's pose")
        if img.dim() == 3:
            return self.lift(img, rots)
        B, C = img.shape[:2]
        return self.lift(img.flatten(0, 1), rots.repeat_interleave(C, dim=0)).reshape(B, -1)


class UNetEncoder(_OneCode):
    def __init__(self, D: int, n_tokens: int, *, width: int, encoder_hidden: int, **_):
        super().__init__()
        ch = max(8, encoder_hidden // 64)
        layers, c_in, size = [], 1, D
        while size > 4:
            layers += [nn.Conv2d(c_in, ch, 3, padding=1), nn.ReLU(), nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(),
                       nn.Conv2d(ch, ch, 2, stride=2)]
            c_in, ch, size = ch, min(2 * ch, 256), size // 2
        self.down = nn.Sequential(*layers)
        self.out = nn.Linear(c_in * size * size, width)
        self.tokens = nn.Parameter(torch.randn(n_tokens, width) * 0.02)

    def code(self, img: Tensor, rots: Tensor | None) -> Tensor:
        return self.out(self.down(img[:, None]).flatten(1))


ENCODERS = {"vit": ViTEncoder, "mlp": MLPEncoder, "lift": LiftEncoder, "unet": UNetEncoder}


def build_encoder(name: str, D: int, n_tokens: int, cfg: dict) -> nn.Module:
    """Encoder ``name`` for box size ``D`` producing ``n_tokens`` tokens of ``cfg["width"]``."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; choose from {', '.join(ENCODERS)}")
    return ENCODERS[name](D, n_tokens, **cfg)
