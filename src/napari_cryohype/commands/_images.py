"""The image options that ``cryohype train`` and ``cryohype backproject`` share: contrast and box size."""

from __future__ import annotations

import argparse


def add_image_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --invert-data / --uninvert-data (dest ``invert_data``: True, False or None) and --box."""
    g = parser.add_argument_group(
        "images (contrast: inverted by default, as cryoDRGN does for real data, unless a simulation.json next "
        "to the stack says positive contrast, as `cryohype simulate` writes)")
    sign = g.add_mutually_exclusive_group()
    sign.add_argument("--invert-data", action="store_const", const=True, dest="invert_data",
                      help="multiply the images by -1 whatever the data say (dark protein on a light background)")
    sign.add_argument("--uninvert-data", action="store_const", const=False, dest="invert_data",
                      help="do not invert: the protein is bright in the images (positive contrast)")
    g.add_argument("--box", type=int, metavar="D",
                   help="Fourier-crop (or pad) the images to D x D pixels while reading them, as cryoDRGN's "
                        "downsample (even D; pixel size becomes apix x D_stack / D; shifts and CTF follow)")


def image_notes(contrast: str, source_D: int, D: int, apix: float) -> list[str]:
    """Lines for the log: the contrast decision and, when resized, the box and pixel size (Å)."""
    notes = [contrast]
    if D != source_D:
        notes.append(f"images Fourier-{'cropped' if D < source_D else 'padded'} from {source_D} to {D} px while "
                     f"read: {apix:g} Å/px")
    return notes
