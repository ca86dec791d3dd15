"""Per-image latent vectors of a trained run: what sets each image's weight tokens (hyper) or z (concat)."""

from __future__ import annotations

import os
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from napari_cryohype.core.run import Run


def batch_inputs(model, batch: dict, device) -> torch.Tensor:
    """Encoder images (B, D, D) of a dataset batch (shift-centred, CTF phase-flipped, normalised)."""
    return _prepare(model, batch, device)[0]


def _prepare(model, batch: dict, device):
    ctf = batch["ctf"].to(device) if bool((batch["ctf"][:, 0] > 0).any()) else None
    return model.encoder_input(batch["image"].to(device), batch["trans"].to(device), ctf)


@torch.no_grad()
def compute_latents(run: Run, *, batch_size: int = 64, device: str = "cpu",
                    progress: Callable[[float], None] | None = None,
                    losses: np.ndarray | None = None) -> np.ndarray:
    """Latents of every image of the run's dataset, in dataset order: (N, d) float32.

    ``losses`` (N,) float array: filled with each image's loss under the model (the training loss,
    masked MSE in normalised units) in the same pass. progress(fraction) is called after each batch."""
    model = run.load_model(device)
    ds = run.dataset()
    if losses is not None and losses.shape != (len(ds),):
        raise ValueError(f"losses must be ({len(ds)},), got {losses.shape}")
    out = None
    done = 0
    for batch in DataLoader(ds, batch_size=batch_size, shuffle=False):
        x, target, ctf_half = _prepare(model, batch, device)
        rots = batch["rot"].to(device)
        cond = model.encode(x, rots)
        z = model.latents(cond).float().cpu().numpy()
        if out is None:
            out = np.empty((len(ds), z.shape[1]), dtype=np.float32)
        out[done:done + len(z)] = z
        if losses is not None:
            losses[done:done + len(z)] = model.image_losses(cond, rots, target, ctf_half).cpu().numpy()
        done += len(z)
        if progress is not None:
            progress(done / len(ds))
    return out


def latents_and_losses(run: Run | str | os.PathLike, *, device: str = "cpu",
                       progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every image's latent (N, d) and loss (N,) under the last checkpoint of ``run`` (a Run or its
    folder), in one pass (:func:`compute_latents`)."""
    if isinstance(run, (str, os.PathLike)):
        run = Run.open(run)
    losses = np.empty(len(run.dataset()), dtype=np.float32)
    return compute_latents(run, device=device, progress=progress, losses=losses), losses
