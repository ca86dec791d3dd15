"""Simulate a mixed cryo-EM particle stack from atomic models, in cryoDRGN's conventions.

Pipeline for every image: pick a structure (the stack is a random shuffle of ``M`` images per
structure), a uniform random rotation ``R`` and a shift, project the structure's density, apply a CTF,
add Gaussian noise. The result is streamed to ``OUTDIR/particles.mrcs`` in chunks (bounded memory).

Model of the density (units: atomic number per voxel):
    Each atom is a 3D Gaussian of standard deviation ``sigma = resolution / (pi * sqrt(2))`` Å holding its
    weight (its atomic number, :mod:`napari_cryohype.core.atoms`). The Fourier transform of such a
    Gaussian is ``exp(-2 pi^2 sigma^2 k^2)``, which falls to 1/e at ``k = 1 / resolution``: the map's
    resolution in the sense of ChimeraX ``molmap``. The default resolution, ``3 * apix``, leaves 10% of
    the Gaussian's amplitude at Nyquist, so the grid samples the map without visible aliasing; the
    finest allowed is Nyquist, ``2 * apix``.

Ground-truth map: ``vol[z, y, x]`` on the ``D^3`` grid of voxel size ``apix`` with the structure's centre
at index ``D // 2`` (voxel ``i`` is at ``(i - D // 2) * apix`` Å).

Projections: ``img[y, x] = sum_z vol(p @ R)`` with ``p = (x, y, z)`` (:mod:`napari_cryohype.core.lattice`).
An atom at ``q`` therefore appears at ``p = q @ R.T``; the image is the exact line integral of the
Gaussians (cut at 5 sigma), computed for a batch of poses with separable 1D Gaussians and one matrix
product per image (``img = Gy^T diag(w) Gx``) on a window around the particle, which equals the projection
of the ground-truth map.

Fit: a structure fits when twice its largest atom distance from the centre is at most the box edge
``D * apix`` (it then fits in every orientation); shifts can still move its edge out of the box.

Shifts: ``trans`` (fractions of the box, stored in ``poses.pkl``) is drawn with standard deviation
``shift_std`` pixels; the stored image is the centred projection moved by ``-trans * D`` pixels, so that
translating the image by ``+trans * D`` (``core.lattice.translate_ht``) centres it, as in cryoDRGN.

CTF: cryoDRGN's formula (``core.ctf``) multiplied onto the image's centred 2D transform on the ``D`` grid:
300 kV, Cs 2.7 mm, amplitude contrast 0.1, no phase shift; mean defocus uniform in ``defocus_range``,
astigmatism ``dfU - dfV`` uniform in [0, 400] Å, astigmatism angle uniform in [0, 180) degrees.

Contrast: images are the forward model applied to the positive density, with no inversion (with no CTF
the protein is bright); ``simulation.json`` says so in its "contrast" field, which ``cryohype train`` and
``backproject`` read (:mod:`napari_cryohype.core.io.contrast`) so as not to invert them; cryoDRGN reads
them with ``--uninvert-data``.

Noise: white Gaussian with one standard deviation for the whole stack,
``noise_std = sqrt(signal_variance / snr)``, where ``signal_variance`` is the variance of all pixels of
the noise-free images (CTF applied) of the first chunk, a random sample of the shuffled stack of at least
256 images (or all of them) -- the rule of cryoDRGN's ``add_noise``.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from napari_cryohype import __version__

from .atoms import AtomicModel, is_model_file, read_atoms, safe_filename
from .ctf import ctf_from_table
from .errors import InputError
from .io.atomic import atomic_path
from .io.contrast import POSITIVE_STATEMENT
from .io.mrc import MrcStackWriter, write_mrc
from .io.pkl import save_ctf_pkl, save_poses_pkl
from .io.types import Poses
from .rotation import random_rotations

VOLTAGE_KV = 300.0
CS_MM = 2.7
AMPLITUDE_CONTRAST = 0.1
MAX_ASTIGMATISM_A = 400.0
DEFAULT_RESOLUTION_APIX = 3.0  # default resolution in pixels (times apix gives Å)
CHUNK_BYTES = 32 * 2**20  # images held at once: one chunk of float32 images
BATCH_ELEMENTS = 2 * 2**20  # bound on (images x atoms x D x 2) in one projection batch (cache-sized)
MIN_NOISE_SAMPLE = 256
TRUNCATE_SIGMAS = 5.0

ProgressCallback = Callable[[int, int], None]


@dataclass
class SimulationResult:
    """What :func:`simulate_mixture` wrote. ``ctf`` is None when no CTF was applied."""

    outdir: Path
    particles: Path
    poses: Path
    ctf: Path | None
    labels: Path
    volumes: list[Path]
    summary: Path
    names: list[str]
    n_images: int
    noise_std: float
    skipped: list[str] = field(default_factory=list)


def bundled_structures() -> list[Path]:
    """Paths of the small atomic models shipped in ``napari_cryohype/data/structures``, sorted by name."""
    folder = resources.files("napari_cryohype").joinpath("data", "structures")
    return sorted(Path(str(p)) for p in folder.iterdir() if is_model_file(p.name))


def find_structures(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Expand files and folders into a list of atomic-model files (folders: their model files, sorted)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file() and is_model_file(f))
            if not files:
                raise InputError("folder holds no .pdb/.cif (optionally .gz) files", p)
            found.extend(files)
        elif p.is_file():
            found.append(p)
        else:
            raise InputError("atomic model not found", p)
    if not found:
        raise InputError("no atomic models given")
    return found


def gaussian_sigma(resolution: float) -> float:
    """Standard deviation (Å) of the atom Gaussians for a map of ``resolution`` Å (1/e point of the FT)."""
    return resolution / (math.pi * math.sqrt(2.0))


def _gaussians_1d(centres: torch.Tensor, D: int, sigma_px: float, weights: torch.Tensor) -> torch.Tensor:
    """1D Gaussians of unit integral times ``weights`` (broadcast to centres' shape (..., n)), centred at
    pixel positions ``centres`` (..., n), sampled on 0..D-1 -> (..., n, D).

    Each Gaussian is evaluated within ``TRUNCATE_SIGMAS`` standard deviations of its centre (beyond, its
    value is below 4e-6 of its peak) and written into a zero row, which spares most of the exponentials.
    """
    half = math.ceil(TRUNCATE_SIGMAS * sigma_px)
    width = 2 * half + 2
    scale, norm = -0.5 / sigma_px**2, 1.0 / (math.sqrt(2 * math.pi) * sigma_px)
    if width >= D:
        grid = torch.arange(D, dtype=centres.dtype, device=centres.device)
        return (grid - centres[..., None]).square_().mul_(scale).exp_().mul_(norm * weights[..., None])
    # the window [first, first + width) holds the part of [centre - half, centre + half] inside 0..D-1;
    # near an edge it is moved inwards (where it still gives exact values)
    first = (centres.floor() - half).clamp_(0, D - width)
    steps = torch.arange(width, device=centres.device)
    g = ((first - centres)[..., None] + steps.to(centres.dtype)).square_().mul_(scale).exp_()
    g.mul_(norm * weights[..., None])
    out = torch.zeros(*centres.shape, D, dtype=centres.dtype, device=centres.device)
    return out.scatter_(-1, first.to(torch.int64)[..., None] + steps, g)


def _window(model: AtomicModel, D: int, apix: float, sigma_px: float) -> int:
    """Edge (pixels, even, at most D) of a square window centred on the particle that holds all of its
    Gaussians in any orientation."""
    reach = model.radius / apix + math.ceil(TRUNCATE_SIGMAS * sigma_px) + 1
    return min(D, 2 * math.ceil(reach) + 4)


def density_map(model: AtomicModel, D: int, apix: float, resolution: float) -> np.ndarray:
    """Ground-truth map of ``model``: (D, D, D) float32 ``[z, y, x]``, centre at ``D // 2``, units of
    atomic number per voxel (the voxels sum to about the total weight). Computed on the cube around the
    particle that holds its Gaussians."""
    sigma_px = gaussian_sigma(resolution) / apix
    size = _window(model, D, apix, sigma_px)
    corner = D // 2 - size // 2
    pos = torch.as_tensor(model.coords / apix + D // 2 - corner, dtype=torch.float32)  # (n, 3) (x, y, z)
    w = torch.as_tensor(model.weights, dtype=torch.float32)
    cube = torch.zeros(size, size * size)
    step = max(1, BATCH_ELEMENTS // (size * size))
    for a in range(0, len(pos), step):
        weights = torch.ones(3, len(pos[a:a + step]))
        weights[2] = w[a:a + step]
        g = _gaussians_1d(pos[a:a + step].T, size, sigma_px, weights)  # (3, n, size): x, y, z (weighted)
        gyx = (g[1][:, :, None] * g[0][:, None, :]).reshape(-1, size * size)  # (n, size^2), y major
        cube += g[2].T @ gyx
    vol = np.zeros((D, D, D), dtype=np.float32)
    vol[corner:corner + size, corner:corner + size, corner:corner + size] = cube.reshape(size, size, size).numpy()
    return vol


def project_atoms(model: AtomicModel, rots: np.ndarray, offsets_px: np.ndarray, D: int, apix: float,
                  resolution: float) -> np.ndarray:
    """Projections of ``model`` in cryoDRGN's convention: (B, D, D) float32 ``[y, x]``.

    rots: (B, 3, 3) rotation matrices; offsets_px: (B, 2) (x, y) pixel offsets of the particle from the
    box centre (``-trans * D`` for stored poses). ``img[y, x] = sum_z vol(p @ R)`` for the map
    :func:`density_map` makes, evaluated exactly from the atoms. Each image is computed on a square window
    around the particle that holds all of its Gaussians (the whole image for large particles), then
    placed in the box.
    """
    sigma_px = gaussian_sigma(resolution) / apix
    size = _window(model, D, apix, sigma_px)
    q = torch.as_tensor(model.coords / apix, dtype=torch.float32)  # (n, 3) voxels
    weights = torch.ones(2, len(q))
    weights[1] = torch.as_tensor(model.weights, dtype=torch.float32)  # on the y factor only
    rots_t = torch.as_tensor(np.asarray(rots), dtype=torch.float32)
    centre = torch.as_tensor(np.asarray(offsets_px), dtype=torch.float32) + D // 2  # (B, 2)
    corner = (centre.floor() - size // 2).to(torch.int64)  # (B, 2) window origin in the box, pixels
    if size == D:
        corner.zero_()
    out = torch.zeros(len(rots_t), D, D)
    step = max(1, BATCH_ELEMENTS // (2 * len(q) * size))
    for b in range(0, len(rots_t), step):
        rot_xy = rots_t[b:b + step].transpose(1, 2)[..., :2]  # (b, 3, 2): q @ R.T, columns x and y
        p = (q @ rot_xy).transpose(1, 2) + (centre - corner)[b:b + step, :, None]  # (b, 2, n) window pixels
        g = _gaussians_1d(p, size, sigma_px, weights)  # (b, 2, n, size)
        windows = g[:, 1].transpose(1, 2) @ g[:, 0]  # (b, size, size)
        for i, (x0, y0) in enumerate(corner[b:b + step].tolist()):
            xa, xb, ya, yb = max(x0, 0), min(x0 + size, D), max(y0, 0), min(y0 + size, D)
            if xa < xb and ya < yb:
                out[b + i, ya:yb, xa:xb] = windows[i, ya - y0:yb - y0, xa - x0:xb - x0]
    return out.numpy()


def random_ctf(n: int, D: int, apix: float, defocus_range: tuple[float, float],
               rng: np.random.Generator) -> np.ndarray:
    """A cryoDRGN CTF table (n, 9) float32 with random defocus and astigmatism (see module doc)."""
    df = rng.uniform(defocus_range[0], defocus_range[1], n)
    astig = rng.uniform(0.0, MAX_ASTIGMATISM_A, n)
    ang = rng.uniform(0.0, 180.0, n)
    table = np.zeros((n, 9), dtype=np.float32)
    table[:, 0], table[:, 1] = D, apix
    table[:, 2], table[:, 3], table[:, 4] = df + astig / 2, df - astig / 2, ang
    table[:, 5], table[:, 6], table[:, 7] = VOLTAGE_KV, CS_MM, AMPLITUDE_CONTRAST
    return table


def apply_ctf(images: np.ndarray, ctf_table: np.ndarray) -> np.ndarray:
    """Multiply images (B, D, D) by their CTFs (table rows (B, 9)) in Fourier space on the D x D grid.

    Equal to ``ifft2_center(fft2_center(img) * ctf)`` with the CTF on the centred grid: a product in
    Fourier space is a circular convolution, which commutes with the half-box roll of the centring, so
    the CTF is evaluated in FFT order instead and no shifts are needed.
    """
    D = images.shape[-1]
    k = torch.fft.fftfreq(D)
    ky, kx = torch.meshgrid(k, k, indexing="ij")
    freqs = torch.stack([kx.ravel(), ky.ravel()], dim=-1)  # (D*D, 2) cycles/pixel, (kx, ky), FFT order
    c = ctf_from_table(torch.as_tensor(ctf_table, dtype=torch.float32), freqs).reshape(-1, D, D)
    return torch.fft.ifft2(torch.fft.fft2(torch.as_tensor(images)) * c).real.numpy()


def _cpu_count() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run torch ops single-threaded inside, restoring the setting after (see :func:`_render`)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _render(pool: ThreadPoolExecutor, models: list[AtomicModel], labels: np.ndarray, rots: np.ndarray,
            offsets: np.ndarray, D: int, apix: float, resolution: float) -> np.ndarray:
    """Noise-free, CTF-free images (B, D, D) of a chunk: each structure's rows in batches, one batch per
    task of ``pool``. Parallel tasks with single-threaded torch ops scale on busy machines, where torch's
    own threads stall one another on every small op."""
    images = np.empty((len(labels), D, D), dtype=np.float32)
    tasks = []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        step = max(1, BATCH_ELEMENTS // (2 * models[label].n_atoms * D))
        tasks += [(label, rows[i:i + step]) for i in range(0, len(rows), step)]

    def task(item: tuple[int, np.ndarray]) -> None:
        label, rows = item
        images[rows] = project_atoms(models[label], rots[rows], offsets[rows], D, apix, resolution)

    for _ in pool.map(task, tasks):
        pass
    return images


def _parallel_ctf(pool: ThreadPoolExecutor, images: np.ndarray, ctf_table: np.ndarray, batch: int = 64) -> None:
    """Apply each image's CTF in place, ``batch`` images per task of ``pool``."""
    def task(start: int) -> None:
        images[start:start + batch] = apply_ctf(images[start:start + batch], ctf_table[start:start + batch])

    for _ in pool.map(task, range(0, len(images), batch)):
        pass


def _write_volumes(pool: ThreadPoolExecutor, workers: int, folder: Path, models: list[AtomicModel], D: int,
                   apix: float, resolution: float, force: bool) -> list[Path]:
    """Write the ground-truth maps ``folder/NNN_NAME.mrc`` (``workers`` at a time, in parallel); with
    ``force``, first remove numbered maps an earlier run left there."""
    if force:
        for stale in folder.glob("*_*.mrc"):
            if stale.name.split("_")[0].isdigit():
                stale.unlink()
    paths = [folder / f"{label:03d}_{safe_filename(m.name)}.mrc" for label, m in enumerate(models)]
    for i in range(0, len(models), workers):
        maps = pool.map(lambda m: density_map(m, D, apix, resolution), models[i:i + workers])
        for path, vol in zip(paths[i:i + workers], maps):
            write_mrc(path, vol, apix, overwrite=force)
    return paths


def _check_settings(images_per_structure: int, D: int, apix: float, resolution: float, snr: float,
                    defocus_range: tuple[float, float], shift_std: float) -> None:
    if images_per_structure < 1:
        raise InputError(f"images per structure must be at least 1, got {images_per_structure}")
    if D < 8 or D % 2:
        raise InputError(f"box size must be even and at least 8 pixels, got {D}")
    if not apix > 0:
        raise InputError(f"pixel size must be positive, got {apix} Å")
    if not resolution >= 2 * apix - 1e-6:
        raise InputError(f"resolution {resolution} Å is finer than Nyquist (2 x {apix} Å/pixel)")
    if not snr > 0:
        raise InputError(f"SNR must be positive (or inf for no noise), got {snr}")
    lo, hi = defocus_range
    if not 0 <= lo <= hi:
        raise InputError(f"defocus range must satisfy 0 <= MIN <= MAX (Å), got {lo} {hi}")
    if not shift_std >= 0:
        raise InputError(f"shift standard deviation must be >= 0 pixels, got {shift_std}")


def _prepare_outdir(outdir: Path, force: bool) -> None:
    if outdir.exists() and not outdir.is_dir():
        raise InputError("output folder is a file", outdir)
    if outdir.is_dir() and any(outdir.iterdir()) and not force:
        raise InputError("output folder is not empty (use --force to overwrite)", outdir)
    (outdir / "volumes").mkdir(parents=True, exist_ok=True)


def _structure_record(label: int | None, model: AtomicModel, box_A: float) -> dict:
    return {"label": label, "name": model.name, "source": str(model.path), "n_atoms": model.n_atoms,
            "total_weight": float(model.weights.sum()), "radius_A": round(model.radius, 3),
            "max_extent_A": round(model.extent, 3), "rotation_safe_box_A": round(2 * model.radius, 3),
            "fits_box": bool(2 * model.radius <= box_A)}


def _select_models(models: list[AtomicModel], box_A: float, D: int, apix: float,
                   skip_oversized: bool) -> tuple[list[AtomicModel], list[AtomicModel]]:
    """Split models into those that fit the box in every orientation and the oversized ones."""
    big = [m for m in models if 2 * m.radius > box_A]
    if big and not skip_oversized:
        listing = "; ".join(f"{m.name} ({m.path}): max extent {m.extent:.1f} Å, needs {2 * m.radius:.1f} Å"
                            for m in big)
        raise InputError(f"{len(big)} structure(s) do not fit a {D} px x {apix:g} Å/px box ({box_A:.1f} Å) in "
                         f"every orientation: {listing}. Use a larger --box/--apix or --skip-oversized.")
    if big:
        warnings.warn(f"skipping {len(big)} structure(s) larger than the {box_A:.1f} Å box: "
                      + ", ".join(f"{m.name} (needs {2 * m.radius:.1f} Å)" for m in big), stacklevel=3)
    kept = [m for m in models if 2 * m.radius <= box_A]
    if not kept:
        raise InputError(f"no structure fits the {box_A:.1f} Å box")
    return kept, big


def simulate_mixture(outdir: str | os.PathLike, structures: Sequence[str | os.PathLike],
                     images_per_structure: int, D: int, apix: float, *, resolution: float | None = None,
                     snr: float = math.inf, ctf: bool = True,
                     defocus_range: tuple[float, float] = (10000.0, 25000.0), shift_std: float = 0.0,
                     seed: int = 0, force: bool = False, skip_oversized: bool = False,
                     threads: int | None = None, progress: ProgressCallback | None = None) -> SimulationResult:
    """Simulate ``images_per_structure`` images of each structure, shuffled into one stack.

    structures: atomic-model files or folders of them; D: box size (pixels, even); apix: Å/pixel;
    resolution: Å (default ``3 * apix``); snr: signal variance / noise variance (``inf``: no noise);
    defocus_range: (min, max) mean defocus in Å; shift_std: pixels; threads: parallel workers (default:
    the usable CPU cores; torch runs single-threaded meanwhile); progress: called as
    ``progress(done, total)`` after each written chunk. Structures that do not fit the box in every
    orientation raise :class:`InputError` unless ``skip_oversized`` (then they are left out, warned about
    and listed in ``simulation.json``). Writes into ``outdir`` (refused when not empty unless ``force``):
    ``particles.mrcs`` (N, D, D) float32, ``poses.pkl``, ``ctf.pkl`` (unless ``ctf`` is False),
    ``labels.npy`` (N,) int64 structure index, ``volumes/NNN_NAME.mrc`` ground-truth maps (NNN = label),
    ``simulation.json`` (every setting and the structure list). See the module doc for the physics.
    """
    outdir = Path(outdir)
    resolution = DEFAULT_RESOLUTION_APIX * apix if resolution is None else float(resolution)
    defocus_range = (float(defocus_range[0]), float(defocus_range[1]))
    _check_settings(images_per_structure, D, apix, resolution, snr, defocus_range, shift_std)
    if threads is not None and threads < 1:
        raise InputError(f"threads must be at least 1, got {threads}")
    paths = find_structures(structures)
    box_A = D * apix
    all_models = [read_atoms(p) for p in paths]
    models, big = _select_models(all_models, box_A, D, apix, skip_oversized)
    _prepare_outdir(outdir, force)

    n = len(models) * images_per_structure
    rng_poses, rng_noise = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    labels = rng_poses.permutation(np.repeat(np.arange(len(models)), images_per_structure))
    rots = random_rotations(n, rng_poses).astype(np.float32)
    trans = (rng_poses.normal(0.0, shift_std, (n, 2)) / D).astype(np.float32)
    ctf_table = random_ctf(n, D, apix, defocus_range, rng_poses) if ctf else None
    offsets = -trans.astype(np.float64) * D  # the particle's offset from the box centre, pixels

    chunk = max(MIN_NOISE_SAMPLE, CHUNK_BYTES // (4 * D * D))
    noise_std, signal_var = 0.0, None
    particles = outdir / "particles.mrcs"
    workers = threads or _cpu_count()
    with _torch_threads(1), ThreadPoolExecutor(workers) as pool:
        volume_paths = _write_volumes(pool, workers, outdir / "volumes", models, D, apix, resolution, force)
        with MrcStackWriter(particles, n, D, apix, overwrite=force) as writer:
            for start in range(0, n, chunk):
                stop = min(n, start + chunk)
                images = _render(pool, models, labels[start:stop], rots[start:stop], offsets[start:stop], D, apix,
                                 resolution)
                if ctf_table is not None:
                    _parallel_ctf(pool, images, ctf_table[start:stop])
                if signal_var is None:
                    signal_var = float(images.var(dtype=np.float64))
                    noise_std = math.sqrt(signal_var / snr) if math.isfinite(snr) else 0.0
                if noise_std > 0:
                    images += noise_std * rng_noise.standard_normal(images.shape, dtype=np.float32)
                writer.write(start, images)
                if progress is not None:
                    progress(stop, n)

    poses = outdir / "poses.pkl"
    save_poses_pkl(poses, Poses(rots, trans), overwrite=force)
    ctf_path = outdir / "ctf.pkl"
    if ctf_table is not None:
        save_ctf_pkl(ctf_path, ctf_table, overwrite=force)
    elif ctf_path.exists():  # a stale table from an earlier run would describe images it did not make
        ctf_path.unlink()
    labels_path = outdir / "labels.npy"
    if labels_path.exists() and not force:
        raise InputError("file exists (use --force to overwrite)", labels_path)
    with atomic_path(labels_path) as tmp:
        np.save(tmp, labels.astype(np.int64))

    summary = {
        "generator": f"napari-cryohype {__version__} simulate",
        "n_images": n, "images_per_structure": images_per_structure, "n_structures": len(models),
        "D": D, "apix": apix, "box_A": box_A, "seed": seed,
        "resolution_A": resolution, "gaussian_sigma_A": gaussian_sigma(resolution),
        "density": "atoms as 3D Gaussians, sigma = resolution / (pi sqrt 2), weight = atomic number, "
                   "each integrating to its weight (units: atomic number per voxel)",
        "centre": "weighted centre of the atoms at voxel D//2",
        "projection": "img[y, x] = sum_z vol(p @ R), p = (x, y, z); poses.pkl (rots, trans), trans in "
                      "fractions of the box; the image is the centred projection moved by -trans*D pixels",
        "contrast": POSITIVE_STATEMENT,
        "ctf": {"applied": bool(ctf), "voltage_kV": VOLTAGE_KV, "cs_mm": CS_MM,
                "amplitude_contrast": AMPLITUDE_CONTRAST, "defocus_range_A": list(defocus_range),
                "max_astigmatism_A": MAX_ASTIGMATISM_A} if ctf else {"applied": False},
        "shift_std_px": shift_std,
        "snr": snr if math.isfinite(snr) else "inf", "signal_variance": signal_var, "noise_std": noise_std,
        "noise": "white Gaussian, noise_std = sqrt(signal_variance / snr), signal variance of all pixels "
                 f"of the first {min(n, chunk)} noise-free images",
        "files": {"particles": particles.name, "poses": poses.name,
                  "ctf": ctf_path.name if ctf else None, "labels": labels_path.name,
                  "volumes": [str(p.relative_to(outdir)) for p in volume_paths]},
        "structures": [dict(_structure_record(i, m, box_A), volume=str(volume_paths[i].relative_to(outdir)))
                       for i, m in enumerate(models)],
        "skipped_oversized": [_structure_record(None, m, box_A) for m in big],
    }
    summary_path = outdir / "simulation.json"
    if summary_path.exists() and not force:
        raise InputError("file exists (use --force to overwrite)", summary_path)
    with atomic_path(summary_path) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    return SimulationResult(outdir=outdir, particles=particles, poses=poses,
                            ctf=ctf_path if ctf else None, labels=labels_path, volumes=volume_paths,
                            summary=summary_path, names=[m.name for m in models], n_images=n,
                            noise_std=noise_std, skipped=[m.name for m in big])
