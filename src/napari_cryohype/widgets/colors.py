"""Colours of the Latent Explorer's points and their legend: a category palette for clusters and labels,
viridis for a per-image value."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps

from napari_cryohype.core.palette import category_colors
from napari_cryohype.widgets.latent_data import LatentData

_GREY = np.array([0.3, 0.3, 0.3, 0.8], np.float32)
_LEGEND_ENTRIES = 12   # categories named in a legend; the rest are counted


def value_colors(values: np.ndarray) -> np.ndarray:
    """RGBA (N, 4) for a continuous covariate: viridis over its 1st-99th percentile range."""
    values = np.asarray(values, dtype=np.float64)
    lo, hi = np.nanpercentile(values, [1, 99]) if len(values) else (0.0, 1.0)
    t = np.clip((values - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    return colormaps["viridis"](np.nan_to_num(t)).astype(np.float32)


def categories(data: LatentData, by: str) -> np.ndarray | None:
    """The (N,) integer categories of a colouring ``by`` "true label", "classes" or "k-means"; None for any
    other colouring."""
    return {"true label": data.labels, "classes": data.classes, "k-means": data.clusters}.get(by)


def point_colors(data: LatentData, by: str) -> np.ndarray:
    """RGBA (N, 4) of the points coloured ``by`` "true label", "classes", "k-means", a covariate, or else grey."""
    cats = categories(data, by)
    if cats is not None:
        return category_colors(cats)
    if by in data.covariates:
        return value_colors(data.covariates[by])
    return np.tile(_GREY, (data.n, 1))


def legend(data: LatentData, by: str) -> list[tuple[str, tuple]]:
    """Legend of a colouring: one entry per category (at most 12, then a count), or a covariate's range."""
    values = categories(data, by)
    if values is not None:
        cats = np.unique(values)
        name = {"true label": "label", "classes": "class"}.get(by, "cluster")
        entries = [(f"{name} {c}", tuple(category_colors(np.array([c]))[0])) for c in cats[:_LEGEND_ENTRIES]]
        more = len(cats) - _LEGEND_ENTRIES
        return entries + ([(f"… {more} more", (0.5, 0.5, 0.5, 1))] if more > 0 else [])
    if by in data.covariates:
        lo, hi = np.nanpercentile(data.covariates[by], [1, 99])
        colors = value_colors(np.array([lo, hi]))
        return [(f"{by} {lo:.4g}", tuple(colors[0])), (f"{by} {hi:.4g}", tuple(colors[1]))]
    return []
