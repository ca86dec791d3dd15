"""Per-image latent vectors of a trained run: the weight-token outputs flattened (hyper) or z (concat)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from napari_cryohype.core.run import Run


def batch_inputs(model, batch: dict, device) -> torch.Tensor:
    """Encoder images (B, D, D) of a dataset batch (shift-centred, CTF phase-flipped, normalised)."""
    ctf = batch["ctf"].to(device) if bool((batch["ctf"][:, 0] > 0).any()) else None
    x, _, _ = model.encoder_input(batch["image"].to(device), batch["trans"].to(device), ctf)
    return x


@torch.no_grad()
def compute_latents(run: Run, *, batch_size: int = 64, device: str = "cpu",
                    progress: Callable[[float], None] | None = None) -> np.ndarray:
    """Latents of every image of the run's dataset, in dataset order: (N, d) float32.

    progress(fraction) is called after each batch."""
    model = run.load_model(device)
    ds = run.dataset()
    out = None
    done = 0
    for batch in DataLoader(ds, batch_size=batch_size, shuffle=False):
        z = model.latents(model.encode(batch_inputs(model, batch, device))).float().cpu().numpy()
        if out is None:
            out = np.empty((len(ds), z.shape[1]), dtype=np.float32)
        out[done:done + len(z)] = z
        done += len(z)
        if progress is not None:
            progress(done / len(ds))
    return out
