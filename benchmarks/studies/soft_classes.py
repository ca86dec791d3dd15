"""Hard or soft assignment in the classes: the same seeds refined by 3D classification both ways.

``cryohype analyze`` refines its latent clusters into classes (``core/classify.py``, as of the commit that
ran: before c78a352 full-size maps sliced at each pose, soft assignment to each image's three likeliest
classes; since, a grid of the low frequencies, soft assignment to every class). With hard assignment each
image adds only to its likeliest class's next map; with soft assignment in proportion to its posterior, the
likelihood raised to a power (``soft``; 1: the white-noise model's own posterior). This study refines one
trained run's latent clusters (the benchmark's ``cluster_seeds.npy``) with hard assignment and with each
power given, and scores the classes against the true labels: the adjusted Rand index, the share of images
whose class's largest structure is their own, and how the classes hold the structures
(``split_merge.make_up``).

    python benchmarks/studies/soft_classes.py benchmarks/work/dev-d32 --mixture mix0100 \
        --method many_lift_split --soft none 1 0.5 0.35 0.25 --out benchmarks/results/soft-classes-d32
    python benchmarks/studies/soft_classes.py benchmarks/work/dev-d32 --mixture mix0100 \
        --method many_lift_split --soft none 0.35 0.5 0.7 --passes 20 --out benchmarks/results/grid-classes-d32/soft

Each setting's result is saved as it finishes; a setting already in the record is not run again.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
from assignment_bound import CLASS_TERMS, class_scores  # noqa: E402
from study_record import mixture_data, parse_study_args, save, study_parser  # noqa: E402
from napari_cryohype.core.classify import DEFAULT_ITERATIONS, classify  # noqa: E402


def power(text: str) -> float | None:
    """``none`` (hard assignment) or a power above 0."""
    return None if text.lower() == "none" else float(text)


def refine(dataset, seeds: np.ndarray, truth: np.ndarray, soft: float | None, passes: int) -> dict:
    """Classes of ``seeds`` (N,) with one setting, at most ``passes`` passes after the seeds' maps, scored
    against ``truth`` (N,)."""
    start = time.perf_counter()
    out = classify(dataset, seeds, soft=soft, iterations=passes)
    seconds = time.perf_counter() - start
    return {"soft": soft, "max_passes": passes, **class_scores(out.labels, truth), "passes": len(out.changed),
            "changed": out.changed, "seconds": round(seconds, 1)}


def study(workdir: Path, mixture: str, method: str, soft: float | None, passes: int, done: dict | None) -> dict:
    """The record's result for this run with one more setting (``done``: the result so far, or None)."""
    _, dataset, truth = mixture_data(workdir, mixture)
    seeds = np.load(workdir / mixture / method / "cluster_seeds.npy")
    rows = [] if done is None else list(done["rows"])
    if not any((r["soft"], r["max_passes"]) == (soft, passes) for r in rows):
        rows.append(refine(dataset, seeds, truth, soft, passes))
        print(f"  soft={soft}: {rows[-1]}", flush=True)
    return {"mixture": mixture, "method": method, "seeds": class_scores(seeds, truth), "rows": rows}


def markdown(results: list[dict]) -> str:
    lines = ["# Classes by hard or soft assignment, from the same latent clusters", "",
             "`benchmarks/studies/soft_classes.py`, with `core/classify.py` as it was when the record was made. *Soft "
             "p*: each image adds to the classes' maps in proportion to its posterior, the likelihood raised to p "
             "(`soft-classes-d32`, before c78a352: at full size, to its 3 likeliest classes; `grid-classes-d32`, "
             "since: in the grid, to every class). "
             + CLASS_TERMS, "",
             "| mixture | method | assignment | ARI | own | mixed | repeats | without | passes | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        s = r["seeds"]
        lines.append(f"| {r['mixture']} | {r['method']} | latent clusters (the seeds) | {s['ari']:.3f} | "
                     f"{s['own']:.3f} | {s['mixed']} | {s['repeats']} | {s['without_class']} | – | – |")
        for row in sorted(r["rows"], key=lambda x: (-1 if x["soft"] is None else -x["soft"], x["max_passes"])):
            name = "hard" if row["soft"] is None else f"soft {row['soft']:g}"
            name += f", {row['max_passes']} passes at most"
            lines.append(f"| {r['mixture']} | {r['method']} | {name} | {row['ari']:.3f} | {row['own']:.3f} | "
                         f"{row['mixed']} | {row['repeats']} | {row['without_class']} | {row['passes']} | "
                         f"{row['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = study_parser(__doc__)
    p.add_argument("--soft", type=power, nargs="+", default=[None, 0.35],
                   help="settings to compare: none (hard) or powers")
    p.add_argument("--passes", type=int, default=DEFAULT_ITERATIONS, help="most passes after the seeds' maps")
    args = parse_study_args(p, argv)
    record = args.out / "soft_classes.json"
    for soft in args.soft:
        results = json.loads(record.read_text()) if record.is_file() else []
        done = next((r for r in results if (r["mixture"], r["method"]) == (args.mixture, args.method)), None)
        save(args.out, "soft_classes", study(args.workdir, args.mixture, args.method, soft, args.passes, done),
             ("mixture", "method"), markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
