"""RELION .star files: particle image references, poses and CTF, in cryoDRGN's conventions.

RELION 3.0 files have one particle table; 3.1+ files have ``data_optics`` and ``data_particles``, and the
optics columns are merged into each particle row through ``rlnOpticsGroup``. Poses follow cryoDRGN's
``parse_pose_star``: Euler angles (rot, tilt, psi) in degrees become ``R = F * (Rz(psi) Ry(tilt) Rz(rot))``
(``F`` flips the sign of the elements (0,1), (1,0), (1,2), (2,1)) — the same matrix as RELION's own
``Euler_angles2matrix`` — and origins become translations
``+origin / D`` (pixels; Å origins divided by the pixel size first).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import starfile

from ..errors import InputError
from .atomic import atomic_path
from .particles import ParticleStack, known_apix, read_stack_header, resolve_stack, search_folders
from .types import CtfDefaults, Poses

POSE_COLUMNS = ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")
CTF_COLUMNS = ("rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle", "rlnVoltage", "rlnSphericalAberration",
               "rlnAmplitudeContrast")
#: CTF columns a :class:`CtfDefaults` value may stand in for: column -> (field, what it is)
_DEFAULTABLE = {"rlnVoltage": ("kv",), "rlnSphericalAberration": ("cs",), "rlnAmplitudeContrast": ("w",),
                "rlnPhaseShift": ("ps",)}
_ORIGINS = (("rlnOriginX", "rlnOriginY"), ("rlnOriginXAngst", "rlnOriginYAngst"))
_FLIP = np.array([[1, -1, 1], [-1, 1, -1], [1, -1, 1]], dtype=np.float64)


@dataclass
class StarData:
    """A parsed .star file: particle rows with the optics columns merged in (column names without the
    leading underscore, e.g. ``rlnAngleRot``), and the optics table (None for RELION 3.0 files)."""

    path: Path
    particles: pd.DataFrame
    optics: pd.DataFrame | None
    particle_block: str


def _read_raw(path: Path) -> dict:
    """Every data block: loops as DataFrames, key-value blocks as dicts."""
    if not path.is_file():
        raise InputError("file not found", path)
    try:
        blocks = starfile.read(path, always_dict=True, parse_as_string=["rlnImageName", "rlnMicrographName"])
    except Exception as e:  # the parser raises assorted errors on malformed files
        raise InputError(f"not a readable STAR file ({type(e).__name__}: {e})", path) from None
    if not blocks:
        raise InputError("no data block found", path)
    return blocks


def _read_blocks(path: Path) -> dict[str, pd.DataFrame]:
    """Every data block as a table (a key-value block becomes one row)."""
    return {k: v if isinstance(v, pd.DataFrame) else pd.DataFrame([v]) for k, v in _read_raw(path).items()}


def _particle_block(blocks: dict[str, pd.DataFrame], path: Path) -> str:
    if "particles" in blocks:
        return "particles"
    candidates = [k for k in blocks if k != "optics"]
    if not candidates:
        raise InputError("no particle table found (only data_optics)", path)
    return max(candidates, key=lambda k: len(blocks[k]))


def read_star(path: str | os.PathLike) -> StarData:
    """Read a RELION 3.0 or 3.1+ particle .star file."""
    path = Path(path)
    blocks = _read_blocks(path)
    name = _particle_block(blocks, path)
    particles = blocks[name].reset_index(drop=True)
    if not len(particles):
        raise InputError(f"the particle table (data_{name}) has a header but no rows: no particles", path)
    _check_complete_rows(particles, f"data_{name}", path)
    optics = blocks.get("optics")
    if optics is not None:
        particles = _merge_optics(particles, optics, path)
    return StarData(path, particles, optics, name)


def _check_complete_rows(table: pd.DataFrame, block: str, path: Path) -> None:
    """Refuse rows with missing values (a line cut short, e.g. a file truncated while copied)."""
    missing = table.isna().to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing.any(axis=1))[0])
        have = int((~missing[i]).sum())
        raise InputError(f"row {i + 1} of {block} has {have} of {table.shape[1]} values (a line cut short: is the "
                         "file truncated?)", path)


def _merge_optics(particles: pd.DataFrame, optics: pd.DataFrame, path: Path) -> pd.DataFrame:
    if "rlnOpticsGroup" not in optics.columns:
        raise InputError("data_optics has no rlnOpticsGroup column", path)
    if "rlnOpticsGroup" in particles.columns:
        group = particles["rlnOpticsGroup"].to_numpy()
    elif len(optics) == 1:
        group = np.full(len(particles), optics["rlnOpticsGroup"].iloc[0])
    else:
        raise InputError("data_particles has no rlnOpticsGroup column but data_optics has "
                         f"{len(optics)} groups", path)
    table = optics.set_index("rlnOpticsGroup")
    unknown = sorted(set(np.unique(group)) - set(table.index))
    if unknown:
        first = ", ".join(str(g.item() if isinstance(g, np.generic) else g) for g in unknown[:5])
        defined = ", ".join(str(g.item() if isinstance(g, np.generic) else g) for g in table.index[:5])
        raise InputError(f"particles refer to optics group(s) {first} that data_optics does not define "
                         f"(it defines {defined})", path)
    merged = particles.copy()
    for col in table.columns:
        if col not in merged.columns:
            merged[col] = table[col].reindex(group).to_numpy()
    return merged


def _require(star: StarData, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in star.particles.columns]
    if missing:
        raise InputError(f"cannot read {what}: missing column(s) {', '.join('_' + c for c in missing)}", star.path)


def _as_star(star: StarData | str | os.PathLike) -> StarData:
    return star if isinstance(star, StarData) else read_star(star)


def _numeric(star: StarData, column: str) -> np.ndarray:
    values = pd.to_numeric(star.particles[column], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        i = int(np.flatnonzero(~np.isfinite(values))[0])
        raise InputError(f"_{column} of particle {i} is not a finite number", star.path)
    return values


def image_refs(star: StarData | str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Split ``rlnImageName`` (``index@stack.mrcs``, 1-based) into (file names (N,) str, 0-based indices (N,))."""
    star = _as_star(star)
    _require(star, ("rlnImageName",), "particle images")
    names = star.particles["rlnImageName"].astype(str)
    parts = names.str.split("@", n=1, expand=True)
    if parts.shape[1] == 1:  # no '@' anywhere: each row is a single-image file
        return parts[0].to_numpy(), np.zeros(len(names), dtype=np.int64)
    has_at = parts[1].notna()
    files = parts[1].where(has_at, parts[0]).to_numpy()
    index = pd.to_numeric(parts[0].where(has_at, "1"), errors="coerce").to_numpy()
    if not np.isfinite(index).all() or (index < 1).any():
        i = int(np.flatnonzero(~(np.isfinite(index) & (index >= 1)))[0])
        raise InputError(f"bad _rlnImageName {names.iloc[i]!r} of particle {i} (expected N@stack.mrcs, N >= 1)",
                         star.path)
    return files, index.astype(np.int64) - 1


