"""Write files completely or not at all: write to a temporary name beside the target, flush it to the disk
(fsync), then rename. The one rule for every file a command writes: the folders it goes in are made
first (and removed again if the write fails and they are still empty)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import InputError


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on error delete it.

    The temporary name keeps the suffix so that format-sniffing writers (mrcfile, numpy) behave. Missing
    parent folders are made first; those made are removed again if the write fails (when still empty).
    """
    path = Path(path)
    made = make_parents(path)
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    done = False
    try:
        yield tmp
        _fsync(tmp)  # the data reach the disk before the name does: a crash leaves the old file or the new one
        os.replace(tmp, path)
        _fsync(path.parent, best_effort=True)  # and the rename itself
        done = True
    finally:
        if tmp.exists():
            tmp.unlink()
        if not done:
            for folder in reversed(made):  # the deepest first
                try:
                    folder.rmdir()
                except OSError:  # no longer empty: something else was written there
                    break


def make_parents(path: str | os.PathLike) -> list[Path]:
    """Make the missing folders above ``path``; return those made, the outermost first. InputError naming
    the folder when one cannot be made (a file of that name, no permission)."""
    missing = []
    parent = Path(path).absolute().parent
    while not parent.is_dir() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    missing.reverse()
    for i, folder in enumerate(missing):
        try:
            folder.mkdir(exist_ok=True)
        except OSError as e:
            for made in reversed(missing[:i]):
                made.rmdir()
            problem = "is a file, not a folder" if folder.exists() else f"cannot make the folder ({e.strerror or e})"
            raise InputError(problem, folder) from None
    return missing


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
