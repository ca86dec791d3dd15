"""Volumes and images from a trained run.

The INR represents the transform on the half-space (see :func:`napari_cryohype.core.models.model.canonical`),
so a volume is made by evaluating it only at the canonical half of the (D+1)**3 lattice inside the sphere
of radius 1/2 (what training saw; the rest is 0), mirroring with ``H(k) = a - b``, ``H(-k) = a + b``, and
an inverse 3D Hartley transform: about 26 % of the lattice is evaluated. The positional encoding of that
lattice is computed once per model and box size and kept.

Box size: ``D`` other than the training box gives the same field of view at voxel size ``apix * D_train / D``
(Fourier cropping or zero padding), with densities kept comparable.

Selection rule (:func:`decode_selection`): the mean of the volumes of the selected images; by linearity it
is computed as the inverse transform of the mean of their transforms, decoding images in batches.
"""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
import torch
from torch import Tensor

from napari_cryohype.core.fourier import ihtn_center, iht2_center
from napari_cryohype.core.lattice import translate_ht
from napari_cryohype.core.latents import batch_inputs
from napari_cryohype.core.models import Condition, CryoHypeModel
from napari_cryohype.core.run import Run

_CHUNK_FLOATS = 1 << 20      # activations per INR evaluation chunk (images x points x width): ~4 MB, cache-sized
_MODELS: "OrderedDict[tuple, tuple[CryoHypeModel, object]]" = OrderedDict()


def _cached(run: Run, device) -> tuple[CryoHypeModel, object]:
    """The run's model and dataset, kept while its checkpoint is unchanged (a few runs at most)."""
    ckpt = run.checkpoint_path
    key = (str(ckpt.resolve()), os.stat(ckpt).st_mtime_ns if ckpt.exists() else 0, str(device))
    if key not in _MODELS:
        _MODELS[key] = (run.load_model(device), run.dataset())
        while len(_MODELS) > 3:
            _MODELS.popitem(last=False)
    _MODELS.move_to_end(key)
    return _MODELS[key]


def preload(run: Run, device: str = "cpu") -> None:
    """Load the run's model and dataset into the cache the decoders use, and the volume lattice's
    encoding, so that the first decode (a click in the viewer) does not pay for them."""
    model, _ = _cached(run, device)
    volume_lattice(model, model.D)