def star_particles(star: StarData | str | os.PathLike, datadir: str | os.PathLike | None = None) -> ParticleStack:
    """The images a .star file references, read lazily. Stack paths resolve against ``datadir``
    if given, then the .star file's folder (see :func:`particles.resolve_stack`)."""
    star = _as_star(star)
    files, index = image_refs(star)
    codes, uniques = pd.factorize(files)
    paths = [resolve_stack(u, search_folders(star.path, datadir), star.path) for u in uniques]
    return ParticleStack(star.path, paths, codes, index)


def _first_stack_header(star: StarData, datadir: str | os.PathLike | None):
    """Header of the first image stack the star file names, or None if it has none or it is unreadable."""
    if "rlnImageName" not in star.particles.columns or not len(star.particles):
        return None
    files, _ = image_refs(star)
    try:
        return read_stack_header(resolve_stack(files[0], search_folders(star.path, datadir), star.path))
    except InputError:
        return None


def _box_size(star: StarData, D: int | None, datadir: str | os.PathLike | None,
              apix: float | None = None) -> np.ndarray:
    """Box size (N,) of the images the star file describes: rlnImageSize, else the first stack's header,
    else ``D`` — scaled by ``apix`` / the star's own pixel size when both are known (the star file then
    describes the same particles at another sampling, e.g. before downsampling)."""
    if "rlnImageSize" in star.particles.columns:
        return _numeric(star, "rlnImageSize")
    header = _first_stack_header(star, datadir)
    if header is not None:
        return np.full(len(star.particles), float(header.D))
    if D is None:
        raise InputError("cannot tell the box size: no _rlnImageSize column and no readable image stack "
                         "(give datadir, or the box size D)", star.path)
    own = _column_pixel_size(star)
    if apix is not None and own is not None:
        return D * float(apix) / own
    return np.full(len(star.particles), float(D))


