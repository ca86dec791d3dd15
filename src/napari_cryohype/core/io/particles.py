"""Lazy particle image stacks, read image by image.

A :class:`ParticleStack` is a list of MRC files plus, for each particle, which file and which image in it.
Images are read on demand with positioned reads (``os.pread``) of just their bytes, so a stack larger than
RAM is usable and the process holds only the images it asked for: a memory map would instead count every
page it touched in the process's resident memory (RssFile), which grows to the file's size over one pass
through a large stack. Files are reopened lazily after pickling (DataLoader workers). Sources: one
.mrcs/.mrc, a list of (file, index) references (RELION .star, cryoSPARC .cs) or a .txt listing .mrcs files.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import mrcfile
import mrcfile.utils
import numpy as np
import pandas as pd

from ..errors import InputError
from .mrc_warnings import unusual_mrc_said_once

_MAX_OPEN = 64  # files kept open at once (a .star may reference thousands of stacks)
UNSET_APIX = (0.0, 1.0)  # header pixel sizes that mean "not set" (1.0 is what cryoDRGN and others write by default)


def known_apix(apix: float | None) -> float | None:
    """The one rule for a header's pixel size: ``apix`` in Å, or None where it means "not set" (missing, 0 or
    1.0). A header's 1.0 is never taken as real; a real 1.0 Å/px must come from the metadata or --Apix."""
    if apix is None or not np.isfinite(apix) or float(apix) in UNSET_APIX:
        return None
    return float(apix)


@dataclass(frozen=True)
class StackHeader:
    """What an MRC header says about a stack: image count, box size D, voxel size (Å, 0 if unset), and
    where the images are: ``offset`` (bytes from the file's start to the first image) and ``dtype`` (of a
    pixel, with the file's byte order)."""

    path: Path
    n: int
    D: int
    apix: float
    offset: int = 1024
    dtype: np.dtype = np.dtype(np.float32)


