"""The CTF values a .star/.cs file may lack (--kv, --cs, -w, --ps, --Apix), as cryoDRGN's parse_ctf_star
takes them: the options that ``cryohype train`` and ``cryohype backproject`` share."""

from __future__ import annotations

import argparse
import math

from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.types import CtfDefaults


def add_ctf_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --kv (kV), --cs (mm), -w/--amp-contrast, --ps (degrees) and --Apix (Å; dest ``apix``)."""
    g = parser.add_argument_group("CTF values a .star/.cs file lacks (as cryoDRGN's parse_ctf_star; used only "
                                  "where the file has no value, and said when used)")
    g.add_argument("--kv", type=float, metavar="KV", help="accelerating voltage (kV)")
    g.add_argument("--cs", type=float, metavar="MM", help="spherical aberration (mm)")
    g.add_argument("-w", "--amp-contrast", type=float, metavar="W", dest="w", help="amplitude contrast ratio")
    g.add_argument("--ps", type=float, metavar="DEG", help="phase shift (degrees)")
    g.add_argument("--Apix", type=float, metavar="A", dest="apix",
                   help="pixel size (Å) of the images, where neither the metadata nor the stack's header gives "
                        "one (a header's 1.0 counts as unset)")


def ctf_overrides(args: argparse.Namespace) -> dict[str, float]:
    """The values given, {field: value} (fields of :class:`CtfDefaults`); InputError for one that cannot be
    right (negative, not finite, a zero voltage or pixel size, an amplitude contrast of 1 or more)."""
    given = {k: getattr(args, k) for k in CtfDefaults.FIELDS if getattr(args, k) is not None}
    for key, value in given.items():
        if not math.isfinite(value) or value < 0 or (key in ("kv", "apix") and value == 0) or \
                (key == "w" and value >= 1):
            flag = {"w": "-w", "apix": "--Apix"}.get(key, f"--{key}")
            raise InputError(f"{flag} {value:g} is not a valid value")
    return given