def _column_pixel_size(star: StarData) -> np.ndarray | None:
    """Pixel size (N,) in Å from rlnImagePixelSize, else rlnDetectorPixelSize (µm) * 1e4 /
    rlnMagnification, else rlnPixelSize; None if the file has none of them."""
    cols = star.particles.columns
    if "rlnImagePixelSize" in cols:
        return _numeric(star, "rlnImagePixelSize")
    if "rlnDetectorPixelSize" in cols and "rlnMagnification" in cols:
        return _numeric(star, "rlnDetectorPixelSize") * 1e4 / _numeric(star, "rlnMagnification")
    if "rlnPixelSize" in cols:
        return _numeric(star, "rlnPixelSize")
    return None


def star_pixel_size(star: StarData | str | os.PathLike, D: int,
                    datadir: str | os.PathLike | None = None) -> float | None:
    """Pixel size (Å) the .star file gives (optics table or particle columns) for its images as stored at
    ``D`` pixels: rescaled by rlnImageSize / D where the file describes them at another box (the stacks
    resized since). None where the file gives none; InputError where particles differ by more than 1 %."""
    star = _as_star(star)
    own = _column_pixel_size(star)
    if own is None:
        return None
    apix = own * _box_size(star, D, datadir) / D
    if np.abs(apix / apix[0] - 1).max() > 0.01:
        raise InputError(f"particles have different pixel sizes ({apix.min():g} to {apix.max():g} Å at {D} px); "
                         "use one optics group at a time", star.path)
    return float(apix[0])


def _pixel_size(star: StarData, apix: float | None, datadir: str | os.PathLike | None,
                defaults: CtfDefaults | None = None) -> np.ndarray:
    """Pixel size (N,) in Å: from the star file's columns, else ``defaults.apix`` (--Apix), else ``apix``,
    else the first stack's header (a header's 0 or 1.0 means unset, see :func:`particles.known_apix`)."""
    own = _column_pixel_size(star)
    if own is not None:
        return own
    given = defaults.take("apix", star.path, "pixel size column") if defaults is not None else None
    if given is not None:
        apix = given
    if apix is None:
        header = _first_stack_header(star, datadir)
        apix = known_apix(header.apix) if header is not None else None
    if apix is None:
        raise InputError("cannot tell the pixel size: no _rlnImagePixelSize, _rlnDetectorPixelSize + "
                         "_rlnMagnification or _rlnPixelSize column and no pixel size in the stack's header; "
                         "give it (--Apix)", star.path)
    return np.full(len(star.particles), float(apix))


