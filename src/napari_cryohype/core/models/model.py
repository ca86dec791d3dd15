"""CryoHype: an image encoder conditions an INR of the volume's Fourier transform (hypernetwork or concat)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .augment import random_angles, rotate_in_plane
from .conditioning import ConcatConditioning, HyperConditioning
from .encoders import build_encoder
from .inr import INR, GaussianFourierFeatures
from .presets import check_model
from .slices import SliceGeometry
from .views import latent_mismatch, random_rotations


@dataclass
class Condition:
    """What one batch of images contributes to the INR. tokens (B, q, width): encoder outputs; weights:
    per-image INR weights [(B, in_j, out_j)] (hyper) or None; z (B, zdim) and first (B, out_0) (concat)."""
    tokens: Tensor
    weights: list[Tensor] | None = None
    z: Tensor | None = None
    first: Tensor | None = None

    def select(self, idx: Tensor | slice) -> "Condition":
        """The condition of a subset of the batch."""
        return Condition(self.tokens[idx], None if self.weights is None else [w[idx] for w in self.weights],
                         None if self.z is None else self.z[idx], None if self.first is None else self.first[idx])


def canonical(coords: Tensor) -> tuple[Tensor, Tensor]:
    """Map frequencies to the half-space the INR represents: coords (..., 3) -> (canonical coords, flip).

    ``flip`` marks points lexicographically after zero in (kz, ky, kx); they are replaced by ``-k``. With
    ``(a, b)`` the INR's output at the canonical point, ``H(k) = a - b`` unflipped and ``a + b`` flipped."""
    kx, ky, kz = coords.unbind(-1)
    flip = (kz > 0) | ((kz == 0) & ((ky > 0) | ((ky == 0) & (kx > 0))))
    return torch.where(flip[..., None], -coords, coords), flip


