"""Which atomic models go into a benchmark mixture.

The corpus is a folder of models with an ``index.csv`` (columns ``name``, ``file``, ``homology_group``,
``rot_box_A``: the box edge in Å that holds the model in any orientation). A mixture of ``n`` takes at most
one model per homology group, so every structure in it is distinct; models that fit the simulation box come
first, and the order is one seeded permutation, so the mixture of 10 is part of the mixture of 50, which is
part of the mixture of 100. Nothing depends on the corpus size: 100 or 1,000 models work the same way.
A corpus with a ``tier`` column (``structures-large``: tier 40 = the one model of its 40%-identity group
that is distinct from every other group) gives each group its tier-40 model.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

REQUIRED_COLUMNS = ("name", "file", "homology_group", "rot_box_A")


class CorpusError(RuntimeError):
    """The structure corpus is missing or unusable; the message says what to do."""


@dataclass(frozen=True)
class Structure:
    """One atomic model of the corpus."""
    name: str
    path: Path
    homology_group: str
    rot_box_A: float      # box edge (Å) that contains the model in every orientation

    def fits(self, box_A: float) -> bool:
        """Whether the model stays inside a box of edge ``box_A`` Å whatever its orientation."""
        return self.rot_box_A <= box_A

    def as_json(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def load_corpus(directory: Path) -> list[Structure]:
    """The distinct models of ``directory/index.csv`` whose files exist: one per homology group (its tier-40
    model where the index has a ``tier`` column, else the alphabetically first name), sorted by name. Raises :class:`CorpusError` when the folder or
    its index is missing."""
    directory = Path(directory)
    index = directory / "index.csv"
    if not directory.is_dir():
        raise CorpusError(f"structure corpus not found: {directory} does not exist. The benchmark needs the "
                          "shared atomic models (../shared/data/structures next to the repository, or "
                          "--structures-dir DIR with an index.csv).")
    if not index.is_file():
        raise CorpusError(f"structure corpus {directory} has no index.csv")
    with index.open(newline="") as f:
        rows = list(csv.DictReader(f))
    missing = [c for c in REQUIRED_COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise CorpusError(f"{index}: needs the columns {', '.join(REQUIRED_COLUMNS)}"
                          + (f" (missing {', '.join(missing)})" if missing else " and at least one row"))
    by_group: dict[str, Structure] = {}
    for row in sorted(rows, key=lambda r: (r.get("tier", "40") != "40", r["name"])):
        path = directory / row["file"]
        if not path.is_file():
            continue
        group = row["homology_group"] or row["name"]
        if group not in by_group:
            by_group[group] = Structure(row["name"], path, group, float(row["rot_box_A"]))
    return sorted(by_group.values(), key=lambda s: s.name)


def corpus_order(corpus: list[Structure], box_A: float, seed: int = 0) -> list[Structure]:
    """Every model of ``corpus`` in mixture order: a seeded permutation of those that fit a ``box_A`` box,
    then those that do not, smallest first (they are cut by the box edge when simulated)."""
    rng = np.random.default_rng(seed)
    fitting = [s for s in corpus if s.fits(box_A)]
    fitting = [fitting[i] for i in rng.permutation(len(fitting))]
    too_big = sorted((s for s in corpus if not s.fits(box_A)), key=lambda s: s.rot_box_A)
    return fitting + too_big


def held_out(corpus: list[Structure], box_A: float, dev_seed: int, dev_n: int) -> list[Structure]:
    """``corpus`` without the models of the development mixture of ``dev_n`` (the first ``dev_n`` of
    :func:`corpus_order` with ``dev_seed``), in corpus order: what a test mixture is drawn from, so that it
    shares no model with any development mixture of ``dev_n`` or fewer."""
    used = {s.name for s in corpus_order(corpus, box_A, dev_seed)[:dev_n]}
    return [s for s in corpus if s.name not in used]


def select_mixture(corpus: list[Structure], n: int, box_A: float, seed: int = 0) -> list[Structure]:
    """The first ``n`` models of :func:`corpus_order`. Raises :class:`CorpusError` when the corpus has fewer
    than ``n`` distinct models."""
    if n < 1:
        raise CorpusError(f"a mixture needs at least one structure, asked for {n}")
    if n > len(corpus):
        raise CorpusError(f"asked for a mixture of {n} distinct structures, the corpus has only {len(corpus)}")
    return corpus_order(corpus, box_A, seed)[:n]
