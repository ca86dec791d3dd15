"""How many images per structure does sorting single images need? The held-out bound of ``assignment_bound.py``
as the images per structure grow.

The structures and settings of a finished ``scaling.py`` mixture (its ``data/simulation.json``) are simulated
again with each ``--counts`` images per structure (seed as the mixture's; into
``WORKDIR/MIXTURE/images-per-structure/nCOUNT/``), and every image is given the best of the maps by the
least-squares score of 3D classification:

- ``truth, held out``: maps backprojected from the true labels without the image's own fold (``--folds``): what a
  method that makes its maps from these images can be held to;
- ``true maps``: the maps of the atomic models, which no map made from the images reaches.

    python benchmarks/studies/images_per_structure.py benchmarks/work/dev-d32 --mixture mix0100 \\
        --counts 150 300 600 1000 --out benchmarks/results/assignment-d32

``images_per_structure.json`` and ``.md`` in ``--out`` hold every mixture and count studied so far.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
from assignment_bound import fold_scores, map_scores, sorted_row  # noqa: E402
from split_merge import Observed  # noqa: E402
from study_record import mixture_dataset, parse_study_args, save, study_parser  # noqa: E402

from napari_cryohype.core.simulate import simulate_mixture  # noqa: E402


def resimulate(summary: dict, count: int, out: Path) -> Path:
    """The mixture described by ``summary`` (a ``simulation.json``) with ``count`` images per structure, in
    ``out`` (reused when it is already complete); returns ``out``."""
    if (out / "simulation.json").is_file():
        return out
    ctf = summary["ctf"]
    simulate_mixture(out, [s["source"] for s in summary["structures"]], count, summary["D"], summary["apix"],
                     resolution=summary["resolution_A"], snr=summary["snr"], ctf=ctf["applied"],
                     defocus_range=tuple(ctf["defocus_range_A"]), shift_std=summary["shift_std_px"],
                     seed=summary["seed"], force=True, threads=1)
    return out


def study(workdir: Path, mixture: str, count: int, folds: int) -> dict:
    summary = json.loads((workdir / mixture / "data" / "simulation.json").read_text())
    data = resimulate(summary, count, workdir / mixture / "images-per-structure" / f"n{count:04d}")
    truth = np.load(data / "labels.npy")
    obs = Observed(mixture_dataset(data))
    rows = {}
    for name, scores in (("truth, held out", fold_scores(obs, truth, folds, True)),
                         ("true maps", map_scores(obs, data / "volumes"))):
        rows[name] = sorted_row(scores.argmax(1).numpy(), truth)
        print(f"  {count} images per structure, {name}: {rows[name]}", flush=True)
    return {"mixture": mixture, "images_per_structure": count, "n_structures": summary["n_structures"],
            "folds": folds, "rows": rows}


def markdown(results: list[dict]) -> str:
    lines = ["# Giving single images their structure, as the images per structure grow", "",
             "`benchmarks/studies/images_per_structure.py`. *Own*: the share of images whose best map (least "
             "squares, within half of Nyquist) is their own structure's. *Held out*: maps backprojected from the "
             "true labels without the image's fold (each map from (folds - 1) / folds of its structure's images).",
             "", "| mixture | images per structure | held out: own | held out: ARI | true maps: own | true maps: ARI |",
             "|---|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: (r["mixture"], r["images_per_structure"])):
        h, t = r["rows"]["truth, held out"], r["rows"]["true maps"]
        lines.append(f"| {r['mixture']} | {r['images_per_structure']} | {h['own']:.3f} | {h['ari']:.3f} | "
                     f"{t['own']:.3f} | {t['ari']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = study_parser(__doc__, method=False)
    p.add_argument("--counts", type=int, nargs="+", default=[150, 300, 600, 1000],
                   help="images per structure, one simulation each")
    p.add_argument("--folds", type=int, default=5)
    args = parse_study_args(p, argv)
    for count in args.counts:   # each count saved as it finishes
        save(args.out, "images_per_structure", study(args.workdir, args.mixture, count, args.folds),
             ("mixture", "images_per_structure"), markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
