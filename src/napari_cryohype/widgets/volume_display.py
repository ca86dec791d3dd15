"""How a map is drawn in 3D (numpy only): from a Fourier-upsampled copy when the box is small, as an iso
surface by default, with the surface level and the contrast limits taken from the map's own statistics,
in its role's colour.

At 32 px napari's iso surface of the map itself is faceted: its shading takes the gradient 1.5 voxels
apart. The decoded map is band-limited, so zero-padding its Fourier transform is its exact interpolation
on a finer grid: drawn from that copy (at least :data:`DISPLAY_BOX` voxels across), the surface is smooth.

The surface level is a third of the way from the background (the median) to the map's peak (its
99.99th percentile, which a few ringing voxels do not move). On clean simulated maps of nine structures
filling 0.7 % to 14 % of their box, that surface encloses 0.9 to 1.1 times the molecule's volume (1.21 Å³/Da)
at 8 Å resolution, 1.1 to 1.3 times at 12 Å, whatever the fill; the mean + 3 standard deviations encloses
from 1.7 times (a small molecule) down to 0.03 times (a large one: a few specks). A decoded map, low-passed
and with noise in its solvent, gets the same rule from its own statistics, so the two surfaces compare.

napari shades an iso surface by putting the data value just inside it, times the lighting, through the
colormap: the contrast limits run from the background to twice the level's height above it (the surface
at mid-colour; nearer the level it saturates flat, further it is drawn dark). The projections (mip,
attenuated_mip) start halfway up to the level, so the solvent's noise stays black, and end at the peak.
"""

from __future__ import annotations

import math

import numpy as np

DISPLAY_BOX = 64           # volumes narrower than this are drawn from a Fourier-upsampled copy at least this wide
RENDERINGS = ("iso", "attenuated_mip", "mip")   # the choices for a volume's 3D rendering; the first is the default
PEAK_QUANTILE = 0.9999     # a map's peak: this quantile of its voxels
ISO_FRACTION = 1 / 3       # the iso surface this fraction of the way from the background to the peak
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


def background_and_peak(volume: np.ndarray) -> tuple[float, float]:
    """A map's background (its median) and peak (its :data:`PEAK_QUANTILE` quantile)."""
    values = np.asarray(volume).ravel()
    low, peak = np.quantile(values, [0.5, PEAK_QUANTILE])
    return float(low), float(peak)


def _level(low: float, peak: float) -> float:
    return low + ISO_FRACTION * (peak - low)


def iso_threshold(volume: np.ndarray) -> float:
    """The iso-surface level: :data:`ISO_FRACTION` of the way from the map's background to its peak."""
    return _level(*background_and_peak(volume))


def contrast_limits(volume: np.ndarray, rendering: str) -> tuple[float, float]:
    """For ``iso``, from the background to twice the level's height above it; for the projections (mip,
    attenuated_mip), from halfway up to the level to the peak. An empty (constant) volume gets (v, v + 1)."""
    low, peak = background_and_peak(volume)
    level = _level(low, peak)
    lo, hi = (low, low + 2 * (level - low)) if rendering == "iso" else ((low + level) / 2, peak)
    return (lo, hi) if hi > lo else (low, low + 1.0)
