"""``cryohype decode``: the volume of one image or of a selection of images of a trained run."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from napari_cryohype.core.errors import InputError
from napari_cryohype.core.threads import AUTO, resolve_threads, threads_setting

DESCRIPTION = """\
Decode a volume from a trained CryoHype run: the structure the model assigns to one particle image
(--index), or the mean of the volumes of a selection (--indices: a cryoDRGN indices.pkl, a .npy or a
text file of indices). Writes an MRC map with the voxel size of the run (scaled when --box differs)."""


def add_parser(subparsers) -> None:
    """Register ``cryohype decode``."""
    p = subparsers.add_parser("decode", help="decode a volume from a trained run", description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("outdir", metavar="OUTDIR", help="trained run folder")
    sel = p.add_mutually_exclusive_group(required=True)
    sel.add_argument("--index", type=int, metavar="I", help="index of one particle image")
    sel.add_argument("--indices", metavar="FILE", help="indices of a selection (.pkl, .npy or text)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.mrc", help="output map")
    p.add_argument("--box", type=int, metavar="D", help="box size of the map (default: the training box)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--threads", type=threads_setting, default=AUTO, metavar="T",
                   help="torch CPU threads, as cryohype train takes them: auto (default: one core left free, at "
                        "least 1), 0 (torch's default, one per core) or a number")
    p.add_argument("--force", action="store_true", help="overwrite OUT.mrc")
    p.set_defaults(func=run)


def read_indices(path: str) -> np.ndarray:
    """Indices (int64) from a cryoDRGN indices.pkl, a .npy, or whitespace-separated text."""
    p = Path(path)
    if not p.is_file():
        raise InputError("indices file not found", p)
    try:
        if p.suffix == ".pkl":
            from napari_cryohype.core.io.pkl import load_indices_pkl
            arr = load_indices_pkl(p)
        elif p.suffix == ".npy":
            arr = np.load(p, allow_pickle=False)
        else:
            arr = np.loadtxt(p, ndmin=1)
    except (ValueError, OSError) as e:
        raise InputError(f"not a list of indices ({e})", p) from None
    arr = np.asarray(arr).reshape(-1)
    if arr.size == 0 or not np.all(np.equal(np.mod(arr, 1), 0)):
        raise InputError("expected a non-empty list of integer indices", p)
    return arr.astype(np.int64)


def run(args: argparse.Namespace) -> int:
    """Decode and write the map; return 0."""
    from napari_cryohype.core.decode import decode_images, decode_selection
    from napari_cryohype.core.io.mrc import write_mrc
    from napari_cryohype.core.run import Run

    out = Path(args.output)
    if out.exists() and not args.force:
        raise InputError("output exists (use --force to overwrite)", out)
    run_ = Run.open(args.outdir)
    n = int(run_.config["data"]["n"])
    idx = np.array([args.index]) if args.index is not None else read_indices(args.indices)
    if idx.min() < 0 or idx.max() >= n:
        raise InputError(f"indices must lie in 0..{n - 1}", args.indices or "--index")
    if args.box is not None and (args.box < 2 or args.box % 2):
        raise InputError(f"--box must be an even size >= 2, got {args.box}")
    D = args.box or run_.D
    torch.set_num_threads(resolve_threads(args.threads))
    if len(idx) == 1:
        vol = decode_images(run_, idx, D, device=args.device)
    else:
        vol = decode_selection(run_, idx, D, device=args.device)
    apix = run_.apix * run_.D / D
    write_mrc(out, vol, apix, overwrite=args.force)
    print(f"wrote {out} ({D}^3 voxels, {apix:.3f} Å/voxel) from {len(idx)} image(s)")
    return 0
