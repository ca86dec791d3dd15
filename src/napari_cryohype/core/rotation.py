"""Rotations: uniform sampling on SO(3) and conversions between matrices and quaternions."""

from __future__ import annotations

import numpy as np


def matrix_entries(w, x, y, z) -> list:
    """The nine entries, row by row, of the rotation matrices of unit quaternions (w, x, y, z), each given as
    an array (N,) (numpy or torch: only arithmetic is used)."""
    return [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (N, 4) as (w, x, y, z) -> rotation matrices (N, 3, 3)."""
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.stack(matrix_entries(*q.T), axis=-1).reshape(-1, 3, 3)


def random_rotations(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rotation matrices (n, 3, 3) float64 drawn uniformly (Haar measure) from SO(3)."""
    return quaternion_to_matrix(rng.standard_normal((n, 4)))
