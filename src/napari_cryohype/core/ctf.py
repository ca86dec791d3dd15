"""Contrast transfer function, cryoDRGN's formula and parameter layout.

A CTF table is (N, 9) float: D (pixels), Apix (Å/pixel), defocus U (Å), defocus V (Å), defocus angle
(degrees), voltage (kV), spherical aberration Cs (mm), amplitude contrast w, phase shift (degrees).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

CTF_COLUMNS = ("D", "apix", "dfu", "dfv", "dfang", "volt", "cs", "w", "phase_shift")


def electron_wavelength(volt_kv: Tensor | float) -> Tensor | float:
    """Relativistic electron wavelength in Å for an accelerating voltage in kV."""
    v = volt_kv * 1000.0
    return 12.2639 / (v + 0.97845e-6 * v**2) ** 0.5


def compute_ctf(freqs: Tensor, dfu: Tensor, dfv: Tensor, dfang: Tensor, volt: Tensor, cs: Tensor,
                w: Tensor, phase_shift: Tensor | float = 0.0, bfactor: Tensor | float | None = None) -> Tensor:
    """CTF at spatial frequencies.

    freqs: (..., N, 2) in 1/Å, columns (kx, ky). Parameters are (..., 1) tensors or floats in the units
    of the table above (bfactor in Å²). Returns (..., N).
    """
    lam = electron_wavelength(volt)
    cs_a = cs * 1e7
    ang_df = dfang * (math.pi / 180)
    x, y = freqs[..., 0], freqs[..., 1]
    s2 = x**2 + y**2
    df = 0.5 * (dfu + dfv + (dfu - dfv) * torch.cos(2 * (torch.atan2(y, x) - ang_df)))
    gamma = 2 * math.pi * (-0.5 * df * lam * s2 + 0.25 * cs_a * lam**3 * s2**2) - phase_shift * (math.pi / 180)
    ctf = (1 - w**2) ** 0.5 * torch.sin(gamma) - w * torch.cos(gamma)
    if bfactor is not None:
        ctf = ctf * torch.exp(-bfactor / 4 * s2)
    return ctf


def ctf_from_table(params: Tensor, freqs2d: Tensor, bfactor: float | None = None) -> Tensor:
    """CTF of each image from its table row.

    params: (B, 9) rows of the CTF table; freqs2d: (N, 2) in cycles/pixel (converted with each row's
    Apix). Returns (B, N).
    """
    p = params[:, :, None]  # (B, 9, 1)
    freqs = freqs2d[None] / p[:, 1, :, None]  # (B, N, 2) in 1/Å
    return compute_ctf(freqs, p[:, 2], p[:, 3], p[:, 4], p[:, 5], p[:, 6], p[:, 7], p[:, 8], bfactor)
