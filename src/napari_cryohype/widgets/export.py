"""Export what was picked in the Latent Explorer: volumes (.mrc with voxel size), cryoDRGN ``indices.pkl``
and its inverse, a subset ``.star`` (rows of the
source .star, or written from any dataset's poses and CTF), latents and embedding (.npy). Nothing is overwritten without asking.

Each function returns the paths it wrote; it asks :func:`confirm_overwrite` once for all files that
already exist and writes nothing when the answer is no. Tests monkeypatch :func:`confirm_overwrite`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import QMessageBox, QWidget

from napari_cryohype.core.io.atomic import atomic_path
from napari_cryohype.core.io.mrc import write_mrc
from napari_cryohype.core.io.pkl import save_indices_pkl
from napari_cryohype.core.io.star import write_star_subset


def confirm_overwrite(paths: list[Path], parent: QWidget | None = None) -> bool:
    """Ask whether to replace existing files (a Yes/No dialog); True means replace."""
    names = "\n".join(str(p) for p in paths[:10]) + ("\n…" if len(paths) > 10 else "")
    answer = QMessageBox.question(parent, "Replace files?", f"These files exist:\n{names}\n\nReplace them?",
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def _may_write(paths: list[Path], parent: QWidget | None) -> bool:
    existing = [p for p in paths if p.exists()]
    return not existing or confirm_overwrite(existing, parent)


def export_volumes(volumes: dict[str, tuple[np.ndarray, float]], folder: str | os.PathLike,
                   parent: QWidget | None = None) -> list[Path]:
    """Write each ``name -> (volume (D, D, D), apix Å)`` as ``folder/name.mrc``."""
    folder = Path(folder)
    paths = {name: folder / f"{name}.mrc" for name in volumes}
    if not _may_write(list(paths.values()), parent):
        return []
    folder.mkdir(parents=True, exist_ok=True)
    for name, (volume, apix) in volumes.items():
        write_mrc(paths[name], volume, apix, overwrite=True)
    return list(paths.values())


def inverse_path(path: str | os.PathLike) -> Path:
    """Where the inverse selection of ``indices.pkl`` goes: ``indices_inverse.pkl`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}_inverse{path.suffix or '.pkl'}")


def export_indices(selection: np.ndarray, n: int, path: str | os.PathLike,
                   parent: QWidget | None = None) -> list[Path]:
    """Write the selection as a cryoDRGN ``indices.pkl`` (int64 array) and the rest of 0..n-1 as its
    inverse, ``indices_inverse.pkl``. A run trains on its whole particle stack, so the explored image
    positions are the dataset's own numbering (what cryoDRGN's ``--ind`` expects)."""
    path = Path(path)
    paths = [path, inverse_path(path)]
    if not _may_write(paths, parent):
        return []
    mask = np.zeros(n, dtype=bool)
    mask[np.asarray(selection, dtype=np.int64)] = True
    chosen, rest = np.flatnonzero(mask), np.flatnonzero(~mask)
    save_indices_pkl(paths[0], chosen.astype(np.int64), overwrite=True)
    save_indices_pkl(paths[1], rest.astype(np.int64), overwrite=True)
    return paths


def export_star(selection: np.ndarray, src_star: str | os.PathLike, path: str | os.PathLike,
                parent: QWidget | None = None) -> list[Path]:
    """Write the rows ``selection`` (original dataset numbering) of ``src_star`` to ``path``."""
    path = Path(path)
    if not _may_write([path], parent):
        return []
    write_star_subset(src_star, np.asarray(selection, dtype=np.int64), path, overwrite=True)
    return [path]


def export_dataset_star(selection: np.ndarray, dataset, path: str | os.PathLike,
                        parent: QWidget | None = None) -> list[Path]:
    """Write the images ``selection`` of ``dataset`` (any input format) with their poses and CTF as a RELION
    3.1 .star file (:func:`napari_cryohype.core.subset_star.write_dataset_star`)."""
    from napari_cryohype.core.subset_star import write_dataset_star

    path = Path(path)
    if not _may_write([path], parent):
        return []
    return [write_dataset_star(dataset, np.asarray(selection, dtype=np.int64), path)]


def export_arrays(arrays: dict[str, np.ndarray], folder: str | os.PathLike,
                  parent: QWidget | None = None) -> list[Path]:
    """Write each ``name -> array`` as ``folder/name.npy`` (e.g. latents (N, d), umap (N, 2), selection)."""
    folder = Path(folder)
    paths = {name: folder / f"{name}.npy" for name in arrays}
    if not _may_write(list(paths.values()), parent):
        return []
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        with atomic_path(paths[name]) as tmp:
            np.save(tmp, np.asarray(array))
    return list(paths.values())
