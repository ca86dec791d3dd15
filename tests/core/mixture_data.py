"""A tiny two-structure particle stack on disk, and a tiny model configuration, for the model tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from napari_cryohype.core.ctf import ctf_from_table
from napari_cryohype.core.fourier import fft2_center, ifft2_center
from napari_cryohype.core.io.contrast import POSITIVE_STATEMENT, SIDECAR
from napari_cryohype.core.io.mrc import write_mrc
from napari_cryohype.core.io.pkl import save_ctf_pkl, save_poses_pkl
from napari_cryohype.core.io.types import Poses
from napari_cryohype.core.lattice import project_volume, slice_coords
from napari_cryohype.core.rotation import random_rotations

#: model and training sizes small enough for a test step in milliseconds (the small preset: ViT encoder)
TINY = dict(preset="small", patch=4, width=32, depth=1, heads=2, mlp_dim=64, tokens_per_layer=4, inr_width=32,
            inr_layers=3, n_freqs=16, zdim=4, encoder_hidden=64, batch_size=8, lr=3e-3, warmup_epochs=0.5,
            log_every=1)
#: the same as `cryohype train` options (batches of 16, one thread)
TINY_ARGS = [a for k, v in TINY.items() if k not in ("preset", "batch_size", "log_every")
             for a in ("--set", f"{k}={v}")] + ["--preset", TINY["preset"], "--batch-size", "16", "--threads", "1"]


def blob_volume(D: int, centres, sigma: float = 1.5) -> torch.Tensor:
    r = torch.arange(D, dtype=torch.float64) - D // 2
    z, y, x = torch.meshgrid(r, r, r, indexing="ij")
    vol = torch.zeros(D, D, D, dtype=torch.float64)
    for (cx, cy, cz), amp in centres:
        vol += amp * torch.exp(-((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) / (2 * sigma**2))
    return vol


def two_volumes(D: int) -> list[torch.Tensor]:
    return [blob_volume(D, [((4, 0, 0), 1.0), ((-3, 2, 1), 2.0)]),
            blob_volume(D, [((0, -4, 2), 2.0), ((2, 3, -3), 1.0), ((-2, -1, -2), 1.5)])]


def write_mixture(folder: Path, n: int = 32, D: int = 16, *, ctf: bool = True, seed: int = 0,
                  shift_px: float = 0.5) -> dict:
    """Write particles.mrcs, poses.pkl, ctf.pkl (if ``ctf``) and labels.npy of two blob structures, and a
    simulation.json that says their contrast is positive, as the simulator's does.

    Returns {"particles", "poses", "ctf", "labels"}: paths (ctf None without CTF) and the label array."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    rots = random_rotations(n, rng).astype(np.float32)
    trans_px = rng.uniform(-shift_px, shift_px, (n, 2)).astype(np.float32)
    vols = two_volumes(D)
    imgs = np.empty((n, D, D), np.float32)
    for k in range(2):
        sel = np.flatnonzero(labels == k)
        if len(sel):
            imgs[sel] = project_volume(vols[k], torch.from_numpy(rots[sel]).double()).float().numpy()
    table = None
    freqs = slice_coords(D)[:, :2].reshape(D + 1, D + 1, 2)[:-1, :-1].reshape(-1, 2)
    ft = fft2_center(torch.from_numpy(imgs))
    # shift the particle by -trans so that translating by +trans centres it
    phase = torch.exp(2j * np.pi * (freqs @ torch.from_numpy(trans_px).T).T).reshape(n, D, D)
    ft = ft * phase
    if ctf:
        table = np.zeros((n, 9), np.float32)
        table[:, 0], table[:, 1] = D, 6.0
        table[:, 2] = table[:, 3] = rng.uniform(10000, 20000, n)
        table[:, 5], table[:, 6], table[:, 7] = 300, 2.7, 0.1
        ft = ft * ctf_from_table(torch.from_numpy(table), freqs).reshape(n, D, D)
    imgs = ifft2_center(ft).real.float().numpy()
    imgs += rng.normal(0, 0.05 * imgs.std(), imgs.shape).astype(np.float32)
    paths = {"particles": folder / "particles.mrcs", "poses": folder / "poses.pkl",
             "ctf": folder / "ctf.pkl" if ctf else None, "labels": labels}
    write_mrc(paths["particles"], imgs, 6.0)
    (folder / SIDECAR).write_text(json.dumps({"contrast": POSITIVE_STATEMENT}))
    save_poses_pkl(paths["poses"], Poses(rots, trans_px / D))
    if ctf:
        save_ctf_pkl(paths["ctf"], table)
    return paths


def trained_run(folder: Path, n: int = 16, **overrides):
    """A :class:`~napari_cryohype.core.run.Run` in ``folder/run`` of the TINY model trained on a two-structure
    mixture of ``n`` images written to ``folder/data``; ``overrides`` change the configuration."""
    from napari_cryohype.core.run import Run
    from napari_cryohype.core.train import Trainer, train_config

    data = write_mixture(Path(folder) / "data", n=n)
    cfg = train_config(particles=str(data["particles"]), poses=str(data["poses"]), ctf=str(data["ctf"]),
                       **{**TINY, **overrides})
    run = Run.create(Path(folder) / "run", cfg)
    list(Trainer(run).run())
    return run
