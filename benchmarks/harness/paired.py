"""Paired comparison of two methods' per-structure FSC_AUC, from the ``results.json`` of ``compare.py``.

Each row of a ``results.json`` keeps one FSC curve per ground-truth structure (``fsc_curves``, in label
order) on the frequencies ``fsc_freq_per_px``; the two methods must come from the same mixture (same
``--sizes``, ``--seed`` and simulation settings, so the same structures in the same order). Prints the mean
and standard error of the per-structure difference A − B and on how many structures A is ahead.

    python benchmarks/harness/paired.py benchmarks/results/issueA-d32-20x300-20ep/results.json hyper \\
        benchmarks/results/issueA-d32-20x300-20ep-ablation/results.json mlp
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from napari_cryohype.core.metrics import auc


def per_structure_auc(results: Path, method: str, size: int | None = None) -> np.ndarray:
    """(n_structures,) FSC_AUC of ``method``'s row (of mixture ``size`` when several) in ``results`` (a
    ``results.json`` or the record folder holding it)."""
    results = Path(results) / "results.json" if Path(results).is_dir() else Path(results)
    rows = [r for r in json.loads(results.read_text())["rows"]
            if r["method"] == method and (size is None or r["size"] == size)]
    if len(rows) != 1:
        sizes = sorted({r["size"] for r in rows})
        raise SystemExit(f"{results}: {len(rows)} rows of method {method!r}"
                         + (f" (sizes {sizes}: pass --size)" if rows else ""))
    row = rows[0]
    if row.get("missing_structures"):
        raise SystemExit(f"{results}: {method} has no volumes for structures {row['missing_structures']}")
    freq = np.asarray(row["fsc_freq_per_px"])
    return np.array([auc(freq, np.asarray(c)) for c in row["fsc_curves"]])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results_a", type=Path)
    ap.add_argument("method_a")
    ap.add_argument("results_b", type=Path)
    ap.add_argument("method_b")
    ap.add_argument("--size", type=int, help="mixture size, when a results.json has several")
    args = ap.parse_args(argv)
    a = per_structure_auc(args.results_a, args.method_a, args.size)
    b = per_structure_auc(args.results_b, args.method_b, args.size)
    if len(a) != len(b):
        sys.exit(f"{len(a)} structures for {args.method_a} but {len(b)} for {args.method_b}: not the same mixture")
    d = a - b
    se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
    print(f"{args.method_a} {a.mean():.3f} vs {args.method_b} {b.mean():.3f} over {len(d)} structures: "
          f"difference {d.mean():+.3f} ± {se:.3f} (mean ± standard error); "
          f"{args.method_a} ahead on {(d > 0).sum()} of {len(d)}")


if __name__ == "__main__":
    main()
