"""How often can a single image be given its own structure by least squares against backprojected maps, and how
near do the classes come?

On one trained method of a finished ``scaling.py`` mixture (its data and its refined classes
``classes_refined.npy``), every image is scored against the maps of each group of images like ``core.classify``
does (``2 <y, c s> - |c s|^2`` within half of Nyquist) and goes to the best; the share of images whose group is
their own structure's (for classes: whose class's largest structure is their own):

- ``truth, in-sample``: maps from the true labels, each image inside the map it is scored against;
- ``truth, held out``: the same maps without the image's own fold (``--folds``, by index): the bound for maps
  backprojected from this many images, with no image helping its own score;
- ``true maps``: the maps of the atomic models (``data/volumes/``), what no map made from the images reaches;
- ``decoded maps``: the method's maps of each structure (``METHOD/volumes/``: 10 images chosen by their labels,
  decoded and averaged), the model's own account of the structures;
- ``classes``: the harness's classes (k-means of the latents, 3D classification);
- ``classes, held-out EM``: ``--iterations`` of hard EM from those classes, each image scored against maps
  without its fold.

    python benchmarks/studies/assignment_bound.py benchmarks/work/split-d32 --mixture mix0100 \\
        --method many_lift_split --out benchmarks/results/assignment-d32

``assignment.json`` and ``assignment.md`` in ``--out`` hold every method and mixture studied so far.
"""

from __future__ import annotations

import sys
from pathlib import Path

import mrcfile
import numpy as np
import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
from split_merge import Observed, make_up  # noqa: E402
from study_record import mixture_data, parse_study_args, save, study_parser  # noqa: E402

from napari_cryohype.core import fourier  # noqa: E402
from napari_cryohype.core.analysis import adjusted_rand_index  # noqa: E402


def fold_scores(obs: Observed, groups: np.ndarray, folds: int, held_out: bool) -> Tensor:
    """(N, G) scores of every image against the map of every group ``groups`` (N,) in [0, G): maps from all
    images, or (``held_out``) from all but the image's own fold (index mod ``folds``)."""
    everyone = np.arange(len(groups))
    return obs.scores(everyone, obs.maps(everyone, groups, int(groups.max()) + 1, folds, held_out))


def map_scores(obs: Observed, folder: Path) -> Tensor:
    """(N, G) scores of every image against the G maps ``folder/*.mrc`` (sorted by name: structure order)."""
    vols = np.stack([mrcfile.read(f) for f in sorted(folder.glob("*.mrc"))]).astype(np.float32)
    return obs.scores(np.arange(len(obs.y)), fourier.htn_center(torch.from_numpy(vols).double()).float()[None])


def sorted_row(best: np.ndarray, truth: np.ndarray) -> dict:
    """``own``: the share of images whose best map ``best`` (N,) is their own structure ``truth`` (N,); ``ari``."""
    return {"own": float(np.mean(best == truth)), "ari": adjusted_rand_index(best, truth)}


def own_share(groups: np.ndarray, truth: np.ndarray) -> float:
    """Share of images whose group's largest structure is their own: groups (N,), truth (N,)."""
    largest = {g: np.bincount(truth[groups == g]).argmax() for g in np.unique(groups)}
    return float(np.mean(np.array([largest[g] for g in groups]) == truth))


#: what :func:`class_scores`' counts mean, for a record's Markdown
CLASS_TERMS = ("*Own*: the share of images whose class's largest structure is their own; *mixed*: classes whose "
               "largest structure holds under 80% of their images; *repeats*: classes whose largest structure is "
               "another's too; *without*: structures that are no class's largest.")


def class_scores(classes: np.ndarray, truth: np.ndarray) -> dict:
    """The classes (N,) against the true structures (N,): ``ari``, ``own`` (:func:`own_share`) and how they hold
    the structures (``split_merge.make_up``)."""
    return {"ari": adjusted_rand_index(classes, truth), "own": own_share(classes, truth), **make_up(classes, truth)}


def study(workdir: Path, mixture: str, method: str, folds: int, iterations: int) -> dict:
    data, dataset, truth = mixture_data(workdir, mixture)
    mix = workdir / mixture
    obs = Observed(dataset)
    rows = {}
    for name, held_out in (("truth, in-sample", False), ("truth, held out", True)):
        rows[name] = sorted_row(fold_scores(obs, truth, folds, held_out).argmax(1).numpy(), truth)
    for name, folder in (("true maps", data / "volumes"), ("decoded maps", mix / method / "volumes")):
        rows[name] = sorted_row(map_scores(obs, folder).argmax(1).numpy(), truth)
    classes = np.unique(np.load(mix / method / "classes_refined.npy"), return_inverse=True)[1]
    rows["classes"] = {"own": own_share(classes, truth), "ari": adjusted_rand_index(classes, truth)}
    for _ in range(iterations):
        classes = fold_scores(obs, classes, folds, True).argmax(1).numpy()
    rows["classes, held-out EM"] = {"own": own_share(classes, truth), "ari": adjusted_rand_index(classes, truth)}
    for name, row in rows.items():
        print(f"  {name}: {row}", flush=True)
    return {"mixture": mixture, "method": method, "folds": folds, "iterations": iterations, "rows": rows}


def markdown(results: list[dict]) -> str:
    lines = ["# Giving single images their structure by least squares against backprojected maps", "",
             "`benchmarks/studies/assignment_bound.py`. *Own*: the share of images whose group (for classes: whose "
             "class's largest structure) is their own structure.", "",
             "| mixture | method | images scored against | own | ARI |", "|---|---|---|---|---|"]
    for r in results:
        for name, row in r["rows"].items():
            label = {"truth, held out": f"truth, held out ({r['folds']} folds)",
                     "decoded maps": "decoded maps (10 images per structure, chosen by label)",
                     "classes, held-out EM": f"classes, held-out EM ({r['iterations']} iterations)"}.get(name, name)
            lines.append(f"| {r['mixture']} | {r['method']} | {label} | {row['own']:.3f} | {row['ari']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = study_parser(__doc__)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--iterations", type=int, default=5)
    args = parse_study_args(p, argv)
    result = study(args.workdir, args.mixture, args.method, args.folds, args.iterations)
    save(args.out, "assignment", result, ("mixture", "method"), markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