class CryoHypeModel(nn.Module):
    """The whole model for box size ``D``; ``cfg`` is the run's ``config["model"]``.

    ``encode(x)`` encoder images (B, D, D) -> :class:`Condition`; ``latents(cond)`` -> (B, d);
    ``render(cond, coords)`` Hartley values at any frequencies; ``forward`` = the training loss.
    With :attr:`keep_latents` set, ``forward`` also keeps its batch's latents in :attr:`last_latents`.
    """

    #: when True, :meth:`forward` keeps its batch's latents (B, d), detached, in :attr:`last_latents`:
    #: the encoder pass the loss needs anyway gives them (the Train widget's live map)
    keep_latents: bool = False
    last_latents: Tensor | None = None

    def __init__(self, cfg: dict, D: int):
        super().__init__()
        self.cfg, self.D = dict(cfg), D
        check_model(cfg)
        self.hyper = cfg["conditioning"] == "hyper"
        self.inr = INR(GaussianFourierFeatures(cfg["n_freqs"], cfg["pe_sigma"], D), cfg["inr_width"], cfg["inr_layers"])
        if self.hyper:
            self.conditioning = HyperConditioning(self.inr.shapes, cfg["width"], cfg["tokens_per_layer"],
                                                  cfg["output_tokens"])
        else:
            self.conditioning = ConcatConditioning(cfg["width"], cfg["zdim"], cfg["inr_width"])
        self.encoder = build_encoder(cfg["encoder"], D, self.conditioning.n_tokens, cfg)
        self.geometry = SliceGeometry(D)
        self.latent_noise = float(cfg.get("latent_noise", 0.0))
        self.register_buffer("norm_std", torch.tensor(1.0))  # the dataset's std of the transforms (trainer sets it)

    # -- conditioning ---------------------------------------------------------------------------------
    def encoder_input(self, images: Tensor, trans_px: Tensor | None, ctf: Tensor | None
                      ) -> tuple[Tensor, Tensor, Tensor]:
        """Prepare particles: images (B, D, D), trans_px (B, 2), ctf (B, 9) -> (encoder images (B, D, D),
        targets (B, 2M) at the half and mirrored points, CTF at the half points (B, M))."""
        geo = self.geometry
        full = geo.targets(images, trans_px, self.norm_std)
        ctf_half = geo.ctf_half(ctf) if ctf is not None else torch.ones(len(images), geo.n_half, device=images.device)
        return geo.encoder_input(full, ctf_half, self.cfg["encoder_input"]), geo.split(full), ctf_half

    @property
    def needs_pose(self) -> bool:
        """Whether :meth:`encode` needs each image's rotation (the ``lift`` encoder)."""
        return self.encoder.needs_pose

    def encode(self, x: Tensor, rots: Tensor | None = None, noisy: bool = False) -> Condition:
        """Encoder images (B, D, D) (see :meth:`encoder_input`) and their rotations (B, 3, 3), which only a
        pose-reading encoder (:attr:`needs_pose`) uses -> :class:`Condition`; ``noisy``: with the training
        noise of :meth:`noised`."""
        tokens = self.scaled(self.encoder(x, rots))
        return self.condition(self.noised(tokens) if noisy else tokens)

    def scaled(self, tokens: Tensor) -> Tensor:
        """The encoder's tokens (B, q, width) with ``latent_noise`` set: each latent scaled to unit RMS; else
        unchanged."""
        if self.latent_noise <= 0:
            return tokens
        f = self.encoder.to_latent(tokens)
        return self.encoder.from_latent(f * torch.rsqrt(f.square().mean(1, keepdim=True) + 1e-8))

    def noised(self, tokens: Tensor) -> Tensor:
        """:meth:`scaled` tokens (B, q, width) with Gaussian noise of std ``latent_noise`` added to each latent
        (training); unchanged when it is 0."""
        if self.latent_noise <= 0:
            return tokens
        f = self.encoder.to_latent(tokens)
        return self.encoder.from_latent(f + self.latent_noise * torch.randn_like(f))

    def condition(self, tokens: Tensor) -> Condition:
        """Tokens (B, q, width) -> :class:`Condition` (the per-image INR weights, or concat's z)."""
        if self.hyper:
            return Condition(tokens, weights=self.conditioning(tokens, list(self.inr.weights)))
        z, first = self.conditioning(tokens)
        return Condition(tokens, z=z, first=first)

    def latents(self, cond: Condition) -> Tensor:
        """Per-image latent vectors (B, d): what sets the weight tokens (hyper: the tokens flattened for the
        ViT, the one code f for the mlp, lift and unet encoders, whose tokens are t_j + f) or ``z`` (concat)."""
        return self.encoder.to_latent(cond.tokens) if self.hyper else cond.z

    def token_latents(self, tokens: Tensor) -> Tensor:
        """:meth:`latents` from the encoder's tokens alone (B, q, width) -> (B, d), without making the INR's
        per-image weights."""
        return self.encoder.to_latent(tokens) if self.hyper else self.conditioning(tokens)[0]

    # -- rendering ------------------------------------------------------------------------------------
    def evaluate(self, cond: Condition, coords: Tensor, feats: Tensor | None = None) -> Tensor:
        """The INR's (a, b) = (Re, Im) of the transform at canonical coords (B, N, 3) -> (B, N, 2).

        ``feats`` (N, F) or (B, N, F): precomputed positional encodings of ``coords`` (optional)."""
        f = self.inr.pe(coords) if feats is None else feats
        if f.dim() == 2:
            f = f.expand(len(cond.tokens), -1, -1)
        return self.inr(f, cond.weights, cond.first)

    def render(self, cond: Condition, coords: Tensor) -> Tensor:
        """Hartley values at any frequencies: coords (B, N, 3) cycles/pixel -> (B, N)."""
        c, flip = canonical(coords)
        ab = self.evaluate(cond, c)
        return torch.where(flip, ab[..., 0] + ab[..., 1], ab[..., 0] - ab[..., 1])

    def render_pairs(self, cond: Condition, rots: Tensor, points: Tensor | None = None) -> Tensor:
        """The slice of each pose at the half and mirrored points: rots (B, 3, 3) -> (B, 2M), evaluating the
        INR only at the M half points. ``points`` (B, K): indices of a subset of the half points per image
        -> (B, 2K), the subset's values then their mirrors'."""
        coords = self.geometry.coords_half if points is None else self.geometry.coords_half[points]
        c, flip = canonical(coords @ rots)
        ab = self.evaluate(cond, c)
        s, t = ab[..., 0] - ab[..., 1], ab[..., 0] + ab[..., 1]  # H at the canonical point and at its opposite
        return torch.cat([torch.where(flip, t, s), torch.where(flip, s, t)], dim=1)

    def image_losses(self, cond: Condition, rots: Tensor, target: Tensor, ctf_half: Tensor,
                     points: Tensor | None = None) -> Tensor:
        """Per-image loss (B,): masked MSE between CTF x rendered slice and the target transform, from
        :meth:`encode`'s condition and :meth:`encoder_input`'s targets and CTF; over the pairs of the half
        points ``points`` (B, K) only, when given (an unbiased estimate of the full loss)."""
        if points is not None:
            m = ctf_half.shape[1]
            target = torch.cat([target[:, :m].gather(1, points), target[:, m:].gather(1, points)], dim=1)
            ctf_half = ctf_half.gather(1, points)
        pred = self.render_pairs(cond, rots, points)
        return (pred.float() * ctf_half.repeat(1, 2) - target).pow(2).mean(dim=1)

    def sample_points(self, batch: int, n_points: int, device: torch.device) -> Tensor | None:
        """``n_points`` distinct random half points per image, (batch, n_points) indices; None when that is
        all of them."""
        m = self.geometry.n_half
        if n_points >= m:
            return None
        return torch.rand(batch, m, device=device).topk(n_points, dim=1, sorted=False).indices

    def synthetic_views(self, cond: Condition, ctf_half: Tensor, noise_var: Tensor, n_hidden: int | None
                        ) -> tuple[Tensor, Tensor]:
        """Each image's map as the decoder has it (``cond``), seen anew (:mod:`.views`): rendered at a random
        pose, times the CTF of the batch's next image (``ctf_half`` (B, M) rolled by one) plus Gaussian noise
        of variance ``noise_var`` (B,) -> (encoder images (B, D, D), their rotations (B, 3, 3)). With
        ``n_hidden`` (the encoder split), that many random half points (and mirrors) are left out, the rest
        scaled as :meth:`SliceGeometry.hide_points` does: the encoder's view of a real image in training;
        only the kept points are rendered. No gradient flows into the images."""
        geo, B = self.geometry, len(ctf_half)
        with torch.no_grad():
            rots = random_rotations(B, ctf_half.device)
            ctf = ctf_half.roll(1, dims=0)
            m = geo.n_half
            points = None if n_hidden is None else self.sample_points(B, m - n_hidden, ctf_half.device)
            clean = self.render_pairs(cond, rots, points).float()
            ctf_kept = ctf if points is None else ctf.gather(1, points)
            values = clean * ctf_kept.repeat(1, 2) + torch.randn_like(clean) * noise_var.sqrt()[:, None]
            where = (torch.cat([geo.half_idx, geo.mirror_idx]).expand(B, -1) if points is None
                     else torch.cat([geo.half_idx[points], geo.mirror_idx[points]], dim=1))
            full = values.new_zeros(B, (self.D + 1) ** 2).scatter_(1, where, values)
            x = geo.encoder_input(full, ctf, self.cfg["encoder_input"])
            return (x if points is None else x * (m / points.shape[1])), rots

    def forward(self, images: Tensor, rots: Tensor, trans_px: Tensor | None, ctf: Tensor | None,
                n_points: int | None = None, rotate_encoder: bool = False, split: bool = False,
                views: float = 0.0) -> Tensor:
        """Training loss: the mean over the batch of :meth:`image_losses` (a scalar); with ``n_points``, over
        that many random half points (and their mirrors) per image; with ``split`` as well, the encoder reads
        only the other points (:meth:`SliceGeometry.hide_points`), so that no value it sees is one the loss
        compares, and an image's noise cannot be passed through to its own loss; with ``rotate_encoder``, the
        encoder reads each image turned by a random in-plane angle (:mod:`.augment`; the target is unchanged)."""
        x, target, ctf_half = self.encoder_input(images, trans_px, ctf)
        points = None if n_points is None else self.sample_points(len(images), n_points, images.device)
        if split:
            if points is None:
                raise ValueError("splitting the points between encoder and loss needs a point fraction below 1")
            x = self.geometry.hide_points(x, points)
        if rotate_encoder:
            x = rotate_in_plane(x, random_angles(len(x), x.device))
        tokens = self.scaled(self.encoder(x, rots))
        cond = self.condition(self.noised(tokens))
        if self.keep_latents:
            with torch.no_grad():   # no graph, no saved tensors: the loss and its gradients are unchanged
                self.last_latents = self.token_latents(tokens).detach()
        losses = self.image_losses(cond, rots, target, ctf_half, points)
        if views <= 0:
            return losses.mean()
        x_views, rots_views = self.synthetic_views(cond, ctf_half, losses.detach(), n_points if split else None)
        mismatch = latent_mismatch(self.token_latents(self.scaled(self.encoder(x_views, rots_views))),
                                   self.token_latents(tokens))
        return losses.mean() + views * mismatch
