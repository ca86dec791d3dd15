"""Image contrast: whether a particle stack is inverted (multiplied by -1) before use.

Real micrographs show dark protein on a light background (negative contrast); the model wants positive
density, so a stack is inverted by default, as cryoDRGN does (``--uninvert-data`` turns it off). The one
exception is a stack whose data say they are positive: a ``simulation.json`` next to it (what
``cryohype simulate`` writes) whose ``"contrast"`` field starts with "positive". Explicit flags win.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import InputError

SIDECAR = "simulation.json"
#: what ``cryohype simulate`` writes in its ``simulation.json`` (images = CTF * projection of the density)
POSITIVE_STATEMENT = "positive (no inversion): read with cryoDRGN --uninvert-data"


@dataclass(frozen=True)
class Contrast:
    """The decision: ``invert`` (multiply the images by -1) and ``reason`` (one line, for the log)."""

    invert: bool
    reason: str


def stated_contrast(folders: Iterable[Path]) -> tuple[str, Path] | None:
    """("positive" or "negative", the file saying so) from the first ``simulation.json`` in ``folders``
    that states a contrast; None where none does. InputError for one that is not readable JSON."""
    for folder in dict.fromkeys(Path(f) for f in folders):
        path = folder / SIDECAR
        if not path.is_file():
            continue
        try:
            summary = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"unreadable ({e}); it should say the images' contrast: fix or remove it, or "
                             "give --invert-data or --uninvert-data", path) from None
        text = summary.get("contrast") if isinstance(summary, dict) else None
        if isinstance(text, str):
            for sign in ("positive", "negative"):
                if text.strip().lower().startswith(sign):
                    return sign, path
    return None


def decide_contrast(folders: Iterable[Path], invert_data: bool | None = None) -> Contrast:
    """Whether to invert the images of a stack whose files lie in ``folders``: ``invert_data`` True
    (--invert-data) or False (--uninvert-data) decide; None follows the stack's ``simulation.json`` if it
    states a contrast, else inverts (real data)."""
    if invert_data is not None:
        flag = "--invert-data" if invert_data else "--uninvert-data"
        return Contrast(bool(invert_data), f"{'inverting' if invert_data else 'not inverting'} the images "
                                           f"({flag} given)")
    stated = stated_contrast(folders)
    if stated is None:
        return Contrast(True, "inverting the images: real data have negative contrast (dark protein), as "
                              "cryoDRGN assumes; give --uninvert-data if the protein is bright in them")
    sign, path = stated
    if sign == "positive":
        return Contrast(False, f"not inverting the images: {path} says their contrast is positive")
    return Contrast(True, f"inverting the images: {path} says their contrast is negative")
