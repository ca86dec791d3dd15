"""Load particles, poses and CTF from any supported format, and pair them as a validated torch Dataset."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import InputError
from .contrast import decide_contrast
from .cs import cs_ctf, cs_particles, cs_pixel_size, cs_poses
from .particles import ParticleStack, known_apix
from .pkl import load_ctf_pkl, load_poses_pkl
from .prepared import PreparedStack
from .star import StarData, read_star, star_ctf, star_particles, star_pixel_size, star_poses
from .types import CtfDefaults, Poses

PathLike = str | os.PathLike
PARTICLE_FORMATS = (".mrcs", ".mrc", ".star", ".cs", ".txt")
POSE_FORMATS = (".pkl", ".star", ".cs")
CTF_FORMATS = (".pkl", ".star", ".cs")


def _suffix(path: PathLike | StarData, formats: tuple[str, ...], what: str) -> str:
    if isinstance(path, StarData):
        return ".star"
    suffix = Path(path).suffix.lower()
    if suffix not in formats:
        raise InputError(f"unsupported {what} format {suffix or '(no suffix)'!r}; supported: {', '.join(formats)}",
                         path)
    return suffix


def load_particles(path: PathLike | StarData, datadir: PathLike | None = None) -> ParticleStack:
    """Particle images, read lazily, from .mrcs/.mrc, .star, .cs or .txt (a list of .mrcs).

    Stacks named inside .star/.cs/.txt files resolve against ``datadir`` if given, then the file's folder.
    A .star file already read (:class:`~napari_cryohype.core.io.star.StarData`) is accepted too.
    """
    suffix = _suffix(path, PARTICLE_FORMATS, "particle")
    if suffix in (".mrcs", ".mrc"):
        return ParticleStack.from_mrc(path)
    if suffix == ".star":
        return star_particles(path, datadir)
    if suffix == ".cs":
        return cs_particles(path, datadir)
    return ParticleStack.from_txt(path, datadir)


def images_apix(path: PathLike | StarData, stack: ParticleStack, datadir: PathLike | None = None) -> float | None:
    """Pixel size (Å) of the images of ``stack``, loaded from ``path``: what a .star (optics table or
    columns) or .cs (blob/psize_A) says, scaled to the stack's box where the file describes another; else
    the stack header's; None where neither gives one (a header's 0 or 1.0, :func:`particles.known_apix`)."""
    suffix = _suffix(path, PARTICLE_FORMATS, "particle")
    given = None
    if suffix == ".star":
        given = star_pixel_size(path, stack.D, datadir)
    elif suffix == ".cs":
        given = cs_pixel_size(path, stack.D, datadir)
    return given if given is not None else known_apix(stack.apix)


def load_poses(path: PathLike | StarData, D: int | None = None, *, apix: float | None = None,
               datadir: PathLike | None = None, defaults: CtfDefaults | None = None) -> Poses:
    """Poses (rots, trans as fractions of the box) from cryoDRGN .pkl, RELION .star or cryoSPARC .cs.

    ``D`` (and ``apix``) describe the images the poses go with, used when the file does not say its box
    size (needed to turn pixel shifts into fractions); ``defaults.apix`` (--Apix) comes before ``apix``
    for a .star's Å origins."""
    suffix = _suffix(path, POSE_FORMATS, "pose")
    if suffix == ".pkl":
        return load_poses_pkl(path)
    if suffix == ".star":
        return star_poses(path, D, apix, datadir=datadir, defaults=defaults)
    return cs_poses(path, D, datadir=datadir)


def load_ctf(path: PathLike | StarData, D: int | None = None, *, apix: float | None = None,
             datadir: PathLike | None = None, defaults: CtfDefaults | None = None) -> np.ndarray:
    """CTF table (N, 9) float32 from cryoDRGN .pkl, RELION .star or cryoSPARC .cs; ``D`` and ``apix``
    are used when the file does not say them, ``defaults`` (--kv, --cs, -w, --ps, --Apix) for the CTF
    values a .star/.cs lacks (a .pkl has them all)."""
    suffix = _suffix(path, CTF_FORMATS, "CTF")
    if suffix == ".pkl":
        return load_ctf_pkl(path)
    if suffix == ".star":
        return star_ctf(path, D, apix, datadir=datadir, defaults=defaults)
    return cs_ctf(path, D, apix, datadir=datadir, defaults=defaults)


