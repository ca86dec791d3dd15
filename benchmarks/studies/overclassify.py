"""Classify into more classes than structures, then merge: does it find more structures than classifying
into as many classes as there are?

On one trained method of a finished ``scaling.py`` mixture (its latents, its data, its refined classes):

- ``classes``: the harness's own refinement, k-means of the latents' directions with k = n structures, then
  3D classification (``classes_refined.npy``);
- ``over``: k-means with k = ``--factor`` x n, then 3D classification into that many classes;
- ``merged``: those classes merged down to n (:func:`merge_classes`, Ward's criterion on the class maps'
  transforms);
- ``merged+classified``: 3D classification again, seeded by the merged classes.

Each is scored by the adjusted Rand index against the true labels and by the backprojection of each class's
images (the same for every row; not the method's decoded maps, which the scaling record scores) paired with
the true maps: FSC_AUC and structures found. No label is used before the scoring.

    python benchmarks/studies/overclassify.py benchmarks/work/peers-d32 --mixture mix0100 \\
        --method many_shrunk --out benchmarks/results/overclassify-d32

Each step's classes are kept in ``WORKDIR/MIXTURE/METHOD/overclassify/`` and skipped on a rerun;
``overclassify.json`` and ``overclassify.md`` in ``--out`` hold every method and mixture scored so far.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import report  # noqa: E402
from compare import latents_path  # noqa: E402
from study_record import mixture_data, parse_study_args, save, study_parser  # noqa: E402
from napari_cryohype.core.analysis import adjusted_rand_index  # noqa: E402
from napari_cryohype.core.backproject import DEFAULT_REG, Backprojector, dataset_batches  # noqa: E402
from napari_cryohype.core.classify import DEFAULT_RADIUS, classify  # noqa: E402
from napari_cryohype.core.evaluate import load_truth, score_clusters  # noqa: E402

ROWS = ("classes", "over", "merged", "merged+classified")


def backproject_classes(dataset, maps: np.ndarray, n_maps: int, *, batch_size: int = 256,
                        device: torch.device | str = "cpu") -> Backprojector:
    """Every image of ``dataset`` backprojected into its map ``maps`` (N,) (indices below ``n_maps``)."""
    bp = Backprojector(dataset.D, n_maps=n_maps, device=device)
    for idx, images, rots, trans, ctf in dataset_batches(dataset, np.arange(len(maps)), batch_size):
        bp.add(images, rots, trans, ctf, maps=maps[idx])
    return bp


def merge_classes(dataset, labels: np.ndarray, n_classes: int, *, radius: float = DEFAULT_RADIUS,
                  reg: float = DEFAULT_REG, batch_size: int = 256, device: torch.device | str = "cpu") -> np.ndarray:
    """Merge the classes ``labels`` (N,) of ``dataset``'s images down to ``n_classes``, cheapest first: the
    two classes whose merging least raises the images' squared residual against their class's map within
    ``radius`` (a fraction of Nyquist). With each map the weighted mean of its images' slices, voxel by voxel
    (weights ``w = sum c**2 + reg``), merging classes a and b raises the residual by
    ``sum over voxels of w_a w_b / (w_a + w_b) (m_a - m_b)**2`` (Ward's criterion in Fourier space): two
    classes of one structure cost little, two structures much. A merged class keeps the smaller id.
    Returns the merged labels (N,)."""
    labels = np.asarray(labels)
    ids, inv = np.unique(labels, return_inverse=True)
    K, D = len(ids), dataset.D
    if K <= n_classes:
        return labels.copy()
    bp = backproject_classes(dataset, inv, K, batch_size=batch_size, device=device)
    r = torch.arange(D, device=bp.device, dtype=torch.float64) - D // 2
    inside = (r[:, None, None] ** 2 + r[None, :, None] ** 2 + r[None, None, :] ** 2).flatten() \
        <= min(radius * D / 2, D / 2 - 1) ** 2 + 1e-6
    num, den = (a.reshape(K, -1)[:, inside] for a in bp.sums())
    w = den + reg
    cost = torch.stack([ward_cost(num, w, a) for a in range(K)])
    cost.fill_diagonal_(float("inf"))
    owner, present = np.arange(K), torch.ones(K, dtype=torch.bool, device=cost.device)
    for _ in range(K - n_classes):
        a, b = divmod(int(torch.argmin(cost)), K)
        a, b = min(a, b), max(a, b)
        num[a] += num[b]
        den[a] += den[b]
        w[a] = den[a] + reg
        owner[owner == b] = a
        present[b] = False
        cost[b, :] = cost[:, b] = float("inf")
        others = present.clone()
        others[a] = False
        new = torch.where(others, ward_cost(num, w, a),
                          torch.full((K,), float("inf"), dtype=cost.dtype, device=cost.device))
        cost[a], cost[:, a] = new, new
    return ids[owner[inv]]


def ward_cost(num: Tensor, w: Tensor, a: int) -> Tensor:
    """(K,) the rise of the squared residual if class ``a`` were merged with each class, from the classes'
    accumulated ``num`` (K, V) and weights ``w`` (K, V) (``sum c**2 + reg``) over V voxels."""
    m_a, m = num[a] / w[a], num / w
    return (w[a] * w / (w[a] + w) * (m_a - m).pow(2)).sum(1)


def class_maps(dataset, labels: np.ndarray) -> dict[int, np.ndarray]:
    """{class id: backprojection (D, D, D) of its images}."""
    ids, inv = np.unique(labels, return_inverse=True)
    return dict(zip(ids.tolist(), backproject_classes(dataset, inv, len(ids)).volumes()))


def cached(path: Path, make) -> np.ndarray:
    """``path`` (.npy) if it is there, else ``make()`` saved there; prints the step's time."""
    if path.is_file():
        return np.load(path)
    t = time.perf_counter()
    out = np.asarray(make())
    np.save(path, out)
    print(f"  {path.stem}: {time.perf_counter() - t:.0f} s", flush=True)
    return out


def study(workdir: Path, mixture: str, method: str, factor: int, seed: int) -> dict:
    data, dataset, labels = mixture_data(workdir, mixture)
    d = workdir / mixture / method
    n = int(mixture[3:])
    work = d / "overclassify"
    work.mkdir(exist_ok=True)
    seeds = report.latent_clusters(latents_path(d, method), factor * n, seed)[0]
    over = cached(work / f"over_x{factor}.npy", lambda: classify(dataset, seeds).labels)
    merged = cached(work / f"merged_x{factor}.npy", lambda: merge_classes(dataset, over, n))
    final = cached(work / f"merged_classified_x{factor}.npy", lambda: classify(dataset, merged).labels)
    truth, apix = load_truth(data / "volumes")
    rows = {}
    for name, classes in zip(ROWS, (np.load(d / "classes_refined.npy"), over, merged, final)):
        scored = score_clusters(class_maps(dataset, classes), truth, apix)
        rows[name] = {"classes": int(len(np.unique(classes))), "ari": adjusted_rand_index(classes, labels),
                      "structures_found": int(scored["structures_found"]),
                      "fsc_auc_mean": float(scored["summary"]["fsc_auc"]["mean"])}
        print(f"  {name}: {rows[name]}", flush=True)
    return {"mixture": mixture, "method": method, "factor": factor, "n": n, "rows": rows}


def markdown(results: list[dict]) -> str:
    lines = ["# Classify into more classes than structures, then merge", "",
             "Backprojections of each class's images, paired with the true maps (Hungarian by FSC_AUC). "
             "`benchmarks/studies/overclassify.py`.", "",
             "| mixture | method | classes from | k | ARI | structures found | FSC_AUC (backprojection) |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        for name, row in r["rows"].items():
            label = name if name == "classes" else f"{name} (x{r['factor']})"
            lines.append(f"| {r['mixture']} | {r['method']} | {label} | {row['classes']} | {row['ari']:.3f} | "
                         f"{row['structures_found']} of {r['n']} | {row['fsc_auc_mean']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = study_parser(__doc__)
    p.add_argument("--factor", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = parse_study_args(p, argv)
    result = study(args.workdir, args.mixture, args.method, args.factor, args.seed)
    save(args.out, "overclassify", result, ("mixture", "method", "factor"), markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
