"""3D classification in the lift encoder's grid: where it ends from the latent clusters, hard and soft.

``core/classify.py`` classifies at full size (each class's backprojected map sliced at every image's pose,
compared inside half of Nyquist). The lift encoder's grid holds the same evidence at lower cost: each image's
transform times its CTF (c y) and its CTF squared (c^2), placed in a 3D grid at its pose (radius 8 Fourier
pixels, the lift encoder's; ``--radius``; ``core/models/lift.py``). There a class's map is
T_j = sum_i w_ij lift(c y)_i / (sum_i w_ij lift(c^2)_i + 1) (a backprojection; ``--reg`` for the 1) and an
image's score against it is the least-squares one (``core/classify.py``'s ``scores``),
s_ij = <lift(c y)_i, T_j> - <lift(c^2)_i, T_j^2> / 2. Hard assignment gives each image to its best class
(w_ij one-hot); soft assignment weighs it by its posterior, softmax_j(power * s_ij) over all classes (power
1: the white-noise likelihood of the normalised images; below 1, flatter). ``0.5>hard``: soft passes at power
0.5, then hard ones from where they ended. Started from a trained method's
latent clusters (``kmeans.npy`` of its analysis: k-means of the latents' directions, k = the number of
structures) and, for comparison, from the true labels; scored against the labels with
``assignment_bound.class_scores``.

    python benchmarks/studies/lift_classes.py benchmarks/work/dev-d32 --mixture mix0100 \\
        --method many_lift_split --power hard 1 0.5 --out benchmarks/results/assignment-d32

``lift_classes.json`` and ``lift_classes.md`` in ``--out``; a setting already recorded is not run again.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
from assignment_bound import CLASS_TERMS, class_scores  # noqa: E402
from encoder_probe import encoder_inputs  # noqa: E402
from study_record import parse_study_args, save, study_parser  # noqa: E402

from napari_cryohype.core.classify import scores as grid_scores  # noqa: E402
from napari_cryohype.core.models.lift import SliceLift  # noqa: E402

RADIUS = 8.0


def lifted(run_dir: Path, radius: float = RADIUS) -> tuple[Tensor, Tensor, SlicedSquare]:
    """(lift(c y) (N, V), lift(c^2) (N, V)) of every image of a trained run's dataset, V voxels of the grid,
    and the images' squared-slice energy term (``--energy slice``)."""
    x, rots = encoder_inputs(run_dir, "ctf")
    lift = SliceLift(x.shape[-1], radius)
    with torch.no_grad():
        a = torch.cat([lift(x[i, 0], rots[i]) for i in torch.arange(len(x)).split(1024)])
        b = torch.cat([lift(x[i, 1], rots[i]) for i in torch.arange(len(x)).split(1024)])
    return a, b, SlicedSquare(lift, x[:, 1].flatten(1)[:, lift.pixels], rots)


class SlicedSquare:
    """The energy term as a slice has it, sum_p c_p^2 t_p^2 with t the map sampled (trilinear) at the image's
    points, in place of the grid's <lift(c^2), T^2> (the squared map sampled): c^2 (N, P) at the lift's
    pixels, rots (N, 3, 3)."""

    def __init__(self, lift: SliceLift, c2: Tensor, rots: Tensor):
        self.lift, self.c2, self.rots = lift, c2, rots

    def __call__(self, maps: Tensor, images: Tensor) -> Tensor:
        """(B, K) energy terms of the ``images`` (B,) against ``maps`` (K, V)."""
        t = sum(w * maps[:, idx] for idx, w in self.lift.corners(self.rots[images]))
        return torch.einsum("kbp,bp->bk", t * t, self.c2[images])


def templates(a: Tensor, b: Tensor, weights: Tensor, reg: float = 1.0) -> Tensor:
    """Each class's backprojection (K, V) from the images' class weights (N, K); ``reg``: the Wiener term added
    to each voxel's sum of c^2."""
    return (weights.T @ a) / (weights.T @ b + reg)


def scores(a: Tensor, b: Tensor, maps: Tensor, sliced: SlicedSquare | None) -> Tensor:
    """The least-squares scores (N, K): the grid's, or with ``sliced`` the squared slice's energy term."""
    if sliced is None:
        return grid_scores(a, b, maps)
    return torch.cat([a[i] @ maps.T - 0.5 * sliced(maps, i) for i in torch.arange(len(a)).split(256)])


def classify_lifted(a: Tensor, b: Tensor, seeds: np.ndarray, power: float | None, passes: int, spread: int = 0,
                    reg: float = 1.0, sliced: SlicedSquare | None = None) -> tuple[np.ndarray, int]:
    """Classes (N,) after at most ``passes`` of assignment from ``seeds`` (N,) (hard when ``power`` is None,
    else soft at that power, over every class or, with ``spread``, over each image's ``spread`` likeliest),
    and the passes made (hard assignment stops when no image moves); ``sliced``: the energy term as a slice
    has it."""
    k = int(seeds.max()) + 1
    weights = torch.nn.functional.one_hot(torch.as_tensor(seeds), k).float()
    classes = torch.as_tensor(seeds)
    for n in range(1, passes + 1):
        s = scores(a, b, templates(a, b, weights, reg), sliced)
        new = s.argmax(1)
        if power is None:
            weights = torch.nn.functional.one_hot(new, k).float()
        elif spread:
            top = s.topk(spread, dim=1)
            weights = torch.zeros_like(s).scatter_(1, top.indices, torch.softmax(power * top.values, dim=1))
        else:
            weights = torch.softmax(power * s, dim=1)
        settled = power is None and torch.equal(new, classes)
        classes = new
        if settled:
            break
    return classes.numpy(), n


