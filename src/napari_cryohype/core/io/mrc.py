"""MRC maps and image stacks: read a volume, write a volume, stream a stack to disk."""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

import mrcfile
import numpy as np

from ..errors import InputError
from .atomic import atomic_path
from .mrc_warnings import unusual_mrc_said_once


def _check_writable(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise InputError("file exists (use --force to overwrite)", path)


def _set_header(mrc, apix: float) -> None:
    mrc.voxel_size = float(apix)
    mrc.header.origin = (0.0, 0.0, 0.0)
    mrc.header.nxstart = mrc.header.nystart = mrc.header.nzstart = 0


def read_volume(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Read a cubic map: (D, D, D) float32 indexed [z, y, x], and its voxel size in Å."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    with unusual_mrc_said_once(path):  # said only once the map is found usable
        try:
            with mrcfile.open(path, mode="r", permissive=True) as mrc:
                if mrc.data is None:
                    raise InputError("not a readable MRC file", path)
                data = np.asarray(mrc.data, dtype=np.float32).copy()
                apix = float(mrc.voxel_size.x)
        except (ValueError, OSError) as e:
            raise InputError(f"not a readable MRC file ({e})", path) from None
        if data.ndim != 3 or len(set(data.shape)) != 1:
            raise InputError(f"expected a cubic 3D map, got shape {data.shape}", path)
        if not np.isfinite(data).all():
            raise InputError("map contains NaN or infinite values", path)
    return data, apix


def write_mrc(path: str | os.PathLike, data: np.ndarray, apix: float, *, overwrite: bool = False) -> None:
    """Write a map or stack (float32) atomically with voxel size ``apix`` Å and origin 0."""
    path = Path(path)
    _check_writable(path, overwrite)
    with atomic_path(path) as tmp:
        with mrcfile.new(tmp, overwrite=True) as mrc:
            mrc.set_data(np.ascontiguousarray(data, dtype=np.float32))
            _set_header(mrc, apix)


def _write_at(file, data: memoryview, offset: int) -> None:
    """Write all of ``data`` at byte ``offset`` of an open file (os.pwrite where there is one)."""
    view = memoryview(data)
    while view:
        if hasattr(os, "pwrite"):
            done = os.pwrite(file.fileno(), view, offset)
        else:
            file.seek(offset)
            done = file.write(view)
        view, offset = view[done:], offset + done


class MrcStackWriter:
    """Stream an (n, D, D) float32 image stack to ``path`` without holding it in memory.

    Writes under a temporary name; a successful :meth:`close` (or leaving the ``with`` block normally)
    renames it to ``path``; an exception inside the block, or :meth:`abort`, removes it. Header statistics
    are accumulated as rows are written. The images go to the file with positioned writes (``os.pwrite``),
    not through a memory map, so the writer's resident memory stays one chunk whatever the stack's size.
    """

    def __init__(self, path: str | os.PathLike, n: int, D: int, apix: float, *, overwrite: bool = False):
        self.path = Path(path)
        _check_writable(self.path, overwrite)
        self.n, self.D, self.apix = int(n), int(D), float(apix)
        self._stats = [np.inf, -np.inf, 0.0, 0.0]  # min, max, sum, sum of squares
        self._atomic = ExitStack()
        tmp = self._atomic.enter_context(atomic_path(self.path))
        try:
            self._mrc = mrcfile.new_mmap(tmp, shape=(self.n, self.D, self.D), mrc_mode=2, overwrite=True)
            self._mrc.set_image_stack()
            _set_header(self._mrc, self.apix)
            self._dtype = self._mrc.data.dtype  # float32 in the header's byte order
            self._offset = int(self._mrc.header.nbytes + self._mrc.extended_header.nbytes)
            self._file = open(tmp, "r+b", buffering=0)
        except BaseException as e:
            self._atomic.__exit__(type(e), e, e.__traceback__)
            raise

    def write(self, start: int, images: np.ndarray) -> None:
        """Write images (k, D, D) (or one (D, D) image) to rows ``start .. start + k``."""
        if self._mrc is None:
            raise ValueError(f"{self.path}: writer is closed")
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == 2:
            images = images[None]
        if images.shape[1:] != (self.D, self.D) or start < 0 or start + len(images) > self.n:
            raise ValueError(f"cannot write {images.shape} at row {start} of a ({self.n}, {self.D}, {self.D}) stack")
        data = np.ascontiguousarray(images, dtype=self._dtype)
        _write_at(self._file, memoryview(data).cast("B"), self._offset + start * self.D * self.D * data.itemsize)
        if images.size:
            s, flat = self._stats, data.reshape(-1)
            s[0], s[1] = min(s[0], float(flat.min())), max(s[1], float(flat.max()))
            s[2] += float(flat.sum(dtype=np.float64))
            s[3] += float(np.einsum("i,i->", flat, flat, dtype=np.float64))  # buffered: no float64 copy

    def close(self) -> None:
        """Finish the header and move the file into place."""
        self._finish(None)

    def abort(self) -> None:
        """Discard the partial file."""
        self._finish(RuntimeError("aborted"))

    def _finish(self, exc: BaseException | None) -> None:
        if self._mrc is None:
            return
        mrc, self._mrc = self._mrc, None
        try:
            self._file.close()
            if exc is None:
                self._write_stats(mrc)
            mrc.close()
        except BaseException as e:
            self._atomic.__exit__(type(e), e, e.__traceback__)
            raise
        if exc is None:
            self._atomic.close()
        else:
            self._atomic.__exit__(type(exc), exc, exc.__traceback__)

    def _write_stats(self, mrc) -> None:
        lo, hi, total, squares = self._stats
        count = self.n * self.D * self.D
        if count and lo <= hi:
            mean = total / count
            mrc.header.dmin, mrc.header.dmax, mrc.header.dmean = lo, hi, mean
            mrc.header.rms = max(squares / count - mean**2, 0.0) ** 0.5
        else:
            mrc.reset_header_stats()

    def __del__(self) -> None:  # never closed: discard the partial file rather than leave it behind
        try:
            if getattr(self, "_mrc", None) is not None:
                self.abort()
        except Exception:
            pass

    def __enter__(self) -> "MrcStackWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._finish(exc)
