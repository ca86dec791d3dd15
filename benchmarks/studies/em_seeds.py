"""Where 3D classification ends, from seeds whose errors are known: is it the images, or the seeds?

``cryohype analyze`` refines its latent clusters by 3D classification (``core/classify.py``, hard assignment,
the default passes). This study gives the same classification seeds made from the true labels with errors of
a chosen kind, and scores where it ends against the true labels:

- ``truth``: the true labels themselves (where classification leaves the images' own structures);
- ``random:F``: a fraction F of the images given a class at random (errors spread over every structure);
- ``confused:F``: the fraction F of the images nearest another structure (the smallest margin of their own
  atomic model's map over the best other's, scored as classification scores) given that other structure:
  errors that pile up between structures alike, as an encoder's do;
- ``topology:M``: M pairs of the structures most often confused with each other (as above) joined into one
  class each, and M other structures each split in two at random: the merged and repeated structures of
  latent clusters, with every image otherwise in its own class.

    python benchmarks/studies/em_seeds.py benchmarks/work/dev-d32 --mixture mix0100 \\
        --seeds truth random:0.3 confused:0.3 topology:10 --out benchmarks/results/assignment-d32

``em_seeds.json`` and ``em_seeds.md`` in ``--out``; a setting already recorded for the mixture is not run again.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
from assignment_bound import CLASS_TERMS, class_scores, map_scores  # noqa: E402
from split_merge import Observed  # noqa: E402
from study_record import mixture_data, parse_study_args, save, study_parser  # noqa: E402

from napari_cryohype.core.classify import classify  # noqa: E402

KINDS = ("truth", "random", "confused", "topology")


def setting(text: str) -> str:
    """``truth``, ``random:F``, ``confused:F`` (0 < F < 1) or ``topology:M`` (M >= 1), checked."""
    kind, _, value = text.partition(":")
    if kind not in KINDS or (kind == "truth") != (value == ""):
        raise ValueError(f"not a seed setting: {text!r} (truth, random:F, confused:F or topology:M)")
    if kind in ("random", "confused") and not 0 < float(value) < 1:
        raise ValueError(f"{text!r}: the fraction must lie in (0, 1)")
    if kind == "topology" and not int(value) >= 1:
        raise ValueError(f"{text!r}: give at least one pair")
    return text


def nearest_other(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each image's best structure other than its own (N,) and its own score's margin over it (N,), from the
    scores (N, S) of every image against every structure's true map (larger: nearer)."""
    others = scores.copy()
    others[np.arange(len(truth)), truth] = -np.inf
    best = others.argmax(1)
    return best, scores[np.arange(len(truth)), truth] - others[np.arange(len(truth)), best]


def make_seeds(text: str, truth: np.ndarray, best_other: np.ndarray, margin: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
    """Seeds (N,) of the setting ``text`` (:func:`setting`) from the true labels ``truth`` (N,) in [0, S), each
    image's nearest other structure and margin (:func:`nearest_other`)."""
    kind, _, value = text.partition(":")
    seeds, n_structures = truth.copy(), int(truth.max()) + 1
    if kind == "random":
        hit = rng.random(len(truth)) < float(value)
        seeds[hit] = rng.integers(0, n_structures, int(hit.sum()))
    elif kind == "confused":
        hit = np.argsort(margin, kind="stable")[:round(float(value) * len(truth))]
        seeds[hit] = best_other[hit]
    elif kind == "topology":
        pairs = int(value)
        confusion = np.zeros((n_structures, n_structures))
        np.add.at(confusion, (truth, best_other), 1.0)
        confusion += confusion.T
        used: set[int] = set()
        for flat in np.argsort(-confusion, axis=None, kind="stable"):
            a, b = divmod(int(flat), n_structures)
            if len(used) == 2 * pairs:
                break
            if a != b and not {a, b} & used:
                used |= {a, b}
                seeds[truth == b] = a
        free = np.setdiff1d(np.arange(n_structures), sorted(used))
        for k, s in enumerate(rng.choice(free, pairs, replace=False)):
            mine = np.flatnonzero(truth == s)
            seeds[mine[rng.random(len(mine)) < 0.5]] = n_structures + k
    return seeds


def confusions(workdir: Path, mixture: str) -> tuple:
    """The mixture's dataset, true labels (N,), and each image's nearest other structure and margin
    (:func:`nearest_other`, scored against the atomic models' maps ``data/volumes/``)."""
    data, dataset, truth = mixture_data(workdir, mixture)
    return (dataset, truth, *nearest_other(map_scores(Observed(dataset), data / "volumes").numpy(), truth))


def study(dataset, truth: np.ndarray, best_other: np.ndarray, margin: np.ndarray, mixture: str, text: str,
          seed: int) -> dict:
    """One seed setting's row: the seeds' scores and the classes' that 3D classification makes of them."""
    seeds = make_seeds(text, truth, best_other, margin, np.random.default_rng(seed))
    start = time.perf_counter()
    out = classify(dataset, seeds)
    row = {"mixture": mixture, "seeds": text, "seed": seed, "seeded": class_scores(seeds, truth),
           "classes": class_scores(out.labels, truth), "passes": len(out.changed),
           "seconds": round(time.perf_counter() - start, 1)}
    print(f"  {text}: {row}", flush=True)
    return row


def markdown(results: list[dict]) -> str:
    lines = ["# Where 3D classification ends, from seeds whose errors are known", "",
             "`benchmarks/studies/em_seeds.py`. Seeds made from the true labels: *random F*, a fraction F of the "
             "images given a class at random; *confused F*, the fraction F nearest another structure given "
             "it; *topology M*, M pairs of often-confused structures joined and M others split in two. " + CLASS_TERMS,
             "",
             "| mixture | seeds | seeds: ARI | seeds: own | classes: ARI | classes: own | mixed | repeats | "
             "without | passes |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=lambda x: (x["mixture"], KINDS.index(x["seeds"].partition(":")[0]), x["seeds"])):
        s, c = r["seeded"], r["classes"]
        lines.append(f"| {r['mixture']} | {r['seeds'].replace(':', ' ')} | {s['ari']:.3f} | {s['own']:.3f} | "
                     f"{c['ari']:.3f} | {c['own']:.3f} | {c['mixed']} | {c['repeats']} | {c['without_class']} | "
                     f"{r['passes']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = study_parser(__doc__, method=False)
    p.add_argument("--seeds", type=setting, nargs="+", default=["truth", "random:0.3"],
                   help="seed settings: truth, random:F, confused:F, topology:M")
    p.add_argument("--seed", type=int, default=0, help="random generator seed of the errors")
    args = parse_study_args(p, argv)
    record = args.out / "em_seeds.json"
    done = {(r["mixture"], r["seeds"], r["seed"]) for r in (json.loads(record.read_text()) if record.is_file() else [])}
    todo = [text for text in args.seeds if (args.mixture, text, args.seed) not in done]
    if todo:
        known = confusions(args.workdir, args.mixture)
        for text in todo:
            save(args.out, "em_seeds", study(*known, args.mixture, text, args.seed), ("mixture", "seeds", "seed"),
                 markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