def study(a: Tensor, b: Tensor, seeds: dict[str, np.ndarray], truth: np.ndarray, mixture: str, method: str,
          start: str, power: str, passes: int, spread: int = 0, radius: float = RADIUS, reg: float = 1.0,
          sliced: SlicedSquare | None = None) -> dict:
    t0 = time.perf_counter()
    classes, made = seeds[start], 0
    with torch.no_grad():
        for stage in power.split(">"):   # stages one after another, each from the last one's classes
            classes, n = classify_lifted(a, b, classes, None if stage == "hard" else float(stage), passes, spread,
                                         reg, sliced)
            made += n
    result = {"mixture": mixture, "method": method, "start": start, "power": power, "passes": passes,
              "spread": spread, "radius": radius, "reg": reg, "energy": "map" if sliced is None else "slice",
              "passes_made": made,
              "seeds": class_scores(seeds[start], truth),
              "classes": class_scores(classes, truth), "seconds": time.perf_counter() - t0}
    print(f"  {start}, {power}: seeds ARI {result['seeds']['ari']:.3f} -> classes ARI "
          f"{result['classes']['ari']:.3f} (own {result['classes']['own']:.3f}) in {made} passes", flush=True)
    return result


def describe(power: str) -> str:
    """``hard``, ``0.5`` or ``0.5>hard`` in words."""
    return ", then ".join("hard" if p == "hard" else f"soft, power {p}" for p in power.split(">"))


def describe_row(r: dict) -> str:
    """A row's assignment in words, with its spread."""
    return (describe(r["power"]) + (f" ({r['spread']} likeliest classes)" if r["spread"] else "")
            + (f", radius {r['radius']:g}" if r["radius"] != RADIUS else "")
            + (f", Wiener term {r['reg']:g}" if r["reg"] != 1.0 else "")
            + (", energy term of the squared slice" if r["energy"] == "slice" else ""))


def markdown(results: list[dict]) -> str:
    lines = ["# 3D classification in the lift encoder's grid", "",
             "`benchmarks/studies/lift_classes.py` (radius 8 Fourier pixels unless named). " + CLASS_TERMS, "",
             "| mixture | method | start | assignment | seeds: ARI | classes: ARI | images with their structure "
             "| mixed | repeats | without a class | passes | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        c = r["classes"]
        lines.append(f"| {r['mixture']} | {r['method']} | {r['start']} | "
                     f"{describe_row(r)} | {r['seeds']['ari']:.3f} | "
                     f"{c['ari']:.3f} | {c['own']:.3f} | {c['mixed']} | {c['repeats']} | {c['without_class']} | "
                     f"{r['passes_made']} ({r['passes']} at most{' a stage' if '>' in r['power'] else ''}) | "
                     f"{r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = study_parser(__doc__)
    p.add_argument("--power", nargs="+", default=["hard", "1", "0.5"],
                   help="hard, a soft assignment's power, or stages such as 0.5>hard")
    p.add_argument("--start", nargs="+", default=["clusters", "truth"], choices=("clusters", "truth"))
    p.add_argument("--passes", type=int, default=20)
    p.add_argument("--radius", type=float, default=RADIUS, help="the lift grid's radius, Fourier pixels")
    p.add_argument("--reg", type=float, default=1.0, help="the Wiener term of each class map's voxels")
    p.add_argument("--spread", type=int, default=0, help="soft: each image's likeliest classes only (0: every class)")
    p.add_argument("--energy", choices=("map", "slice"), default="map",
                   help="the energy term: the squared map sampled at the image's points (the grid's), or the "
                        "squared slice")
    args = parse_study_args(p, argv)
    record = args.out / "lift_classes.json"
    keys = ("mixture", "method", "start", "power", "passes", "spread", "radius", "reg", "energy")
    done = {tuple(r[k] for k in keys) for r in (json.loads(record.read_text()) if record.is_file() else [])}
    todo = [(s, w) for s in args.start for w in args.power
            if (args.mixture, args.method, s, w, args.passes, args.spread, args.radius, args.reg, args.energy)
            not in done]
    if not todo:
        return 0
    mix = args.workdir / args.mixture
    truth = np.load(mix / "data" / "labels.npy")
    seeds = {"truth": truth,
             "clusters": np.unique(np.load(mix / args.method / "run" / "analysis" / "kmeans.npy"),
                                   return_inverse=True)[1]}
    a, b, sliced = lifted(mix / args.method / "run", args.radius)
    for start, power in todo:
        save(args.out, "lift_classes",
             study(a, b, seeds, truth, args.mixture, args.method, start, power, args.passes, args.spread,
                   args.radius, args.reg, sliced if args.energy == "slice" else None), keys, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
