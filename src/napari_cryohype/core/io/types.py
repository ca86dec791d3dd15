"""The types every reader returns, in cryoDRGN's conventions."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Poses:
    """Known particle poses (cryoDRGN convention).

    rots: (N, 3, 3) float32 rotation matrices; an image is ``img[y, x] = sum_z vol(p @ R)``.
    trans: (N, 2) float32 shifts in fractions of the box, columns (x, y); translating an image's
    transform by ``+trans * D`` pixels centres the particle.
    """

    rots: np.ndarray
    trans: np.ndarray

    def __post_init__(self) -> None:
        self.rots = np.asarray(self.rots, dtype=np.float32)
        self.trans = np.asarray(self.trans, dtype=np.float32)
        if self.rots.ndim != 3 or self.rots.shape[1:] != (3, 3):
            raise ValueError(f"rots must be (N, 3, 3), got {self.rots.shape}")
        if self.trans.shape != (len(self.rots), 2):
            raise ValueError(f"trans must be ({len(self.rots)}, 2), got {self.trans.shape}")

    def __len__(self) -> int:
        return len(self.rots)

    def subset(self, indices: np.ndarray) -> "Poses":
        """The poses of the selected images (an index array or boolean mask)."""
        return Poses(self.rots[indices], self.trans[indices])


@dataclass
class CtfDefaults:
    """Values for what a CTF file lacks, as cryoDRGN's ``parse_ctf_star`` takes them: ``kv`` voltage (kV),
    ``cs`` spherical aberration (mm), ``w`` amplitude contrast, ``ps`` phase shift (degrees), ``apix`` pixel
    size (Å). A value is used only where the file has none; :meth:`take` records each use in ``used``
    (field -> a note naming the file and what it lacked)."""

    kv: float | None = None
    cs: float | None = None
    w: float | None = None
    ps: float | None = None
    apix: float | None = None
    used: dict[str, str] = field(default_factory=dict)

    FIELDS = ("kv", "cs", "w", "ps", "apix")
    FLAGS = {"kv": "--kv", "cs": "--cs", "w": "-w/--amp-contrast", "ps": "--ps", "apix": "--Apix"}

    @classmethod
    def from_dict(cls, values: dict | None) -> "CtfDefaults":
        """From ``{"kv": 300, ...}`` (a run's ``config["data"]["ctf_defaults"]``); None gives no defaults."""
        values = dict(values or {})
        unknown = set(values) - set(cls.FIELDS)
        if unknown:
            raise ValueError(f"unknown CTF default(s) {', '.join(sorted(unknown))}; known: {', '.join(cls.FIELDS)}")
        return cls(**{k: None if v is None else float(v) for k, v in values.items()})

    def given(self) -> dict[str, float]:
        """The values set: {field: value}."""
        return {k: getattr(self, k) for k in self.FIELDS if getattr(self, k) is not None}

    def take(self, key: str, source: str | os.PathLike, lacking: str) -> float | None:
        """The value of ``key`` (None if not given), noting that ``source`` lacked ``lacking``."""
        value = getattr(self, key)
        if value is not None and key not in self.used:
            self.used[key] = f"{self.FLAGS[key]} {value:g} used: {source} has no {lacking}"
        return value

    def unused(self) -> list[str]:
        """Notes for the values given but not needed (the files had their own)."""
        return [f"{self.FLAGS[k]} {v:g} not used: the files give their own value" for k, v in self.given().items()
                if k not in self.used]
