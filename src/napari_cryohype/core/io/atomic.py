"""Write files completely or not at all: write to a temporary name beside the target, flush it to the disk
(fsync), then rename."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on error delete it.

    The temporary name keeps the suffix so that format-sniffing writers (mrcfile, numpy) behave.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        _fsync(tmp)  # the data reach the disk before the name does: a crash leaves the old file or the new one
        os.replace(tmp, path)
        _fsync(path.parent, best_effort=True)  # and the rename itself
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync(path: Path, best_effort: bool = False) -> None:
    """Flush a file's (or a folder's) contents to the disk."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if best_effort:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not best_effort:
            raise
    finally:
        os.close(fd)