def volume_lattice(model: CryoHypeModel, D: int) -> tuple[Tensor, Tensor]:
    """The evaluated points of a (D+1)**3 lattice: (flat indices (M,), positional encodings (M, F)).

    Cached on the model per box size."""
    cache = model.__dict__.setdefault("_volume_lattice", {})
    if D not in cache:
        dev = model.norm_std.device
        k = torch.linspace(-0.5, 0.5, D + 1, device=dev)
        kz, ky, kx = torch.meshgrid(k, k, k, indexing="ij")
        coords = torch.stack([kx, ky, kz], -1).reshape(-1, 3) * (D / model.D)  # in training cycles/pixel
        n = coords.shape[0]
        r2 = coords.pow(2).sum(-1)
        keep = (torch.arange(n, device=dev) <= n // 2) & (r2 <= 0.25 + 1e-6)
        idx = torch.nonzero(keep).squeeze(1)
        with torch.no_grad():
            cache[D] = (idx, model.inr.pe(coords[idx]).contiguous())
    return cache[D]


@torch.no_grad()
def volume_transforms(model: CryoHypeModel, cond: Condition, D: int) -> Tensor:
    """Hartley transforms of the conditioned volumes on the (D+1)**3 lattice: (B, (D+1)**3)."""
    idx, feats = volume_lattice(model, D)
    B, n = cond.tokens.shape[0], (D + 1) ** 3
    ht = torch.zeros(B, n, device=feats.device)
    step = max(256, _CHUNK_FLOATS // (B * model.inr.shapes[0][1]))
    for s in range(0, len(idx), step):
        ab = model.evaluate(cond, None, feats[s:s + step]).float()
        i = idx[s:s + step]
        ht[:, n - 1 - i] = ab[..., 0] + ab[..., 1]
        ht[:, i] = ab[..., 0] - ab[..., 1]
    return ht


def transforms_to_volume(model: CryoHypeModel, ht: Tensor, D: int) -> np.ndarray:
    """(D+1)**3 Hartley lattice -> (D, D, D) float32 real volume, in the particles' units."""
    grid = ht.reshape(D + 1, D + 1, D + 1)[:-1, :-1, :-1] * model.norm_std
    vol = ihtn_center(grid) * (D / model.D) ** 3
    return vol.float().cpu().numpy()


def _encode_indices(model, dataset, indices, device) -> Condition:
    items = [dataset[int(i)] for i in indices]
    batch = {k: torch.stack([torch.as_tensor(it[k]) for it in items]) for k in ("image", "trans", "ctf", "rot")}
    return model.encode(batch_inputs(model, batch, device), batch["rot"].to(device))


def _model_and_data(run_or_model, device):
    if isinstance(run_or_model, CryoHypeModel):
        return run_or_model, None
    return _cached(run_or_model, device)


@torch.no_grad()
def decode_images(run_or_model: Run | CryoHypeModel, images_or_indices, D: int | None = None, *,
                  device: str = "cpu") -> np.ndarray:
    """The volume (D, D, D) float32 of ONE image: the first of ``images_or_indices``.

    ``images_or_indices``: dataset indices (int or 1D ints; needs a Run: the image's shift and CTF are
    used), or images (D, D) / (k, D, D) taken as centred and CTF-free. D defaults to the training box."""
    model, dataset = _model_and_data(run_or_model, device)
    D = D or model.D
    arr = np.asarray(images_or_indices)
    if arr.ndim <= 1 and np.issubdtype(arr.dtype, np.integer):
        if dataset is None:
            raise ValueError("decoding by index needs a Run, not a bare model")
        cond = _encode_indices(model, dataset, arr.reshape(-1)[:1], device)
    else:
        if model.needs_pose:
            raise ValueError("this run's encoder reads each image's pose: decode images by their index")
        img = torch.as_tensor(arr.reshape(-1, model.D, model.D)[:1], dtype=torch.float32, device=device)
        x, _, _ = model.encoder_input(img, None, None)
        cond = model.encode(x)
    return transforms_to_volume(model, volume_transforms(model, cond, D)[0], D)


@torch.no_grad()
def decode_selection(run: Run, indices: np.ndarray, D: int | None = None, *, device: str = "cpu",
                     rule: str = "mean", batch_size: int = 16) -> np.ndarray:
    """The volume (D, D, D) float32 of a selection of images; ``rule="mean"``: the mean of their volumes."""
    if rule != "mean":
        raise ValueError(f"unknown selection rule {rule!r} (only 'mean')")
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if len(indices) == 0:
        raise ValueError("empty selection")
    model, dataset = _cached(run, device)
    D = D or model.D
    total = None
    for s in range(0, len(indices), batch_size):
        ht = volume_transforms(model, _encode_indices(model, dataset, indices[s:s + batch_size], device), D).sum(0)
        total = ht if total is None else total + ht
    return transforms_to_volume(model, total / len(indices), D)


def latent_condition(model: CryoHypeModel, latents: np.ndarray | Tensor) -> Condition:
    """The condition of hypernetwork latents (B, d), as :meth:`CryoHypeModel.latents` gives them (the
    encoder turns them back into weight tokens): the tokens modulate the INR's base weights.
    Any point of the latent space is decoded so, e.g. the mean latent of a cluster. ValueError for a concat
    model (its latent z is not the encoder's tokens)."""
    if not model.hyper:
        raise ValueError("decoding a latent needs a hypernetwork (conditioning 'hyper') model")
    dev = model.norm_std.device
    tokens = model.encoder.from_latent(torch.as_tensor(np.asarray(latents, np.float32), device=dev))
    return Condition(tokens, weights=model.conditioning(tokens, list(model.inr.weights)))


@torch.no_grad()
def decode_latents(run: Run, latents: np.ndarray, D: int | None = None, *, device: str = "cpu") -> np.ndarray:
    """The volumes (B, D, D, D) float32 of hypernetwork latents (B, d) (:func:`latent_condition`)."""
    model, _ = _cached(run, device)
    D = D or model.D
    ht = volume_transforms(model, latent_condition(model, latents), D)
    return np.stack([transforms_to_volume(model, h, D) for h in ht])


@torch.no_grad()
def render_projection(run: Run, index: int, *, device: str = "cpu") -> np.ndarray:
    """The model's rendering (D, D) float32 of particle ``index`` at its pose, CTF applied and shifted
    like the particle (frequencies outside the training disk are 0), in the particles' units."""
    model, dataset = _cached(run, device)
    it = dataset[int(index)]
    batch = {k: torch.as_tensor(it[k])[None] for k in ("image", "trans", "ctf", "rot")}
    geo = model.geometry
    ctf = batch["ctf"].to(device) if dataset.has_ctf else None
    x, _, ctf_half = model.encoder_input(batch["image"].to(device), batch["trans"].to(device), ctf)
    rots = batch["rot"].to(device)
    pred = model.render_pairs(model.encode(x, rots), rots) * ctf_half.repeat(1, 2)
    D = model.D
    full = torch.zeros(1, (D + 1) ** 2, device=device)
    full[:, geo.half_idx] = pred[:, :geo.n_half]
    full[:, geo.mirror_idx] = pred[:, geo.n_half:]
    full = translate_ht(full, geo.coords[:, :2], -batch["trans"].to(device))
    img = iht2_center(full.reshape(D + 1, D + 1)[:-1, :-1]) * model.norm_std
    return img.float().cpu().numpy()
