"""Which scatter points a lasso, box or click picks: pure numpy, no Qt (the scatter canvas calls these).

Points and shapes are in the scatter's data coordinates. :class:`PointIndex` sorts the points by y once;
then a lasso is an even-odd crossing test in which each polygon edge only visits the points whose y lies
in its own y-span (a contiguous run of the sorted points), so the work is about (edges crossed by a
horizontal line) x (points in the polygon's y-range) — for a lasso, ~2N — instead of N x (vertices) for
``matplotlib.path.Path.contains_points``. ``benchmarks/bench_scatter.py`` measures both.
"""

from __future__ import annotations

import numpy as np


class PointIndex:
    """The points ``xy`` (N, 2), sorted by y, for fast lasso, box and nearest-point queries."""

    def __init__(self, xy: np.ndarray):
        self.xy = np.asarray(xy)
        x, y = np.ascontiguousarray(self.xy[:, 0]), np.ascontiguousarray(self.xy[:, 1])
        self._order = np.argsort(y)
        self._ys = y[self._order].astype(np.float64)
        self._xs = x[self._order].astype(np.float64)

    def __len__(self) -> int:
        return len(self._order)

    def _y_range(self, lo: float, hi: float) -> tuple[int, int]:
        """The run [i0, i1) of sorted points with lo <= y < hi."""
        return int(np.searchsorted(self._ys, lo, "left")), int(np.searchsorted(self._ys, hi, "left"))

    def in_polygon(self, polygon: np.ndarray) -> np.ndarray:
        """Ascending int64 indices of the points inside ``polygon`` (M, 2) (closed implicitly; even-odd rule)."""
        poly = np.asarray(polygon, dtype=np.float64)
        if len(poly) < 3 or len(self) == 0:
            return np.empty(0, dtype=np.int64)
        i_lo, i_hi = self._y_range(poly[:, 1].min(), np.nextafter(poly[:, 1].max(), np.inf))
        xs, ys = self._xs[i_lo:i_hi], self._ys[i_lo:i_hi]
        parity = np.zeros(i_hi - i_lo, dtype=bool)
        base = i_lo
        for (xa, ya), (xb, yb) in zip(poly, np.roll(poly, -1, axis=0)):
            if ya == yb:
                continue  # a horizontal edge crosses no horizontal ray under the half-open rule
            # the ray from (x, y) towards +x crosses this edge iff min(ya, yb) <= y < max(ya, yb)
            # and x < the edge's x at y
            i0, i1 = self._y_range(min(ya, yb), max(ya, yb))
            i0, i1 = i0 - base, i1 - base
            x_at = xa + (ys[i0:i1] - ya) * ((xb - xa) / (yb - ya))
            parity[i0:i1] ^= xs[i0:i1] < x_at
        return np.sort(self._order[i_lo:i_hi][parity]).astype(np.int64)

    def in_box(self, corner_a, corner_b) -> np.ndarray:
        """Ascending int64 indices of the points inside the axis-aligned box spanned by two corners."""
        lo = np.minimum(corner_a, corner_b)
        hi = np.maximum(corner_a, corner_b)
        i0, i1 = self._y_range(lo[1], np.nextafter(hi[1], np.inf))
        xs = self._xs[i0:i1]
        keep = (xs >= lo[0]) & (xs <= hi[0])
        return np.sort(self._order[i0:i1][keep]).astype(np.int64)

    def nearest(self, target, max_distance: float, scale=(1.0, 1.0)) -> int | None:
        """Index of the point nearest ``target`` (x, y), or None if none is within ``max_distance``.

        Distances are measured after multiplying x and y offsets by ``scale`` (e.g. screen pixels per
        data unit, so ``max_distance`` is in pixels); ``scale=(1, 1)`` measures in data units.
        """
        sx, sy = float(scale[0]), float(scale[1])
        half = max_distance / sy
        i0, i1 = self._y_range(target[1] - half, np.nextafter(target[1] + half, np.inf))
        if i1 <= i0:
            return None
        d2 = ((self._xs[i0:i1] - target[0]) * sx) ** 2 + ((self._ys[i0:i1] - target[1]) * sy) ** 2
        j = int(np.argmin(d2))
        return int(self._order[i0 + j]) if d2[j] <= max_distance**2 else None


def as_selection(indices, n: int) -> np.ndarray:
    """Sorted unique int64 indices in [0, n) (a boolean mask pass: O(n), unlike a hash-based unique)."""
    mask = np.zeros(n, dtype=bool)
    mask[np.asarray(indices, dtype=np.int64)] = True
    return np.flatnonzero(mask).astype(np.int64)


def combine(current: np.ndarray, picked: np.ndarray, mode: str, n: int) -> np.ndarray:
    """Apply a new pick to a selection of indices in [0, n): mode 'replace', 'add' or 'subtract';
    returns sorted unique int64 indices."""
    if mode not in ("replace", "add", "subtract"):
        raise ValueError(f"unknown selection mode {mode!r}")
    mask = np.zeros(n, dtype=bool)
    if mode != "replace":
        mask[current] = True
    mask[picked] = mode != "subtract"
    return np.flatnonzero(mask).astype(np.int64)


def invert(selection: np.ndarray, n: int) -> np.ndarray:
    """The indices of 0..n-1 not in ``selection`` (ascending int64)."""
    mask = np.ones(n, dtype=bool)
    mask[selection] = False
    return np.flatnonzero(mask).astype(np.int64)
