"""Centred Fourier and Hartley transforms (cryoDRGN's convention).

The zero frequency of a transform of an even-sized ``D`` grid sits at index ``D // 2`` and the real-space
origin at pixel ``D // 2``. The Hartley transform of a real array is ``Re(F) - Im(F)``; it is real, and its
own inverse up to a factor ``1 / n`` (``n`` = number of elements transformed).
All functions act on the last two (2D) or three (3D) axes and keep leading batch axes.
"""

from __future__ import annotations

import torch
from torch import Tensor

_2D = (-2, -1)
_3D = (-3, -2, -1)


def fft2_center(img: Tensor) -> Tensor:
    """Centred 2D FFT: (..., D, D) real -> (..., D, D) complex, DC at [D//2, D//2]."""
    return torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(img, dim=_2D), dim=_2D), dim=_2D)


def ifft2_center(ft: Tensor) -> Tensor:
    """Inverse of :func:`fft2_center`: (..., D, D) complex -> (..., D, D) complex."""
    return torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(ft, dim=_2D), dim=_2D), dim=_2D)


def fftn_center(vol: Tensor) -> Tensor:
    """Centred 3D FFT: (..., D, D, D) real -> complex, DC at [D//2]*3, axes stay (z, y, x)."""
    return torch.fft.fftshift(torch.fft.fftn(torch.fft.ifftshift(vol, dim=_3D), dim=_3D), dim=_3D)


def ifftn_center(ft: Tensor) -> Tensor:
    """Inverse of :func:`fftn_center`."""
    return torch.fft.fftshift(torch.fft.ifftn(torch.fft.ifftshift(ft, dim=_3D), dim=_3D), dim=_3D)


def ht2_center(img: Tensor) -> Tensor:
    """Centred 2D Hartley transform: (..., D, D) real -> (..., D, D) real."""
    ft = fft2_center(img)
    return ft.real - ft.imag


def iht2_center(ht: Tensor) -> Tensor:
    """Inverse of :func:`ht2_center`: (..., D, D) -> (..., D, D)."""
    d = ht.shape[-1] * ht.shape[-2]
    return ht2_center(ht) / d


def htn_center(vol: Tensor) -> Tensor:
    """Centred 3D Hartley transform: (..., D, D, D) real -> real."""
    ft = fftn_center(vol)
    return ft.real - ft.imag


def ihtn_center(ht: Tensor) -> Tensor:
    """Inverse of :func:`htn_center`."""
    d = ht.shape[-1] * ht.shape[-2] * ht.shape[-3]
    return htn_center(ht) / d


def symmetrize_ht(ht: Tensor) -> Tensor:
    """Pad a centred (..., D, D) transform of even ``D`` to (..., D+1, D+1).

    The appended last row and column repeat the first ones (frequency +1/2 equals -1/2), so that the
    grid matches the odd lattice of :func:`napari_cryohype.core.lattice.slice_coords` and the point
    ``-k`` of flat index ``i`` sits at flat index ``(D+1)**2 - 1 - i``.
    """
    ht = torch.cat([ht, ht[..., :1, :]], dim=-2)
    return torch.cat([ht, ht[..., :, :1]], dim=-1)



def resize_ht2(img: Tensor, D: int) -> Tensor:
    """Fourier-crop (``D < D0``) or zero-pad (``D > D0``) images (..., D0, D0) -> (..., D, D), as cryoDRGN's
    ``downsample``: the central D x D of the centred Hartley transform (or the D0 x D0 transform inside
    zeros), transformed back. The field of view is kept, so the pixel size becomes ``apix * D0 / D`` Å;
    pixel values scale by ``(D0 / D)**2`` (each new pixel holds the sum of the old ones it covers, as in
    cryoDRGN). Crop then pad returns a band-limited image unchanged; pad then crop returns any image."""
    D0 = img.shape[-1]
    if D == D0:
        return img
    ht = ht2_center(img)
    if D < D0:
        start = D0 // 2 - D // 2
        out = ht[..., start:start + D, start:start + D]
    else:
        start = D // 2 - D0 // 2
        out = ht.new_zeros((*ht.shape[:-2], D, D))
        out[..., start:start + D0, start:start + D0] = ht
    return iht2_center(out)