def _name(x) -> str:
    if isinstance(x, StarData):
        return str(x.path)
    return str(x) if isinstance(x, (str, os.PathLike)) else f"the given {type(x).__name__}"


def _read_stars_once(*sources):
    """Replace .star paths by their parsed tables, reading a file named several times only once."""
    cache: dict[str, StarData] = {}
    out = []
    for src in sources:
        if isinstance(src, (str, os.PathLike)) and Path(src).suffix.lower() == ".star":
            key = os.path.abspath(src)
            if key not in cache:
                cache[key] = read_star(src)
            src = cache[key]
        out.append(src)
    return out


def check_rotations(rots: np.ndarray, source: str, tol: float = 1e-3, chunk: int = 65536) -> None:
    """Raise InputError unless every (3, 3) matrix is a proper rotation (orthonormal, det +1). Checked
    ``chunk`` matrices at a time, so the float64 work arrays stay small however many poses there are."""
    bad, det = np.zeros(len(rots), dtype=bool), np.empty(len(rots))
    for start in range(0, len(rots), chunk):
        r = rots[start:start + chunk].astype(np.float64)
        err = np.abs(r @ r.transpose(0, 2, 1) - np.eye(3)).max(axis=(1, 2))
        det[start:start + chunk] = np.linalg.det(r)
        bad[start:start + chunk] = (err > tol) | (np.abs(det[start:start + chunk] - 1) > tol)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        kind = "a reflection (determinant -1)" if abs(det[i] + 1) < tol else "not orthonormal"
        raise InputError(f"{int(bad.sum())} pose matrices are not rotations; the first, pose {i}, is {kind}",
                         source)