def relion_to_rotation(rot: np.ndarray, tilt: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """RELION Euler angles (N,) in degrees -> (N, 3, 3) rotation matrices in cryoDRGN's convention."""
    a, b, y = (np.deg2rad(np.asarray(v, dtype=np.float64)) for v in (rot, tilt, psi))
    zeros, ones = np.zeros_like(a), np.ones_like(a)

    def rz(t):
        c, s = np.cos(t), np.sin(t)
        return np.stack([c, -s, zeros, s, c, zeros, zeros, zeros, ones], -1).reshape(-1, 3, 3)

    cb, sb = np.cos(b), np.sin(b)
    ry = np.stack([cb, zeros, -sb, zeros, ones, zeros, sb, zeros, cb], -1).reshape(-1, 3, 3)
    return rz(y) @ ry @ rz(a) * _FLIP


def rotation_to_relion(rots: np.ndarray) -> np.ndarray:
    """Inverse of :func:`relion_to_rotation`: (N, 3, 3) -> (N, 3) (rot, tilt, psi) in degrees."""
    m = np.asarray(rots, dtype=np.float64) * _FLIP  # = Rz(psi) Ry(tilt) Rz(rot)
    tilt = np.arccos(np.clip(m[:, 2, 2], -1, 1))
    general = np.abs(np.sin(tilt)) > 1e-6  # else tilt is 0 or 180 and only rot +- psi is defined
    rot = np.where(general, np.arctan2(-m[:, 2, 1], m[:, 2, 0]),
                   np.arctan2(m[:, 1, 0], m[:, 0, 0] * np.sign(m[:, 2, 2])))
    psi = np.where(general, np.arctan2(-m[:, 1, 2], -m[:, 0, 2]), 0.0)
    return np.rad2deg(np.stack([rot, tilt, psi], -1))


def star_poses(star: StarData | str | os.PathLike, D: int | None = None, apix: float | None = None,
               datadir: str | os.PathLike | None = None, defaults: CtfDefaults | None = None) -> Poses:
    """Poses from a .star file. Translations are fractions of the box the star file describes
    (rlnImageSize, else its stacks' header, else ``D`` at pixel size ``apix``): ``rlnOriginX / D``
    (pixels, RELION 3.0) or ``rlnOriginXAngst / pixel size / D`` (Å, RELION 3.1+); zero without origins.
    ``D`` and ``apix`` describe the images the poses will be used with, for what the file does not say
    (``defaults.apix``, the user's --Apix, comes before ``apix``). A file with only one of the two origin
    columns is refused."""
    star = _as_star(star)
    _require(star, POSE_COLUMNS, "poses")
    rots = relion_to_rotation(*(_numeric(star, c) for c in POSE_COLUMNS))
    cols = star.particles.columns
    n = len(star.particles)
    for x, y in _ORIGINS:
        if (x in cols) != (y in cols):
            have, lack = (x, y) if x in cols else (y, x)
            raise InputError(f"_{have} is given but _{lack} is not: the shifts would be half missing "
                             "(add the column, or remove both for zero shifts)", star.path)
    if "rlnOriginX" in cols and "rlnOriginY" in cols:
        trans_px = np.stack([_numeric(star, "rlnOriginX"), _numeric(star, "rlnOriginY")], -1)
    elif "rlnOriginXAngst" in cols and "rlnOriginYAngst" in cols:
        angst = np.stack([_numeric(star, "rlnOriginXAngst"), _numeric(star, "rlnOriginYAngst")], -1)
        trans_px = angst / _pixel_size(star, apix, datadir, defaults)[:, None]
    else:
        trans_px = np.zeros((n, 2))
    box = _box_size(star, D, datadir, apix) if trans_px.any() else np.ones(n)
    return Poses(rots, trans_px / box[:, None])


def star_ctf(star: StarData | str | os.PathLike, D: int | None = None, apix: float | None = None,
             datadir: str | os.PathLike | None = None, defaults: CtfDefaults | None = None) -> np.ndarray:
    """CTF table (N, 9) float32 from a .star file (layout of :mod:`napari_cryohype.core.ctf`). D and pixel
    size are those of the images the star file describes. Voltage, Cs, amplitude contrast, phase shift and
    pixel size the file lacks come from ``defaults`` (cryoDRGN's --kv, --cs, -w, --ps, --Apix) when given;
    a missing rlnPhaseShift is otherwise 0."""
    star = _as_star(star)
    cols = star.particles.columns
    missing = [c for c in CTF_COLUMNS if c not in cols and
               (c not in _DEFAULTABLE or defaults is None or getattr(defaults, _DEFAULTABLE[c][0]) is None)]
    if missing:
        flags = [CtfDefaults.FLAGS[_DEFAULTABLE[c][0]] for c in missing if c in _DEFAULTABLE]
        hint = f" (or give {', '.join(flags)})" if flags else ""
        raise InputError(f"cannot read the CTF: missing column(s) {', '.join('_' + c for c in missing)}{hint}",
                         star.path)
    n = len(star.particles)
    ctf = np.zeros((n, 9), dtype=np.float64)
    ctf[:, 0] = _box_size(star, D, datadir, apix)
    ctf[:, 1] = _pixel_size(star, apix, datadir, defaults)
    for j, col in enumerate(CTF_COLUMNS + ("rlnPhaseShift",)):
        if col in cols:
            ctf[:, 2 + j] = _numeric(star, col)
        elif defaults is not None and col in _DEFAULTABLE:
            value = defaults.take(_DEFAULTABLE[col][0], star.path, f"_{col}")
            ctf[:, 2 + j] = 0.0 if value is None else value
    return ctf.astype(np.float32)


def write_star_subset(src_star: str | os.PathLike, indices: np.ndarray, out_path: str | os.PathLike, *,
                      overwrite: bool = False) -> None:
    """Write the particle rows ``indices`` (0-based, in the order given) of ``src_star`` to ``out_path``,
    keeping every other table (``data_optics``) as it is."""
    src, out = Path(src_star), Path(out_path)
    if out.exists() and not overwrite:
        raise InputError("file exists (use --force to overwrite)", out)
    blocks = _read_raw(src)
    name = _particle_block(_read_blocks(src), src)
    table = blocks[name]
    if not isinstance(table, pd.DataFrame):
        table = pd.DataFrame([table])
    indices = np.asarray(indices)
    if indices.ndim != 1 or (indices.size and not np.issubdtype(indices.dtype, np.integer)):
        raise ValueError(f"indices must be a 1D integer array, got {indices.dtype} {indices.shape}")
    if indices.size and (indices.min() < 0 or indices.max() >= len(table)):
        raise InputError(f"selection refers to particle {int(indices.max())} but the file has "
                         f"{len(table)} particles", src)
    blocks[name] = table.iloc[indices].reset_index(drop=True)
    with atomic_path(out) as tmp:
        starfile.write(blocks, tmp)
