"""A RELION 3.1 .star file for a subset of any dataset (.mrcs/.txt + cryoDRGN .pkl, .cs, ...), so that a
selection made on the latents goes on to refinement in RELION or cryoSPARC with its poses and CTF.

One optics group holds the box, pixel size, voltage, spherical aberration and amplitude contrast (those of
the first selected image; :func:`write_dataset_star` refuses a subset where they differ). Each particle row
has ``rlnImageName`` (``index@/absolute/path/stack.mrcs``, 1-based), its Euler angles (RELION rot, tilt, psi
in degrees, :func:`napari_cryohype.core.io.star.rotation_to_relion`), its origin in Å (cryoDRGN's
translation x box x pixel size, the convention the .star reader undoes) and, with a CTF, its defocus U/V
(Å), astigmatism angle and phase shift (degrees).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import starfile

from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.atomic import atomic_path
from napari_cryohype.core.io.star import rotation_to_relion

#: optics columns and their column in the CTF table (N, 9): D, apix, dfU, dfV, dfang, kV, Cs, w, phase shift
_OPTICS = {"rlnImageSize": 0, "rlnImagePixelSize": 1, "rlnVoltage": 5, "rlnSphericalAberration": 6,
           "rlnAmplitudeContrast": 7}
_PER_PARTICLE = {"rlnDefocusU": 2, "rlnDefocusV": 3, "rlnDefocusAngle": 4, "rlnPhaseShift": 8}


def dataset_star_tables(dataset, indices: np.ndarray) -> dict[str, pd.DataFrame]:
    """The ``optics`` and ``particles`` tables of a .star file for the images ``indices`` (0-based, in the
    order given) of a :class:`~napari_cryohype.core.io.dataset.ParticleDataset`."""
    indices = np.asarray(indices, dtype=np.int64)
    if indices.ndim != 1 or indices.size == 0:
        raise ValueError("need a non-empty 1D array of image indices")
    if indices.min() < 0 or indices.max() >= len(dataset):
        raise ValueError(f"image index {int(indices.max())} is outside the {len(dataset)} images")
    stack = dataset.particles.stack        # the files on disk, at their own box (the model may read them resized)
    D0 = dataset.particles.source_D
    apix0 = dataset.apix * dataset.D / D0
    files = np.array([os.fspath(Path(f).resolve()) for f in stack.files])
    names = [f"{i + 1:06d}@{f}" for i, f in zip(stack.image_index[indices], files[stack.file_index[indices]])]
    angles = rotation_to_relion(dataset.poses.rots[indices])
    origin_A = dataset.poses.trans[indices] * D0 * apix0
    particles = pd.DataFrame({"rlnImageName": names, "rlnAngleRot": angles[:, 0], "rlnAngleTilt": angles[:, 1],
                              "rlnAnglePsi": angles[:, 2], "rlnOriginXAngst": origin_A[:, 0],
                              "rlnOriginYAngst": origin_A[:, 1], "rlnOpticsGroup": 1})
    optics = {"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"], "rlnImageSize": [D0],
              "rlnImagePixelSize": [apix0]}
    if dataset.ctf is not None:
        ctf = dataset.ctf[indices].copy()
        ctf[:, 0], ctf[:, 1] = D0, ctf[:, 1] * dataset.D / D0   # the table is kept for the model's box
        for column, j in _OPTICS.items():
            if not np.allclose(ctf[:, j], ctf[0, j]):
                raise InputError(f"the selected images differ in {column[3:]} (more than one optics group): "
                                 "export them in groups that share it")
            optics[column] = [int(ctf[0, j]) if column == "rlnImageSize" else float(ctf[0, j])]
        for column, j in _PER_PARTICLE.items():
            particles[column] = ctf[:, j].astype(np.float64)
    return {"optics": pd.DataFrame(optics), "particles": particles}


def write_dataset_star(dataset, indices: np.ndarray, path: str | os.PathLike) -> Path:
    """Write the images ``indices`` of ``dataset`` with their poses and CTF as a RELION 3.1 .star file
    (replacing ``path``, atomically). Returns the path."""
    tables = dataset_star_tables(dataset, indices)
    path = Path(path)
    with atomic_path(path) as tmp:
        starfile.write(tables, tmp)
    return path
