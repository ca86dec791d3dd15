"""How much of a score is the training seed: the preset and cryoDRGN trained with several seeds on one mixture.

The development mixture of ``--size`` structures of ``scaling.py`` (the same files: selection and simulation
seed 0, D=32, 6 Å/px, SNR 0.1, CTF, 2 px shifts, 300 images per structure, 20 epochs, one thread), trained
again with other training seeds (``compare.py --train-seed``); seed 0 is the scaling record's own row. For
every method, the FSC_AUC (mean over structures) of each seed, their mean and standard deviation, and the
paired lead of the preset over cryoDRGN per seed: ``seeds.md`` and ``seeds.json`` in ``--out``.

    python benchmarks/studies/seeds.py --size 10 --seeds 1 2 --methods many_lift_split &
    python benchmarks/studies/seeds.py --size 10 --seeds 1 2 --methods cryodrgn_vae
    python benchmarks/studies/seeds.py --size 10 --report-only
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))

import compare  # noqa: E402
import scaling  # noqa: E402
from paired import per_structure_auc  # noqa: E402

RESULTS = scaling.REPO / "benchmarks" / "results" / "seeds-d32"
SCALING = scaling.REPO / "benchmarks" / "results" / "scaling-d32" / "results.json"
LEAD = ("many_lift_split", "cryodrgn_vae")


def seed_results(out: Path, size: int) -> dict[int, Path]:
    """{training seed: results.json} of one size: seed 0 from the scaling record, the others from ``out``."""
    found = {0: SCALING} if SCALING.is_file() else {}
    for f in sorted((out / f"n{size:04d}").glob("seed*/results.json")):
        found[int(f.parent.name[4:])] = f
    return found


def spread(out: Path, size: int, methods: tuple[str, ...]) -> dict:
    """Per method: {seed: mean FSC_AUC}, their mean and std (ddof 1); the paired lead of :data:`LEAD` per
    seed where both ran, with its mean and std."""
    per_seed: dict[str, dict[int, np.ndarray]] = {m: {} for m in methods}
    for seed, results in seed_results(out, size).items():
        present = {r["method"] for r in json.loads(results.read_text())["rows"] if r["size"] == size}
        for m in methods:
            if m in present:   # a seed may have run one method only
                per_seed[m][seed] = per_structure_auc(results, m, size)
    report: dict = {"size": size, "methods": {}}
    for m, seeds in per_seed.items():
        means = {s: float(v.mean()) for s, v in sorted(seeds.items())}
        vals = np.array(list(means.values()))
        report["methods"][m] = {"per_seed": means, "mean": float(vals.mean()) if len(vals) else None,
                                "std": float(vals.std(ddof=1)) if len(vals) > 1 else None}
    a, b = (per_seed.get(m, {}) for m in LEAD)
    leads = {s: float((a[s] - b[s]).mean()) for s in sorted(set(a) & set(b))}
    vals = np.array(list(leads.values()))
    report["lead"] = {"a": LEAD[0], "b": LEAD[1], "per_seed": leads, "mean": float(vals.mean()) if len(vals) else None,
                      "std": float(vals.std(ddof=1)) if len(vals) > 1 else None}
    return report


def _cell(v: float | None, sign: bool = False) -> str:
    return "–" if v is None else (f"{v:+.3f}" if sign else f"{v:.3f}")


def write_report(out: Path, size: int, methods: tuple[str, ...]) -> Path:
    """``seeds.md`` and ``seeds.json`` for one size; returns the Markdown's path."""
    r = spread(out, size, methods)
    seeds = sorted({s for m in r["methods"].values() for s in m["per_seed"]})
    lines = [f"# Training seeds at N={size}", "",
             "Made by `python benchmarks/studies/seeds.py` (settings: the scaling record's; seed 0 is its row). "
             "FSC_AUC of each structure's map, mean over structures, per training seed; the lead is paired per "
             "structure, then averaged over seeds (std: over seeds).", "",
             "| method | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± std over seeds |",
             "|---|" + "---|" * (len(seeds) + 1)]
    for m, v in r["methods"].items():
        lines.append(f"| {m} | " + " | ".join(_cell(v["per_seed"].get(s)) for s in seeds)
                     + f" | {_cell(v['mean'])} ± {_cell(v['std'])} |")
    lead = r["lead"]
    lines.append(f"| {lead['a']} − {lead['b']} (paired) | "
                 + " | ".join(_cell(lead["per_seed"].get(s), sign=True) for s in seeds)
                 + f" | {_cell(lead['mean'], sign=True)} ± {_cell(lead['std'])} |")
    folder = out / f"n{size:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "seeds.json").write_text(json.dumps(r, indent=1) + "\n")
    md = folder / "seeds.md"
    md.write_text("\n".join(lines) + "\n")
    return md


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=10, help="the development mixture's number of structures")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="training seeds to run (0 is the record's)")
    p.add_argument("--methods", type=lambda s: tuple(s.split(",")), default=LEAD)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    if not args.report_only:
        for seed in args.seeds:
            folder = args.out / f"n{args.size:04d}" / f"seed{seed}"
            work = scaling.REPO / "benchmarks" / "work" / args.out.name / f"n{args.size:04d}" / f"seed{seed}"
            sargs = scaling.parse_args(["--out", str(folder), "--workdir", str(work), "--sizes", str(args.size),
                                        "--methods", ",".join(args.methods), "--umap-methods", "backproject"])
            rc = compare.main([*scaling.compare_argv(sargs, args.size), "--train-seed", str(seed)])
            if rc:
                return rc
    print(f"seeds: {write_report(args.out, args.size, LEAD)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