def read_stack_header(path: str | os.PathLike) -> StackHeader:
    """Read and check an MRC stack's header without reading its data.

    Raises InputError if the file is missing, not MRC, truncated, or its images are not square.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("image stack not found", path)
    with unusual_mrc_said_once(path):  # said only once the header is found usable
        return _check_stack_header(path)


def _check_stack_header(path: Path) -> StackHeader:
    try:
        with mrcfile.open(path, mode="r", header_only=True, permissive=True) as mrc:
            h = mrc.header
            nx, ny, nz = int(h.nx), int(h.ny), int(h.nz)
            dtype = mrcfile.utils.data_dtype_from_header(h)
            ext = int(h.nsymbt)
            apix = float(mrc.voxel_size.x)
    except (ValueError, OSError) as e:
        raise InputError(f"not a readable MRC file ({e})", path) from None
    if nx <= 0 or ny <= 0 or nz <= 0:
        raise InputError(f"MRC header gives an empty stack ({nz} x {ny} x {nx})", path)
    expected = 1024 + ext + nx * ny * nz * dtype.itemsize
    size = path.stat().st_size
    if size < expected:
        raise InputError(f"file is truncated: the header describes {nz} images of {ny} x {nx} "
                         f"({expected} bytes) but the file has {size} bytes", path)
    if nx != ny:
        raise InputError(f"images must be square, got {ny} x {nx} pixels", path)
    if dtype.kind == "c":
        raise InputError("images are complex (MRC mode 3/4); expected real-space images", path)
    return StackHeader(path, nz, nx, apix if np.isfinite(apix) and apix > 0 else 0.0, 1024 + ext, dtype)


class ParticleStack:
    """N particle images of D x D pixels, read lazily from MRC files (positioned reads, no memory map).

    ``stack[i]`` -> (D, D) float32; ``stack[slice]`` / ``stack[index array]`` -> (k, D, D) float32.
    Attributes: ``D`` (pixels), ``apix`` (Å/pixel from the first file's header, 0 if unset), ``path``
    (the file the stack was loaded from), ``files`` (the MRC files), ``file_index`` and ``image_index``
    ((N,) int arrays: which file and which 0-based image in it).
    Images with NaN or infinite values raise InputError when read.
    """

    def __init__(self, path: str | os.PathLike, files: Sequence[str | os.PathLike],
                 file_index: np.ndarray | None = None, image_index: np.ndarray | None = None):
        self.path = Path(path)
        headers = [read_stack_header(f) for f in files]
        if not headers:
            raise InputError("no image stacks given", self.path)
        for h in headers[1:]:
            if h.D != headers[0].D:
                raise InputError(f"box sizes disagree: {headers[0].path} has {headers[0].D} px images, "
                                 f"{h.path} has {h.D} px", self.path)
        self.headers = headers
        self.files = [h.path for h in headers]
        self.D = headers[0].D
        self.apix = headers[0].apix
        counts = np.array([h.n for h in headers])
        if file_index is None:  # every image of every file, in order
            file_index = np.repeat(np.arange(len(headers)), counts)
            image_index = np.concatenate([np.arange(c) for c in counts])
        self.file_index = np.asarray(file_index, dtype=np.int64)
        self.image_index = np.asarray(image_index, dtype=np.int64)
        if self.file_index.shape != self.image_index.shape or self.file_index.ndim != 1:
            raise ValueError("file_index and image_index must be 1D arrays of equal length")
        bad = (self.image_index < 0) | (self.image_index >= counts[self.file_index])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            f = self.files[self.file_index[i]]
            raise InputError(f"particle {i} refers to image {self.image_index[i] + 1} (1-based) of {f}, "
                             f"which has {counts[self.file_index[i]]} images", self.path)
        self._open: OrderedDict[int, _ImageFile] = OrderedDict()

    @classmethod
    def from_mrc(cls, path: str | os.PathLike) -> "ParticleStack":
        """Every image of one .mrcs/.mrc file."""
        return cls(path, [path])

    @classmethod
    def from_txt(cls, path: str | os.PathLike, datadir: str | os.PathLike | None = None) -> "ParticleStack":
        """Every image of the .mrcs files listed one per line in a .txt file (paths relative to
        ``datadir`` if given, then to the .txt file's folder)."""
        path = Path(path)
        if not path.is_file():
            raise InputError("file not found", path)
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        if not names:
            raise InputError("lists no image stacks", path)
        return cls(path, [resolve_stack(n, search_folders(path, datadir), path) for n in names])

    @classmethod
    def from_refs(cls, path: str | os.PathLike, refs: Sequence[tuple[str | os.PathLike, int]]) -> "ParticleStack":
        """Images given as (file, 0-based image index) pairs, e.g. from a .star or .cs file at ``path``."""
        if not refs:
            raise InputError("lists no particles", path)
        names, index = zip(*refs)
        file_index, files = pd.factorize(np.array([os.fspath(f) for f in names]))
        return cls(path, list(files), file_index, np.asarray(index, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.file_index)

    def __getitem__(self, key: int | slice | np.ndarray | Sequence[int]) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            i = int(key)
            if not -len(self) <= i < len(self):
                raise IndexError(f"particle {i} out of range for {len(self)} particles")
            return self._read(np.array([i % len(self)]))[0]
        if isinstance(key, slice):
            return self._read(np.arange(len(self))[key])
        idx = np.asarray(key)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise IndexError(f"cannot index a particle stack with {key!r}")
        if idx.size and (idx.max() >= len(self) or idx.min() < -len(self)):
            raise IndexError(f"particle index out of range for {len(self)} particles")
        return self._read(idx % len(self) if idx.size else idx.astype(np.int64))

    def _read(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(idx), self.D, self.D), dtype=np.float32)
        files = self.file_index[idx]
        for f in np.unique(files):
            rows = np.flatnonzero(files == f)
            images = self.image_index[idx[rows]]
            out[rows] = self._file(int(f)).read(images)
            finite = np.isfinite(out[rows]).all(axis=(1, 2))
            if not finite.all():
                k = int(np.flatnonzero(~finite)[0])
                raise InputError(f"image {int(images[k]) + 1} (1-based; particle {int(idx[rows[k]])}) "
                                 "contains NaN or infinite values", self.files[f])
        return out

    def _file(self, f: int) -> "_ImageFile":
        handle = self._open.get(f)
        if handle is None:
            if len(self._open) >= _MAX_OPEN:
                self._open.popitem(last=False)[1].close()
            handle = self._open[f] = _ImageFile(self.headers[f])
        else:
            self._open.move_to_end(f)
        return handle

    def memmap(self, f: int = 0) -> np.ndarray:
        """A new read-only memory map of file ``f``'s images, (n, D, D) in the file's dtype, for viewers
        that page through a stack (napari); reading the stack by index does not use it."""
        h = self.headers[f]
        try:
            return np.memmap(h.path, dtype=h.dtype, mode="r", offset=h.offset, shape=(h.n, h.D, h.D))
        except (ValueError, OSError) as e:
            raise InputError(f"cannot memory-map the stack ({e})", h.path) from None

    def close(self) -> None:
        """Close every open file (they reopen on the next read)."""
        while self._open:
            self._open.popitem()[1].close()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_open"] = OrderedDict()  # open files do not pickle; each process opens its own
        return state

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return (f"ParticleStack({self.path.name!r}, N={len(self)}, D={self.D}, apix={self.apix:g}, "
                f"files={len(self.files)})")


class _ImageFile:
    """One open MRC stack, read by positioned reads of whole images: nothing stays mapped or cached."""

    def __init__(self, header: StackHeader):
        self.header = header
        self._lock = threading.Lock()  # only for the seek-and-read fallback where os.pread is missing (Windows)
        try:
            self._file = open(header.path, "rb", buffering=0)
        except OSError as e:
            raise InputError(f"cannot open the stack ({e})", header.path) from None

    def read(self, images: np.ndarray) -> np.ndarray:
        """Images (k,) 0-based indices -> (k, D, D) float32; one read per run of consecutive indices."""
        h = self.header
        size = h.D * h.D * h.dtype.itemsize
        order = np.argsort(images, kind="stable")
        sorted_ = images[order]
        out = np.empty((len(images), h.D, h.D), dtype=np.float32)
        for run in np.split(np.arange(len(images)), np.flatnonzero(np.diff(sorted_) != 1) + 1):
            if not run.size:
                continue
            first = int(sorted_[run[0]])
            data = self._read_at(h.offset + first * size, run.size * size)
            if len(data) != run.size * size:  # the file was cut short after its header was read
                raise InputError(f"file is truncated: image {first + len(data) // size + 1} (1-based) ends "
                                 "past the end of the file", h.path)
            out[order[run]] = np.frombuffer(data, dtype=h.dtype).reshape(run.size, h.D, h.D)
        return out

    def _read_at(self, offset: int, size: int) -> bytes:
        """``size`` bytes from ``offset`` (fewer at the end of the file). os.pread leaves the file position
        alone, so threads and forked DataLoader workers may share the open file."""
        chunks, done = [], 0
        while done < size:
            if hasattr(os, "pread"):
                chunk = os.pread(self._file.fileno(), size - done, offset + done)
            else:
                with self._lock:
                    self._file.seek(offset + done)
                    chunk = self._file.read(size - done)
            if not chunk:
                break
            chunks.append(chunk)
            done += len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def close(self) -> None:
        self._file.close()


def search_folders(referrer: Path, datadir: str | os.PathLike | None = None,
                   extra: Sequence[Path] = ()) -> list[Path]:
    """Folders in which to look for the stacks a metadata file names: ``datadir`` first (if given),
    then the metadata file's folder, then ``extra``."""
    return ([Path(datadir)] if datadir is not None else []) + [referrer.parent, *extra]


def resolve_stack(name: str | os.PathLike, bases: Sequence[Path], referrer: Path) -> Path:
    """Find an image stack named in ``referrer``: absolute, else relative to each of ``bases``, else
    by its file name alone in each of ``bases``. Raises InputError listing where it looked."""
    name = Path(name)
    candidates = [name] if name.is_absolute() else []
    candidates += [b / name for b in bases if not name.is_absolute()]
    candidates += [b / name.name for b in bases]
    for c in candidates:
        if c.is_file():
            return c
    looked = ", ".join(dict.fromkeys(str(c) for c in candidates))
    raise InputError(f"image stack {name} not found (looked for {looked}); "
                     "give the folder holding the stacks as datadir", referrer)
