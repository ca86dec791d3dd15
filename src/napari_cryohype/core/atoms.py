"""Atomic models: read PDB/mmCIF files (gzipped too) into centred coordinates and scattering weights.

Choices (documented for reproducibility):

* Only the first model is read; waters are dropped and, where an atom has alternative conformations,
  only the first is kept. Hydrogens, ligands and ions are kept.
* Each atom's weight is its atomic number Z (hydrogen 1, carbon 6, ...), the usual proxy for its
  electron scattering at low resolution (the same rule as ChimeraX ``molmap``). Occupancy is ignored.
* Coordinates are centred on the weighted centre (the centre of the density the weights describe), so a
  map made from them has its centre of density at the box centre.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.distance import pdist

from .errors import InputError

#: File endings recognised as atomic models (with or without a trailing ``.gz``).
MODEL_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")


@dataclass(frozen=True)
class AtomicModel:
    """One structure, centred.

    coords: (n, 3) float64 atom positions in Å, columns (x, y, z), centred on the weighted centre.
    weights: (n,) float64 atomic numbers.
    radius: largest distance of an atom from the centre, Å (the box must be at least ``2 * radius``
    wide for every rotation to fit).
    extent: largest distance between two atoms, Å.
    """

    name: str
    path: Path
    coords: np.ndarray
    weights: np.ndarray
    radius: float
    extent: float

    @property
    def n_atoms(self) -> int:
        return len(self.coords)


def model_name(path: str | os.PathLike) -> str:
    """A structure's name from its file name: ``1abc.pdb.gz`` -> ``1abc``."""
    name = Path(path).name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    for suffix in MODEL_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def is_model_file(path: str | os.PathLike) -> bool:
    """Whether ``path``'s name ends like an atomic model (``.pdb``, ``.cif``, ... optionally ``.gz``)."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name.endswith(MODEL_SUFFIXES)


def max_extent(coords: np.ndarray) -> float:
    """Largest distance between two points of (n, 3) ``coords`` (through their convex hull)."""
    if len(coords) < 2:
        return 0.0
    try:
        coords = coords[ConvexHull(coords).vertices]
    except (QhullError, ValueError):  # flat or degenerate sets: fall back to all pairs (they are small)
        pass
    return float(pdist(coords).max())


def read_atoms(path: str | os.PathLike) -> AtomicModel:
    """Read an atomic model (PDB or mmCIF, optionally gzipped) with :mod:`gemmi`.

    Returns the first model's atoms, centred, with atomic-number weights. Raises :class:`InputError`
    naming the file if it is missing, unreadable or holds no atoms.
    """
    import gemmi

    path = Path(path)
    if not path.is_file():
        raise InputError("atomic model not found", path)
    try:
        st = gemmi.read_structure(str(path))
    except (RuntimeError, ValueError, OSError) as err:
        raise InputError(f"not a readable PDB/mmCIF file ({err})", path) from None
    if len(st) == 0:
        raise InputError("no model in the file", path)
    st.remove_waters()
    st.remove_alternative_conformations()
    xyz, z = [], []
    for chain in st[0]:
        for residue in chain:
            for atom in residue:
                xyz.append(atom.pos.tolist())
                z.append(atom.element.atomic_number)
    weights = np.asarray(z, dtype=np.float64)
    if len(xyz) == 0 or weights.sum() <= 0:
        raise InputError("no atoms with a known element in the first model", path)
    coords = np.asarray(xyz, dtype=np.float64)
    if not np.isfinite(coords).all():
        raise InputError("atom coordinates are not finite", path)
    coords -= (weights @ coords) / weights.sum()
    radius = float(np.sqrt((coords**2).sum(-1)).max())
    return AtomicModel(name=model_name(path), path=path, coords=coords, weights=weights,
                       radius=radius, extent=max_extent(coords))


def safe_filename(name: str) -> str:
    """``name`` with every character other than letters, digits, ``-``, ``_`` and ``.`` made ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "structure"
