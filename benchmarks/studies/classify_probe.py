"""What 3D classification with the poses fixed adds to a trained method's latent clusters, on one mixture.

Seeds: the latent clusters the benchmarks score (k-means of the latents' directions, k = the number of
structures, ``report.latent_clusters``). For each comparison radius (a fraction of Nyquist),
:func:`napari_cryohype.core.classify.classify` refines them; the seeds and each refinement are scored by
the adjusted Rand index against the true labels and by the backprojection of each class (no labels used),
paired with the true structures (Hungarian, FSC_AUC) as the benchmarks' label-free score is: mean
FSC_AUC and structures found.

    python benchmarks/studies/classify_probe.py benchmarks/work/scaling-d32/mix0100 \
        --out benchmarks/results/classify-d32/dev-100.json --radius 0.25 0.5 0.75

Each radius's result is written as soon as it is done and skipped on a rerun.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import report  # noqa: E402
from compare import latents_path, write_json  # noqa: E402
from study_record import mixture_dataset  # noqa: E402
from napari_cryohype.core.analysis import adjusted_rand_index  # noqa: E402
from napari_cryohype.core.backproject import backproject_labels  # noqa: E402
from napari_cryohype.core.classify import classify  # noqa: E402
from napari_cryohype.core.evaluate import load_truth, score_clusters  # noqa: E402
from napari_cryohype.core.io.dataset import ParticleDataset  # noqa: E402


def scores(dataset: ParticleDataset, clusters: np.ndarray, labels: np.ndarray, truth_dir: Path) -> dict:
    """ARI against the labels, and the label-free score of the classes' backprojections."""
    truth, apix = load_truth(truth_dir)
    s = score_clusters(backproject_labels(dataset, clusters), truth, apix)
    return {"ari": adjusted_rand_index(clusters, labels), "fsc_auc": s["summary"]["fsc_auc"]["mean"],
            "structures_found": s["structures_found"], "classes": int(np.unique(clusters).size)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mixture", type=Path, help="a compare.py mixture folder (data/, METHOD/)")
    p.add_argument("--method", default="many_lift_split")
    p.add_argument("--out", type=Path, required=True, help="JSON record")
    p.add_argument("--radius", type=float, nargs="+", default=[0.5])
    p.add_argument("--iterations", type=int, default=15)
    p.add_argument("--seed", type=int, default=0, help="the k-means seed compare.py used")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = args.mixture / "data"
    dataset, labels = mixture_dataset(data), np.load(data / "labels.npy")
    n = int(np.unique(labels).size)
    seeds, _ = report.latent_clusters(latents_path(args.mixture / args.method, args.method), n, args.seed)
    record = json.loads(args.out.read_text()) if args.out.is_file() else {
        "command": ["python", *sys.argv], "mixture": str(args.mixture), "method": args.method, "n": n,
        "images": len(dataset), "runs": {}}
    if "seeds" not in record:
        record["seeds"] = scores(dataset, seeds, labels, data / "volumes")
        write_json(args.out, report.portable(record, sys.executable))
    print(f"seeds (latent k-means): {record['seeds']}", flush=True)
    for radius in args.radius:
        key = f"radius {radius:g}"
        if key in record["runs"]:
            print(f"{key}: {record['runs'][key]} (kept)", flush=True)
            continue
        t0 = time.perf_counter()
        out = classify(dataset, seeds, iterations=args.iterations, radius=radius)
        seconds = time.perf_counter() - t0
        record["runs"][key] = {**scores(dataset, out.labels, labels, data / "volumes"), "seconds": round(seconds, 1),
                               "iterations": len(out.changed), "changed": out.changed}
        write_json(args.out, report.portable(record, sys.executable))
        print(f"{key}: {record['runs'][key]}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
