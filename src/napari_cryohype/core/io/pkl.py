"""cryoDRGN's pickles: poses.pkl, ctf.pkl and indices.pkl."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .atomic import atomic_path
from .types import Poses


def _load(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except Exception as e:  # pickle raises many types for a corrupt or foreign file
        raise InputError(f"not a readable pickle ({type(e).__name__}: {e})", path) from None


def _save(path: str | os.PathLike, obj: Any, overwrite: bool) -> None:
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError("file exists (use --force to overwrite)", path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            pickle.dump(obj, f, protocol=4)


def _array(x: Any, what: str, path: str | os.PathLike) -> np.ndarray:
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} is not a numeric array (got {type(x).__name__})", path) from None


def save_poses_pkl(path: str | os.PathLike, poses: Poses, *, overwrite: bool = False) -> None:
    """Write cryoDRGN's poses.pkl: the tuple (rots (N, 3, 3), trans (N, 2) in fractions of the box)."""
    _save(path, (np.asarray(poses.rots, np.float32), np.asarray(poses.trans, np.float32)), overwrite)


def load_poses_pkl(path: str | os.PathLike) -> Poses:
    """Read a cryoDRGN poses pickle.

    Accepts ``(rots, trans)``, ``(rots,)`` or ``rots`` alone (translations then zero); ``trans`` must
    be in fractions of the box, as cryoDRGN writes it since version 0.3.
    """
    obj = _load(path)
    if isinstance(obj, (tuple, list)) and len(obj) in (1, 2) and np.ndim(obj[0]) == 3:
        parts = list(obj)
    else:
        parts = [obj]
    rots = _array(parts[0], "rotations", path)
    if rots.ndim != 3 or rots.shape[1:] != (3, 3):
        raise InputError(f"expected rotations of shape (N, 3, 3), got {rots.shape}", path)
    if len(parts) == 2:
        trans = _array(parts[1], "translations", path)
        if trans.shape != (len(rots), 2):
            raise InputError(f"expected translations of shape ({len(rots)}, 2), got {trans.shape}", path)
        if np.isfinite(trans).all() and np.abs(trans).max(initial=0) > 1:
            raise InputError("translations larger than the box: they must be fractions of the box "
                             "(cryoDRGN >= 0.3 format), not pixels", path)
    else:
        trans = np.zeros((len(rots), 2))
    return Poses(rots, trans)


def save_ctf_pkl(path: str | os.PathLike, ctf: np.ndarray, *, overwrite: bool = False) -> None:
    """Write cryoDRGN's ctf.pkl: an (N, 9) float32 array (see :mod:`napari_cryohype.core.ctf`)."""
    ctf = np.asarray(ctf, dtype=np.float32)
    if ctf.ndim != 2 or ctf.shape[1] != 9:
        raise ValueError(f"CTF table must be (N, 9), got {ctf.shape}")
    _save(path, ctf, overwrite)


def load_ctf_pkl(path: str | os.PathLike) -> np.ndarray:
    """Read cryoDRGN's ctf.pkl: (N, 9) float32."""
    ctf = _array(_load(path), "CTF table", path)
    if ctf.ndim != 2 or ctf.shape[1] != 9:
        raise InputError(f"expected a CTF table of shape (N, 9), got {ctf.shape}", path)
    return ctf.astype(np.float32)


def save_indices_pkl(path: str | os.PathLike, indices: np.ndarray, *, overwrite: bool = False) -> None:
    """Write cryoDRGN's indices.pkl: a 1D int64 array of selected image indices."""
    indices = np.asarray(indices)
    if indices.ndim != 1 or (indices.size and not np.issubdtype(indices.dtype, np.integer)):
        raise ValueError(f"indices must be a 1D integer array, got {indices.dtype} {indices.shape}")
    _save(path, indices.astype(np.int64), overwrite)


def load_indices_pkl(path: str | os.PathLike) -> np.ndarray:
    """Read cryoDRGN's indices.pkl: a 1D int64 array."""
    obj = _load(path)
    indices = np.asarray(obj)
    if indices.ndim != 1 or (indices.size and not np.issubdtype(indices.dtype, np.integer)):
        raise InputError(f"expected a 1D integer array of indices, got {indices.dtype} {indices.shape}", path)
    return indices.astype(np.int64)
