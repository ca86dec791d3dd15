"""cryoSPARC .cs files (NumPy structured arrays): particle image references, poses and CTF.

Conventions follow cryoDRGN's ``parse_pose_csparc`` / ``parse_ctf_csparc``: the pose is an axis-angle
vector whose rotation matrix is *transposed* into cryoDRGN's convention; shifts are pixels and become
``+shift / D``; angles are stored in radians and become degrees in the CTF table.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial.transform import Rotation

from ..errors import InputError
from .particles import ParticleStack, read_stack_header, resolve_stack, search_folders
from .types import CtfDefaults, Poses

CTF_FIELDS = ("ctf/df1_A", "ctf/df2_A", "ctf/df_angle_rad", "ctf/accel_kv", "ctf/cs_mm", "ctf/amp_contrast")
_DEFAULTABLE = {"ctf/accel_kv": "kv", "ctf/cs_mm": "cs", "ctf/amp_contrast": "w"}  # field -> CtfDefaults field
_NPY_MAGIC = b"\x93NUMPY"
_POSE_PREFIXES = ("alignments3D", "alignments_class_0")  # refinement, ab-initio


def read_cs(path: str | os.PathLike) -> np.ndarray:
    """Read a .cs file: a structured array with one row per particle."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    with open(path, "rb") as f:
        head = f.read(len(_NPY_MAGIC))
    if head != _NPY_MAGIC:
        what = "is empty" if not head else f"starts with {head!r}"
        raise InputError(f"not a cryoSPARC .cs file: a .cs file is a NumPy array (starting with "
                         f"{_NPY_MAGIC!r}) but this one {what}", path)
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as e:  # numpy raises several types for a foreign file
        raise InputError(f"not a readable cryoSPARC .cs file ({type(e).__name__}: {e})", path) from None
    if not isinstance(data, np.ndarray) or data.dtype.names is None:
        raise InputError("not a cryoSPARC .cs file (expected a NumPy structured array)", path)
    if data.ndim != 1 or len(data) == 0:
        raise InputError(f"the table holds no particles ({data.shape[0] if data.ndim else 0} rows)", path)
    return data


def _require(data: np.ndarray, fields: tuple[str, ...], what: str, path: Path) -> None:
    missing = [f for f in fields if f not in data.dtype.names]
    if missing:
        raise InputError(f"cannot read {what}: missing field(s) {', '.join(missing)}", path)


def _field(data: np.ndarray, name: str, path: Path) -> np.ndarray:
    values = np.asarray(data[name], dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad.reshape(len(values), -1).any(-1))[0])
        raise InputError(f"{name} of particle {i} is not finite", path)
    return values


def _box_size(data: np.ndarray, path: Path, D: int | None, datadir) -> float:
    if "blob/shape" in data.dtype.names:
        return float(data["blob/shape"][0][0])
    if D is not None:
        return float(D)
    if "blob/path" in data.dtype.names:
        return float(read_stack_header(_resolve(data["blob/path"][0], path, datadir)).D)
    raise InputError("cannot tell the box size: no blob/shape field; give the box size D", path)


def _resolve(name, path: Path, datadir) -> Path:
    name = name.decode() if isinstance(name, bytes) else str(name)
    # cryoSPARC paths are relative to the project folder, which holds the job folder the .cs lives in
    return resolve_stack(name.lstrip(">"), search_folders(path, datadir, [path.parent.parent]), path)


def cs_particles(path: str | os.PathLike, datadir: str | os.PathLike | None = None) -> ParticleStack:
    """The images a .cs file references (blob/path, blob/idx 0-based), read lazily."""
    path = Path(path)
    data = read_cs(path)
    _require(data, ("blob/path", "blob/idx"), "particle images", path)
    codes, uniques = pd.factorize(np.asarray(data["blob/path"]))
    files = [_resolve(u, path, datadir) for u in uniques]
    return ParticleStack(path, files, codes, np.asarray(data["blob/idx"], dtype=np.int64))


