"""Which classes are mixed, without the labels: the likelihood gain of splitting each class in two.

``cryohype analyze``'s classes (``core/classify.py``, the grid EM) still join structures. This study takes a
run's refined classes (the benchmark's ``classes_refined.npy``), places every image in the classification
grid (``ClassGrid``), and for each class runs the same soft EM inside the class with two sub-classes from a
random half split (``--passes``, power 0.5). A class's *split gain* is the mean, over its images, of the
log-likelihood of its better sub-class's map over its class's map, in nats (score difference over the
noise variance per value, estimated from all images against their class). It is scored against each class's
purity (the share of its largest true structure): how well the gain, which needs no labels, finds the mixed
classes.

    python benchmarks/studies/split_gain.py benchmarks/work/dev-d32 --mixture mix0100 \\
        --method many_lift_split --out benchmarks/results/grid-classes-d32

``split_gain.json`` and ``split_gain.md`` in ``--out``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
from lift_classes import templates  # noqa: E402
from study_record import mixture_data, parse_study_args, save, study_parser  # noqa: E402

from napari_cryohype.core.backproject import dataset_batches  # noqa: E402
from napari_cryohype.core.classify import DEFAULT_RADIUS, DEFAULT_SOFT, ClassGrid, scores  # noqa: E402


def own_scores(a: Tensor, b: Tensor, classes: np.ndarray) -> Tensor:
    """Each image's score (N,) against its own class's map in the grid: lifted c y ``a`` (N, V), lifted c^2
    ``b`` (N, V), classes (N,)."""
    labels = torch.as_tensor(classes)
    maps = templates(a, b, torch.nn.functional.one_hot(labels, int(classes.max()) + 1).float())
    return scores(a, b, maps)[torch.arange(len(classes)), labels]


def split_gains(a: Tensor, b: Tensor, classes: np.ndarray, own: Tensor, noise_var: float, passes: int = 15,
                smallest: int = 20, seed: int = 0) -> np.ndarray:
    """Each class's split gain (K,), nats per image (NaN for classes under ``smallest`` images): soft EM with
    two sub-classes inside the class from a random half split, the better sub-class's score over the
    image's own (``own``, :func:`own_scores`), over ``noise_var`` (per value)."""
    k = int(classes.max()) + 1
    g = torch.Generator().manual_seed(seed)
    gains = np.full(k, np.nan)
    for j in range(k):
        idx = torch.as_tensor(np.flatnonzero(classes == j))
        if len(idx) < smallest:
            continue
        w = torch.nn.functional.one_hot((torch.rand(len(idx), generator=g) < 0.5).long(), 2).float()
        for _ in range(passes):
            s = scores(a[idx], b[idx], templates(a[idx], b[idx], w))
            w = torch.softmax(DEFAULT_SOFT * s / noise_var, dim=1)
        gains[j] = float((s.max(1).values - own[idx]).mean()) / noise_var
    return gains


def purity(classes: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Each class's share (K,) of its largest true structure (NaN for an empty class)."""
    return np.array([np.bincount(truth[classes == j]).max() / (classes == j).sum() if (classes == j).any()
                     else np.nan for j in range(int(classes.max()) + 1)])


def study(workdir: Path, mixture: str, method: str, passes: int) -> dict:
    _, dataset, truth = mixture_data(workdir, mixture)
    classes = np.unique(np.load(workdir / mixture / method / "classes_refined.npy"), return_inverse=True)[1]
    grid = ClassGrid(dataset.D, DEFAULT_RADIUS * dataset.D / 2, torch.device("cpu"))
    placed = [grid.place(im, r, t, c) for _, im, r, t, c in dataset_batches(dataset, np.arange(len(dataset)), 512)]
    a, b, energy = (torch.cat(x) for x in zip(*placed))
    own = own_scores(a, b, classes)
    noise_var = float((energy - 2 * own).mean()) / len(grid.lift.pixels)
    gains, pure = split_gains(a, b, classes, own, noise_var, passes), purity(classes, truth)
    ok = ~np.isnan(gains) & ~np.isnan(pure)
    order = np.argsort(-np.where(ok, gains, -np.inf))[:ok.sum()]
    return {"mixture": mixture, "method": method, "passes": passes, "classes": int(ok.sum()),
            "mixed": int((pure[ok] < 0.8).sum()), "spearman": float(spearmanr(gains[ok], pure[ok]).statistic),
            "mixed_in_top": {str(n): int((pure[order[:n]] < 0.8).sum()) for n in (10, 20, 40)},
            "gains": gains.tolist(), "purity": pure.tolist()}


def markdown(results: list[dict]) -> str:
    lines = ["# Which classes are mixed: the likelihood gain of splitting each class in two", "",
             "`benchmarks/studies/split_gain.py`. *Mixed*: a class whose largest structure holds under 80% of its "
             "images. *Mixed among the n largest gains*: how many of the n classes with the largest split gain "
             "(nats per image) are mixed.", "",
             "| mixture | method | classes | mixed | Spearman (gain, purity) | mixed among the 10 / 20 / 40 largest "
             "gains | passes |", "|---|---|---|---|---|---|---|"]
    for r in results:
        top = r["mixed_in_top"]
        lines.append(f"| {r['mixture']} | {r['method']} | {r['classes']} | {r['mixed']} | {r['spearman']:.2f} | "
                     f"{top['10']} / {top['20']} / {top['40']} | {r['passes']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = study_parser(__doc__)
    p.add_argument("--passes", type=int, default=15, help="EM passes inside each class")
    args = parse_study_args(p, argv)
    save(args.out, "split_gain", study(args.workdir, args.mixture, args.method, args.passes),
         ("mixture", "method", "passes"), markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
