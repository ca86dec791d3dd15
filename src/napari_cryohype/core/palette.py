"""Category colours that stay apart: matplotlib's tab10, then colours chosen one at a time from a grid of
sRGB colours to be as far as possible (CIE 1976 ΔE in L*a*b*) from every colour before them, with a
lightness that reads on a white background. The same colours name a cluster in the plots of
``cryohype analyze`` and in the Latent Explorer."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: L* (0 black .. 100 white) of the added colours: dark enough to see on white, light enough to tell apart
LIGHTNESS = (30.0, 80.0)
_GRID = 18   # levels per sRGB channel of the candidates
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
_SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                         [0.2126729, 0.7151522, 0.0721750],
                         [0.0193339, 0.1191920, 0.9503041]])


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (..., 3) of sRGB colours (..., 3) in [0, 1] (D65 white)."""
    rgb = np.asarray(rgb, dtype=np.float64)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    t = linear @ _SRGB_TO_XYZ.T / _WHITE_D65
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


@lru_cache(maxsize=4)
def category_palette(n: int = 50) -> np.ndarray:
    """(n, 4) float32 RGBA: tab10's ten colours, then each next colour the candidate farthest (ΔE) from all
    before it. Deterministic: the same n gives the same colours."""
    from matplotlib import colormaps

    colours = list(colormaps["tab10"](np.arange(10))[:, :3])[:n]
    levels = np.linspace(0, 1, _GRID)
    candidates = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    lab = srgb_to_lab(candidates)
    keep = (lab[:, 0] >= LIGHTNESS[0]) & (lab[:, 0] <= LIGHTNESS[1])
    candidates, lab = candidates[keep], lab[keep]
    nearest = np.linalg.norm(lab[:, None] - srgb_to_lab(np.array(colours))[None], axis=-1).min(axis=1)
    while len(colours) < n:
        best = int(nearest.argmax())
        colours.append(candidates[best])
        nearest = np.minimum(nearest, np.linalg.norm(lab - lab[best], axis=1))
    rgba = np.concatenate([np.array(colours), np.ones((n, 1))], axis=1).astype(np.float32)
    rgba.setflags(write=False)
    return rgba


def category_colors(values: np.ndarray) -> np.ndarray:
    """RGBA (N, 4) float32 of integer categories (N,) (cluster, class, true label): the 50 colours of
    :func:`category_palette`, repeated."""
    palette = category_palette()
    return palette[np.mod(np.asarray(values, dtype=np.int64), len(palette))]
