"""``cryohype downsample``: Fourier-crop a particle stack to a smaller box, streamed in chunks."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from napari_cryohype.core.downsample import CHUNK_BYTES, downsample_stack
from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.contrast import stated_contrast
from napari_cryohype.core.io.dataset import images_apix, load_particles
from napari_cryohype.core.io.star import read_star

DESCRIPTION = f"""\
Resize particle images to a D x D box by Fourier cropping, as cryoDRGN's `downsample` (or zero padding,
for D larger than the stack's box), and write them to one .mrcs whose header gives the new pixel size
(apix x D_stack / D; apix from a .star's optics table or a .cs's blob/psize_A, else the stack's
header). The images keep their sign (contrast) and order; poses and CTF files need no change
(shifts are fractions of the box; the CTF table is rescaled to the stack's box when read).

The stack is read and written a chunk at a time (--chunk; default about {CHUNK_BYTES >> 20} MB of input
images), so any stack size works in the same memory. `cryohype train --box D` does the same while reading,
with no file written."""

EPILOG = """\
examples:
  cryohype downsample particles.mrcs particles.128.mrcs --box 128
  cryohype downsample run_data.star particles.128.mrcs --box 128 --datadir Extract/"""


def add_parser(subparsers) -> None:
    """Register ``cryohype downsample``."""
    p = subparsers.add_parser("downsample", help="Fourier-crop a particle stack to a smaller box",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IN", help="particle images: .mrcs, .mrc, .star, .cs or .txt")
    p.add_argument("output", metavar="OUT", help="the resized stack to write (.mrcs)")
    p.add_argument("--box", "-D", type=int, required=True, metavar="D", help="new box size in pixels (even)")
    p.add_argument("--datadir", metavar="DIR", help="folder of the stacks a .star/.cs/.txt refers to")
    p.add_argument("--chunk", type=int, metavar="N", help="images per chunk (default: about 64 MB of them)")
    p.add_argument("--force", action="store_true", help="overwrite OUT")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Resize and write the stack; print what was written."""
    out = Path(args.output)
    if out.suffix.lower() not in (".mrcs", ".mrc"):
        raise InputError("the output must be an .mrcs (or .mrc) file", out)
    if args.chunk is not None and args.chunk < 1:
        raise InputError(f"--chunk must be at least 1 image, got {args.chunk}")
    source = read_star(args.input) if Path(args.input).suffix.lower() == ".star" else args.input  # read once
    stack = load_particles(source, args.datadir)
    if out.resolve() in {f.resolve() for f in stack.files}:
        raise InputError("the output would overwrite an input stack", out)
    source_apix = images_apix(source, stack, args.datadir)
    with tqdm(total=len(stack), unit="img", desc="downsample", disable=None) as bar:
        apix = downsample_stack(stack, out, args.box, apix=source_apix, chunk=args.chunk, overwrite=args.force,
                                progress=lambda done, total: bar.update(done - bar.n))
    size = f"{apix:g} Å/px" if apix else "pixel size unset (neither the input nor its stacks' header give one)"
    print(f"{out}: {len(stack)} images of {args.box} px (from {stack.D} px), {size}")
    stated = stated_contrast([stack.path.parent, *(f.parent for f in stack.files)])
    if stated is not None and stated[0] == "positive" and stated_contrast([out.parent]) is None:
        print(f"note: {stated[1]} says the images have positive contrast, but nothing beside {out.name} says "
              "so: train on it with --uninvert-data")
    return 0
