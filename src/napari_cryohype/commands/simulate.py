"""``cryohype simulate``: a mixed particle stack from atomic models, with its ground truth."""

from __future__ import annotations

import argparse
import math
import warnings

from tqdm import tqdm

from napari_cryohype.core.simulate import DEFAULT_RESOLUTION_APIX, bundled_structures, simulate_mixture

DESCRIPTION = """\
Simulate a cryo-EM particle stack that mixes several structures, in cryoDRGN's conventions.

Every atomic model (PDB or mmCIF, optionally gzipped) becomes a density map (atoms as Gaussians weighted by
atomic number, band-limited to --resolution); each image is its projection at a uniform random rotation,
shifted, multiplied by a CTF (300 kV, Cs 2.7 mm, amplitude contrast 0.1) and given white Gaussian noise.
The images of all structures are shuffled into one stack; labels.npy records which structure made each.

Writes into OUTDIR:
  particles.mrcs      (N, D, D) float32 images, POSITIVE contrast (bright protein with no CTF; not the
                      negative contrast of real micrographs): simulation.json says so, and cryohype
                      train/backproject then do not invert them; with cryoDRGN give --uninvert-data
  poses.pkl           cryoDRGN poses: rotations (N, 3, 3), shifts (N, 2) in fractions of the box
  ctf.pkl             cryoDRGN CTF table (N, 9) (not written with --no-ctf)
  labels.npy          (N,) structure index of every image
  volumes/NNN_NAME.mrc  ground-truth map of structure NNN (= its label), voxel size --apix
  simulation.json     every setting, the structures (sizes, extents) and those left out

Structures that do not fit the box (--box x --apix Å) in every orientation are an error listing them,
unless --skip-oversized leaves them out (with a warning; they are recorded in simulation.json)."""

EPILOG = """\
examples:
  cryohype simulate demo --images-per-structure 200 --box 32 --apix 6       (the bundled models)
  cryohype simulate mix --structures models/ --images-per-structure 1000 --box 128 --apix 4.5 --snr 0.1"""


def _snr(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or 'inf': {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def add_parser(subparsers) -> None:
    """Register ``cryohype simulate``."""
    p = subparsers.add_parser("simulate", help="simulate a mixed particle stack from atomic models",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("outdir", metavar="OUTDIR", help="output folder (must be empty or new, unless --force)")
    p.add_argument("--structures", nargs="+", metavar="FILE_OR_DIR",
                   help="atomic models (.pdb/.cif, optionally .gz) or folders of them; "
                        "default: the %d small models bundled with the package" % len(bundled_structures()))
    p.add_argument("--images-per-structure", "-M", type=int, required=True, metavar="M",
                   help="images simulated for each structure")
    p.add_argument("--box", "-D", type=int, required=True, metavar="D", help="box size in pixels (even)")
    p.add_argument("--apix", type=float, required=True, metavar="A", help="pixel size in Å")
    p.add_argument("--resolution", type=float, metavar="Å",
                   help=f"resolution of the maps in Å (default {DEFAULT_RESOLUTION_APIX:g} x apix; "
                        "at least 2 x apix)")
    p.add_argument("--snr", type=_snr, default=math.inf, metavar="S",
                   help="signal-to-noise ratio, signal variance / noise variance (default inf: no noise)")
    p.add_argument("--no-ctf", dest="ctf", action="store_false", help="apply no CTF (and write no ctf.pkl)")
    p.add_argument("--defocus-range", nargs=2, type=float, default=(10000.0, 25000.0), metavar=("MIN", "MAX"),
                   help="range of the mean defocus in Å (default 10000 25000)")
    p.add_argument("--shift-std", type=float, default=0.0, metavar="PX",
                   help="standard deviation of the particles' shifts in pixels (default 0)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="parallel workers (default: every usable CPU core)")
    p.add_argument("--skip-oversized", action="store_true",
                   help="leave out structures that do not fit the box instead of stopping")
    p.add_argument("--force", action="store_true", help="write into a non-empty OUTDIR, overwriting")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the simulation with a progress bar; print where the results are."""
    structures = args.structures or bundled_structures()
    with tqdm(total=0, unit="img", desc="simulate", disable=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="skipping .* larger than")  # reported below
            result = simulate_mixture(
                args.outdir, structures, args.images_per_structure, args.box, args.apix,
                resolution=args.resolution, snr=args.snr, ctf=args.ctf, defocus_range=tuple(args.defocus_range),
                shift_std=args.shift_std, seed=args.seed, force=args.force, skip_oversized=args.skip_oversized,
                threads=args.threads, progress=progress)
    if result.skipped:
        print(f"warning: left out {len(result.skipped)} structure(s) larger than the box: "
              f"{', '.join(result.skipped)} (see {result.summary.name})")
    print(f"{result.n_images} images of {len(result.names)} structures in {result.outdir} "
          f"(noise std {result.noise_std:.4g}); settings in {result.summary.name}")
    return 0