class ParticleDataset(Dataset):
    """Particle images paired with their poses and (optionally) CTF, validated on construction.

    ``particles``, ``poses``, ``ctf``: paths (any supported format) or loaded objects (ParticleStack,
    Poses, (N, 9) array). Item ``i`` is a dict: ``image`` (D, D) float32, ``rot`` (3, 3) float32,
    ``trans`` (2,) float32 in PIXELS (fraction * D), ``ctf`` (9,) float32 (zeros without CTF), ``index``
    int64. A CTF table made for another box size (e.g. before downsampling) is rescaled as cryoDRGN does:
    D becomes the stack's D and the pixel size ``apix * D_ctf / D``.
    ``ctf_defaults`` (:class:`CtfDefaults` or its dict): the user's --kv, --cs, -w, --ps, --Apix, used only
    for what the files lack; ``ctf_notes`` lists each use (and each value given but not needed).
    ``box``: read the images Fourier-cropped (or padded) to ``box`` pixels (:class:`PreparedStack`); poses
    and CTF are read for the stack's own box, the shifts (fractions of the box) stay and the pixel size
    becomes ``apix * D_stack / box``. ``invert_data``: multiply the images by -1 (True), not (False, the
    default), or decide from the data (None: :func:`contrast.decide_contrast`, cryoDRGN's default plus our
    simulator's ``simulation.json``).
    Pixel size: a stack header's 0 or 1.0 means unset (:func:`particles.known_apix`).
    Attributes: ``D`` (after ``box``), ``apix`` (Å/pixel: the CTF's, else --Apix, else the stack header's,
    else 1.0; for ``D`` pixels), ``has_ctf``, ``particles`` (the :class:`PreparedStack`), ``poses``, ``ctf``
    ((N, 9) float32 or None), ``ctf_notes``, ``invert_data`` (bool) and ``contrast_note`` (why). Picklable
    for DataLoader workers.
    """

    def __init__(self, particles: PathLike | ParticleStack, poses: PathLike | Poses,
                 ctf: PathLike | np.ndarray | None = None, *, datadir: PathLike | None = None,
                 ctf_defaults: CtfDefaults | dict | None = None, box: int | None = None,
                 invert_data: bool | None = False):
        defaults = ctf_defaults if isinstance(ctf_defaults, CtfDefaults) else CtfDefaults.from_dict(ctf_defaults)
        particles, poses, ctf = _read_stars_once(particles, poses, ctf)
        stack = particles if isinstance(particles, ParticleStack) else load_particles(particles, datadir)
        D0, n = stack.D, len(stack)
        source_apix = known_apix(stack.apix)
        images = str(stack.path)
        contrast = decide_contrast([stack.path.parent, *(f.parent for f in stack.files)], invert_data)
        self.invert_data, self.contrast_note = contrast.invert, contrast.reason
        self.particles = PreparedStack(stack, box, contrast.invert)
        D = self.particles.D
        if D % 2:
            raise InputError(f"box size must be even, got {D} pixels (resize the images with --box, e.g. "
                             f"--box {D - 1})", images)
        header_apix = None if source_apix is None else source_apix * D0 / D
        self.poses = poses if isinstance(poses, Poses) else load_poses(poses, D0, apix=source_apix,
                                                                        datadir=datadir, defaults=defaults)
        if len(self.poses) != n:
            raise InputError(f"{len(self.poses)} poses in {_name(poses)} but {n} images in {images}", _name(poses))
        for name, arr in (("rotations", self.poses.rots), ("translations", self.poses.trans)):
            if not np.isfinite(arr).all():
                i = int(np.flatnonzero(~np.isfinite(arr.reshape(n, -1)).all(-1))[0])
                raise InputError(f"{name} of pose {i} contain NaN or infinite values", _name(poses))
        check_rotations(self.poses.rots, _name(poses))

        self.ctf = None
        self.apix = float(header_apix or 1.0)
        if ctf is not None:
            if isinstance(ctf, (str, os.PathLike, StarData)):
                table = load_ctf(ctf, D0, apix=source_apix, datadir=datadir, defaults=defaults)
            else:
                table = np.array(ctf, dtype=np.float32)
            self.ctf = self._check_ctf(table, _name(ctf), images, header_apix)
            self.apix = float(self.ctf[0, 1])
        elif set(defaults.given()) - {"apix"}:
            raise InputError("--kv, --cs, -w and --ps fill in a CTF file's missing values, but no CTF file is given")
        elif header_apix is None and defaults.apix is not None:
            given = defaults.take("apix", images, "pixel size in its header (0 or 1.0 mean unset)")
            self.apix = float(given) * D0 / D
        self.ctf_notes = list(defaults.used.values()) + defaults.unused()
        self.has_ctf = self.ctf is not None
        self.D = D

    def _check_ctf(self, table: np.ndarray, source: str, images: str, header_apix: float | None) -> np.ndarray:
        """The CTF table checked and rescaled to the prepared box; ``header_apix`` is for that box."""
        n, D = len(self.particles), self.particles.D
        if table.ndim != 2 or table.shape[1] != 9:
            raise InputError(f"CTF table must be (N, 9), got {table.shape}", source)
        if len(table) != n:
            raise InputError(f"{len(table)} CTF rows in {source} but {n} images in {images}", source)
        if not np.isfinite(table).all():
            i = int(np.flatnonzero(~np.isfinite(table).all(-1))[0])
            raise InputError(f"CTF parameters of particle {i} contain NaN or infinite values", source)
        if (table[:, :2] <= 0).any():
            i = int(np.flatnonzero((table[:, :2] <= 0).any(-1))[0])
            raise InputError(f"CTF row {i} has box size {table[i, 0]:g} and pixel size {table[i, 1]:g}: "
                             "both must be positive", source)
        table = table.copy()
        table[:, 1] = table[:, 1] * table[:, 0] / D
        table[:, 0] = D
        apix = table[:, 1]
        if np.abs(apix / apix[0] - 1).max() > 0.01:
            raise InputError(f"particles have different pixel sizes ({apix.min():g} to {apix.max():g} Å after "
                             f"scaling to the {D} px box); use one optics group at a time", source)
        if header_apix is not None and abs(apix[0] / header_apix - 1) > 0.01:
            D0 = self.particles.source_D
            said = f"{header_apix:g} Å/px" if D == D0 else f"{header_apix * D / D0:g} Å/px at {D0} px"
            raise InputError(f"pixel size disagrees: the CTF gives {apix[0]:g} Å/px for {D} px images but the "
                             f"header of {images} says {said}", source)
        return table

    def __len__(self) -> int:
        return len(self.particles)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        i = range(len(self))[int(i)]  # negative indices count from the end; IndexError past it
        ctf = self.ctf[i] if self.ctf is not None else np.zeros(9, dtype=np.float32)
        return {
            "image": torch.from_numpy(self.particles[i]),
            "rot": torch.from_numpy(self.poses.rots[i].copy()),
            "trans": torch.from_numpy(self.poses.trans[i] * np.float32(self.D)),
            "ctf": torch.from_numpy(np.array(ctf, dtype=np.float32)),
            "index": torch.tensor(i, dtype=torch.int64),
        }
