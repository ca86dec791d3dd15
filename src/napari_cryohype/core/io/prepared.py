"""A particle stack as the model reads it: resized to the model's box and with positive contrast.

:class:`PreparedStack` wraps a :class:`~napari_cryohype.core.io.particles.ParticleStack` and applies, to the
images it reads (lazily, a batch at a time), a Fourier crop or pad to ``box`` pixels
(:func:`napari_cryohype.core.fourier.resize_ht2`, cryoDRGN's ``downsample``) and the sign flip of
``invert``. Nothing is precomputed or stored: a stack of any size is resized while it is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import InputError
from ..fourier import resize_ht2
from .particles import ParticleStack, known_apix


def check_box(box: int | None, source: str | Path | None = None) -> None:
    """InputError unless ``box`` is None or an even number of pixels >= 4 (the lattice needs an even box)."""
    if box is not None and (int(box) != box or box < 4 or box % 2):
        raise InputError(f"--box must be an even number of pixels >= 4, got {box}", source)


class PreparedStack:
    """``stack`` read as (N, box, box) images, negated if ``invert``.

    ``prepared[i]`` -> (D, D) float32, ``prepared[slice or index array]`` -> (k, D, D) float32, like the
    stack. Attributes: ``D`` (pixels after resizing), ``source_D`` (the stack's), ``apix`` (Å/pixel after
    resizing: the header's times ``source_D / D``; 0 where the header leaves it unset, see
    :func:`~napari_cryohype.core.io.particles.known_apix`), ``invert``, ``stack``, and the stack's ``path``
    and ``files``. Picklable (DataLoader workers).
    """

    def __init__(self, stack: ParticleStack, box: int | None = None, invert: bool = False):
        check_box(box, stack.path)
        self.stack, self.invert = stack, bool(invert)
        self.source_D = stack.D
        self.D = stack.D if box is None else int(box)
        header = known_apix(stack.apix)
        self.apix = 0.0 if header is None else header * self.source_D / self.D

    @property
    def path(self) -> Path:
        return self.stack.path

    @property
    def files(self) -> list[Path]:
        return self.stack.files

    def __len__(self) -> int:
        return len(self.stack)

    def __getitem__(self, key: int | slice | np.ndarray | Sequence[int]) -> np.ndarray:
        images = self.stack[key]
        if self.D != self.source_D:
            images = resize_ht2(torch.from_numpy(images), self.D).numpy()
        if self.invert:
            images = np.negative(images, out=images)
        return images

    def close(self) -> None:
        """Close the stack's open files (they reopen on the next read)."""
        self.stack.close()

    def __repr__(self) -> str:
        return f"PreparedStack({self.stack!r}, D={self.D}, invert={self.invert})"
