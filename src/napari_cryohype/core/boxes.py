"""Which image box sizes a model configuration can take, checked before a run folder is made.

The image encoder decides (the ViT needs a multiple of its patch size; the lattice an even box). The check
builds the encoder on PyTorch's ``meta`` device: no memory, no weights, the encoder's own rule.
"""

from __future__ import annotations

from pathlib import Path

import torch

from napari_cryohype.core.errors import InputError
from napari_cryohype.core.models.encoders import build_encoder


def box_problem(model_cfg: dict, D: int) -> str | None:
    """Why a model of ``model_cfg`` (a run's ``config["model"]``) cannot take D x D pixel images, or None."""
    if D % 2 or D < 4:
        return f"the box must be an even number of pixels >= 4, got {D}"
    try:
        with torch.device("meta"):
            build_encoder(model_cfg["encoder"], D, 1, model_cfg)
    except ValueError as err:
        return str(err)
    return None


def boxes_that_work(model_cfg: dict, near: int, count: int = 2, search: int = 256) -> list[int]:
    """Up to ``count`` box sizes (pixels) that ``model_cfg`` can take: the nearest below and above ``near``
    (within ``search`` pixels), the closer first (the smaller on a tie)."""
    below = next((D for D in range(near - 1, max(3, near - search), -1) if box_problem(model_cfg, D) is None), None)
    above = next((D for D in range(near + 1, near + search) if box_problem(model_cfg, D) is None), None)
    found = [D for D in (below, above) if D is not None]
    return sorted(found, key=lambda D: (abs(D - near), D))[:count]


def check_model_box(model_cfg: dict, D: int, source: str | Path | None = None) -> None:
    """InputError (one line naming ``source``, the images) unless the model can take D x D images; the
    message names the nearest boxes that work and how to resize to one (--box)."""
    problem = box_problem(model_cfg, D)
    if problem is None:
        return
    near = boxes_that_work(model_cfg, D)
    hint = " or ".join(str(b) for b in near)
    raise InputError(f"the {model_cfg['encoder']} encoder cannot take {D} px images ({problem}); boxes near it "
                     f"that work: {hint}. Give --box {near[0] if near else 'D'} to Fourier-crop (or pad) the "
                     "images to that box while they are read", source)
