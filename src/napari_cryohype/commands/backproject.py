"""``cryohype backproject``: voxel backprojection with CTF, one map per label (the upper bound)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from napari_cryohype.commands._ctf import add_ctf_arguments, ctf_overrides
from napari_cryohype.commands._images import add_image_arguments, image_notes
from napari_cryohype.core.analysis import load_labels
from napari_cryohype.core.backproject import DEFAULT_REG, backproject, backproject_labels
from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.dataset import ParticleDataset
from napari_cryohype.core.io.mrc import write_mrc

DESCRIPTION = """\
Reconstruct maps from particle images with known poses (and CTF) by voxel backprojection: each image's
Fourier transform is placed on its central slice, weighted by its CTF, and the accumulated transform is
divided by the summed squared CTF plus --reg (a Wiener-style filter). Images are inverted first unless
they have positive contrast, by the rule of `cryohype train` (see the image options), so that the maps
show positive density. With --labels (one integer per image, e.g. the simulator's
labels.npy), one map is made from each label's images: the reconstruction a method could reach if it knew
which structure every image shows — the upper bound for heterogeneous reconstruction.

Writes OUTDIR/backproject/NNN.mrc for each label NNN (or OUTDIR/backproject/volume.mrc without labels),
with the images' voxel size. Score them with `cryohype eval OUTDIR --method-volumes OUTDIR/backproject`."""

EPILOG = """\
example:
  cryohype backproject bp --particles sim/particles.mrcs --poses sim/poses.pkl --ctf sim/ctf.pkl \\
      --labels sim/labels.npy"""


def add_parser(subparsers) -> None:
    """Register ``cryohype backproject``."""
    p = subparsers.add_parser("backproject", help="voxel backprojection with CTF, one map per label",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("outdir", metavar="OUTDIR", help="output folder; the maps go to OUTDIR/backproject/")
    p.add_argument("--particles", required=True, help="particle stack (.mrcs, .star, .cs or .txt)")
    p.add_argument("--poses", required=True, help="poses (.pkl, .star or .cs)")
    p.add_argument("--ctf", help="CTF parameters (.pkl, .star or .cs); default: no CTF")
    p.add_argument("--labels", help="labels.npy: (N,) integers, one map per distinct label")
    p.add_argument("--datadir", help="folder for the image files a .star/.cs/.txt refers to")
    add_ctf_arguments(p)
    add_image_arguments(p)
    p.add_argument("--reg", type=float, default=DEFAULT_REG,
                   help=f"Wiener regulariser added to the summed squared CTF (default {DEFAULT_REG:g})")
    p.add_argument("--interpolation", choices=("trilinear", "nearest"), default="trilinear",
                   help="how Fourier samples are spread onto the grid (default trilinear)")
    p.add_argument("--batch-size", type=int, default=256, help="images per batch (default 256)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    p.add_argument("--force", action="store_true", help="overwrite maps in an existing OUTDIR/backproject")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Backproject and write the maps; print where they are."""
    out = Path(args.outdir) / "backproject"
    if out.exists() and any(out.iterdir()) and not args.force:
        raise InputError("output folder is not empty (use --force to overwrite)", out)
    dataset = ParticleDataset(args.particles, args.poses, args.ctf, datadir=args.datadir,
                              ctf_defaults=ctf_overrides(args), box=args.box, invert_data=args.invert_data)
    notes = image_notes(dataset.contrast_note, dataset.particles.source_D, dataset.D, dataset.apix)
    for note in notes + dataset.ctf_notes:
        print(f"cryohype backproject: {note}", file=sys.stderr)
    labels = None if args.labels is None else load_labels(args.labels, len(dataset))
    options = dict(batch_size=args.batch_size, reg=args.reg, interpolation=args.interpolation, device=args.device)
    with tqdm(total=len(dataset), unit="img", desc="backproject", disable=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        if labels is None:
            volumes = {None: backproject(dataset, progress=progress, **options)}
        else:
            volumes = backproject_labels(dataset, labels, progress=progress, **options)
    out.mkdir(parents=True, exist_ok=True)
    for label, volume in volumes.items():
        write_mrc(out / ("volume.mrc" if label is None else f"{label:03d}.mrc"), volume, dataset.apix,
                  overwrite=args.force)
    print(f"{len(volumes)} map(s) of {dataset.D}^3 voxels at {dataset.apix:g} Å in {out}"
          + ("" if dataset.has_ctf else " (no CTF given: none corrected)"))
    return 0