def cs_poses(path: str | os.PathLike, D: int | None = None, datadir: str | os.PathLike | None = None) -> Poses:
    """Poses from alignments3D/pose (axis-angle, radians) and alignments3D/shift (pixels) — or
    alignments_class_0/* for ab-initio jobs. Shifts made at another pixel size than the images
    (heterogeneous refinement at a smaller box) are rescaled by alignments3D/psize_A / blob/psize_A."""
    path = Path(path)
    data = read_cs(path)
    names = data.dtype.names
    prefix = next((p for p in _POSE_PREFIXES if f"{p}/pose" in names), _POSE_PREFIXES[0])
    _require(data, (f"{prefix}/pose", f"{prefix}/shift"), "poses", path)
    rots = Rotation.from_rotvec(_field(data, f"{prefix}/pose", path)).as_matrix().transpose(0, 2, 1)
    shift = _field(data, f"{prefix}/shift", path)
    if f"{prefix}/psize_A" in names and "blob/psize_A" in names:
        shift = shift * (_field(data, f"{prefix}/psize_A", path) / _field(data, "blob/psize_A", path))[:, None]
    return Poses(rots, shift / _box_size(data, path, D, datadir))


def cs_pixel_size(path: str | os.PathLike, D: int, datadir: str | os.PathLike | None = None) -> float | None:
    """Pixel size (Å) blob/psize_A gives for the images as stored at ``D`` pixels (rescaled by blob/shape / D
    where the file describes another box); None without blob/psize_A; InputError where particles differ by
    more than 1 %."""
    path = Path(path)
    data = read_cs(path)
    if "blob/psize_A" not in data.dtype.names:
        return None
    apix = _field(data, "blob/psize_A", path) * _box_size(data, path, D, datadir) / D
    if np.abs(apix / apix[0] - 1).max() > 0.01:
        raise InputError(f"particles have different pixel sizes ({apix.min():g} to {apix.max():g} Å at {D} px)",
                         path)
    return float(apix[0])


def cs_ctf(path: str | os.PathLike, D: int | None = None, apix: float | None = None,
           datadir: str | os.PathLike | None = None, defaults: CtfDefaults | None = None) -> np.ndarray:
    """CTF table (N, 9) float32 (layout of :mod:`napari_cryohype.core.ctf`); D from blob/shape, pixel
    size from blob/psize_A (else ``defaults.apix``, else ``apix``). Voltage, Cs, amplitude contrast and
    phase shift the file lacks come from ``defaults`` (--kv, --cs, -w, --ps) when given; a missing
    ctf/phase_shift_rad is otherwise 0."""
    path = Path(path)
    data = read_cs(path)
    names = data.dtype.names
    missing = [f for f in CTF_FIELDS if f not in names and
               (f not in _DEFAULTABLE or defaults is None or getattr(defaults, _DEFAULTABLE[f]) is None)]
    if missing:
        flags = [CtfDefaults.FLAGS[_DEFAULTABLE[f]] for f in missing if f in _DEFAULTABLE]
        hint = f" (or give {', '.join(flags)})" if flags else ""
        raise InputError(f"cannot read the CTF: missing field(s) {', '.join(missing)}{hint}", path)
    ctf = np.zeros((len(data), 9), dtype=np.float64)
    ctf[:, 0] = _box_size(data, path, D, datadir)
    given = None if defaults is None or "blob/psize_A" in names else defaults.take("apix", path, "blob/psize_A")
    if "blob/psize_A" in names:
        ctf[:, 1] = _field(data, "blob/psize_A", path)
    elif given is not None or apix is not None:
        ctf[:, 1] = given if given is not None else apix
    else:
        raise InputError("cannot tell the pixel size: no blob/psize_A field; give it (--Apix)", path)
    for j, name in enumerate(CTF_FIELDS):
        ctf[:, 2 + j] = _field(data, name, path) if name in names else defaults.take(_DEFAULTABLE[name], path, name)
    ctf[:, 4] = np.rad2deg(ctf[:, 4])
    if "ctf/phase_shift_rad" in names:
        ctf[:, 8] = np.rad2deg(_field(data, "ctf/phase_shift_rad", path))
    elif defaults is not None and defaults.ps is not None:
        ctf[:, 8] = defaults.take("ps", path, "ctf/phase_shift_rad")
    return ctf.astype(np.float32)
