"""How the explorer draws a volume (numpy only): from a Fourier-upsampled copy when the box is small, with
the iso-surface threshold and the contrast limits taken from the map's statistics, in its role's colour.

At 32 px napari's iso surface of the map itself is faceted: its shading takes the gradient 1.5 voxels
apart. The decoded map is band-limited, so zero-padding its Fourier transform is its exact interpolation
on a finer grid: drawn from that copy (at least :data:`DISPLAY_BOX` voxels across), the surface is smooth.
napari shades an iso surface by putting the data value just inside it, times the lighting, through the
colormap: the contrast limits therefore run from the background (the median) to three times the
threshold's height above it, or the surface is drawn near black (a threshold close to the background) or
flat white (saturated).
"""

from __future__ import annotations

import math

import numpy as np

DISPLAY_BOX = 64           # volumes narrower than this are drawn from a Fourier-upsampled copy at least this wide
ISO_SIGMAS = 3.0           # the iso surface at the mean + this many standard deviations (a "3 sigma" contour)
COLORMAPS = {"true map": "cyan"}   # colormap by role; the decoded volumes are gray


def upsampling(D: int) -> int:
    """The factor a (D, D, D) volume is Fourier-upsampled by for display: 1 from :data:`DISPLAY_BOX` on."""
    return max(1, math.ceil(DISPLAY_BOX / D))


def fourier_upsample(volume: np.ndarray, factor: int) -> np.ndarray:
    """``volume`` (D, D, D) on a grid ``factor`` times finer, by zero-padding its Fourier transform: voxel
    ``i`` of the input is voxel ``factor * i`` of the output, with the same value (float32)."""
    volume = np.asarray(volume, np.float32)
    if factor == 1:
        return volume
    D, n = volume.shape[0], volume.shape[0] * factor
    start = n // 2 - D // 2
    padded = np.zeros((n,) * 3, np.complex64)
    padded[(slice(start, start + D),) * 3] = np.fft.fftshift(np.fft.fftn(volume))
    return (np.fft.ifftn(np.fft.ifftshift(padded)).real * factor**3).astype(np.float32)


def display_copy(volume: np.ndarray) -> tuple[np.ndarray, int]:
    """(the array to draw, its upsampling factor) of a decoded or true map (D, D, D)."""
    factor = upsampling(volume.shape[0])
    return fourier_upsample(volume, factor), factor


def iso_threshold(volume: np.ndarray) -> float:
    """The iso-surface level: the map's mean + :data:`ISO_SIGMAS` standard deviations."""
    volume = np.asarray(volume)
    return float(volume.mean() + ISO_SIGMAS * volume.std())


def contrast_limits(volume: np.ndarray, rendering: str) -> tuple[float, float]:
    """From the background (the median) up: to three times the threshold's height above it for ``iso``,
    to the maximum for the projections (mip, attenuated_mip). An empty (constant) volume gets (v, v + 1)."""
    volume = np.asarray(volume)
    low = float(np.median(volume))
    high = low + 3 * (iso_threshold(volume) - low) if rendering == "iso" else float(volume.max())
    return (low, high) if high > low else (low, low + 1.0)
