"""``cryohype demo``: the whole job on the structures shipped in the package, in a few minutes on a CPU."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from napari_cryohype.core.errors import InputError
from napari_cryohype.core.threads import AUTO, threads_setting

DESCRIPTION = """\
Run the main job end to end on the embedded default dataset:
  1. simulate a mixture of the atomic models shipped in the package (OUTDIR/data),
  2. train CryoHype on it (OUTDIR/run),
  3. analyse the latents without the labels: PCA, UMAP, k-means with the number of clusters chosen from the
     latents (OUTDIR/run/analysis; k_choice.png shows how), refined into classes by 3D classification,
  4. score decoded volumes against the true maps (OUTDIR/run/eval/metrics.json): first those found with no
     label at all (a map per class, each paired with one structure to be scored), then those told
     by the labels: images chosen by their true labels, and k-means with the true number of structures,
  5. backproject each structure's images with the true labels, the upper bound (OUTDIR/backproject),
and print a summary. Open the result in napari with the Latent Explorer (File > Open > OUTDIR/run)."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="simulate, train, analyse and evaluate on the bundled structures",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("outdir", metavar="OUTDIR", type=Path, help="output folder (new or empty, unless --force)")
    p.add_argument("--images-per-structure", type=int, default=300, metavar="M", help="default 300")
    p.add_argument("--box", type=int, default=32, metavar="D", help="box size in pixels (default 32)")
    p.add_argument("--apix", type=float, default=6.0, metavar="A", help="pixel size in Å (default 6)")
    p.add_argument("--snr", type=float, default=0.1, help="signal-to-noise ratio (default 0.1)")
    p.add_argument("--shift-std", type=float, default=3.0, metavar="PX",
                   help="standard deviation of the particles' shifts in pixels (default 3: real particles are "
                        "never centred)")
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--threads", type=threads_setting, default=AUTO, metavar="T",
                   help="CPU threads of the training and the analysis: auto (default: one core left free, at least 1), 0 "
                        "(torch's default, one per core) or a number")
    p.add_argument("--no-umap", action="store_true", help="skip UMAP (it compiles for ~40 s on first use)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="replace an earlier demo in OUTDIR")
    p.set_defaults(func=run)


def _step(title: str, argv: list[str]) -> float:
    from napari_cryohype.cli import main

    print(f"\n== {title}: cryohype {' '.join(argv)}", flush=True)
    t0 = time.perf_counter()
    status = main(argv)
    if status:
        raise SystemExit(status)
    return time.perf_counter() - t0


def run(args: argparse.Namespace) -> int:
    out: Path = args.outdir
    if out.exists() and any(out.iterdir()) and not args.force:
        raise InputError("output folder is not empty (use --force to replace the demo in it)", out)
    from napari_cryohype.core.analysis import load_labels
    from napari_cryohype.core.analysis_outputs import new_analysis_dir

    data, run_dir, bp = out / "data", out / "run", out / "backproject"
    force = ["--force"] if args.force else []
    seconds = {
        "simulate": _step("simulate", [
            "simulate", str(data), "--images-per-structure", str(args.images_per_structure), "--box", str(args.box),
            "--apix", str(args.apix), "--snr", str(args.snr), "--shift-std", str(args.shift_std),
            "--seed", str(args.seed), *force]),
        "train": _step("train", [
            "train", str(run_dir), "--particles", str(data / "particles.mrcs"), "--poses", str(data / "poses.pkl"),
            "--ctf", str(data / "ctf.pkl"), "--epochs", str(args.epochs), "--seed", str(args.seed),
            "--threads", str(args.threads), *force]),
    }
    analysis = new_analysis_dir(run_dir / "analysis")   # where analyze writes: a new folder of its own
    seconds["analyze"] = _step("analyze (k chosen from the latents, no labels)", [
        "analyze", str(run_dir), "--seed", str(args.seed), "--threads", str(args.threads),
        *(["--no-umap"] if args.no_umap else [])])
    k = int(np.unique(np.load(analysis / "kmeans.npy")).size)
    seconds["eval"] = _step("eval", [
        "eval", str(run_dir), "--volumes", str(data / "volumes"), "--labels", str(data / "labels.npy"),
        "--k", str(k), *force])
    seconds["backproject"] = _step("backproject (upper bound)", [
        "backproject", str(bp), "--particles", str(data / "particles.mrcs"), "--poses", str(data / "poses.pkl"),
        "--ctf", str(data / "ctf.pkl"), "--labels", str(data / "labels.npy"), *force])
    _step("eval upper bound", ["eval", str(bp), "--volumes", str(data / "volumes"),
                               "--method-volumes", str(bp / "backproject"), *force])
    ours = json.loads((run_dir / "eval" / "metrics.json").read_text())
    upper = json.loads((bp / "eval" / "metrics.json").read_text())
    print("\n== summary")
    for line in summary_lines(ours, upper, analysis, true_k_ari(analysis, load_labels(data / "labels.npy"),
                                                                 args.seed)):
        print(line)
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    print(f"explore it: napari -w napari-cryohype, then open {run_dir} in the Latent Explorer; "
          f"the analysis (plots, cluster maps, how k was chosen): {analysis / 'index.md'}")
    return 0


def true_k_ari(analysis: Path, labels: np.ndarray, seed: int = 0) -> tuple[int, float]:
    """(number of structures, adjusted Rand index of k-means with that k on ``analysis/pca.npy``): the
    clustering the labels would have told, beside the one chosen without them."""
    from napari_cryohype.core.analysis import adjusted_rand_index, kmeans

    k = int(np.unique(labels).size)
    return k, adjusted_rand_index(kmeans(np.load(analysis / "pca.npy"), k, seed=seed), labels)


def summary_lines(ours: dict, upper: dict, analysis: Path, true_k: tuple[int, float]) -> list[str]:
    """The demo's summary from ``cryohype eval``'s reports of the run (``ours``) and of the labelled
    backprojection (``upper``): first the figure found with no label at all (k chosen from the latents, in
    ``analysis``), then those told by the labels: images chosen by their labels, k-means with the true
    number of structures (``true_k``: (k, its adjusted Rand index)) and the upper bound. Each map figure as
    FSC AUC (and its share of the upper bound's), Chamfer distance (Å) and IoU."""
    bound = upper["summary"]["fsc_auc"]["mean"]

    def figures(summary: dict) -> str:
        auc, chamfer, iou = (summary[m] for m in ("fsc_auc", "chamfer_A", "iou"))
        return (f"FSC-AUC {auc['mean']:.3f} ± {auc['std']:.3f} ({auc['mean'] / bound:.2f} of the upper bound), "
                f"Chamfer {chamfer['mean']:.2f} Å, IoU {iou['mean']:.3f}")

    u = ours["unsupervised"]
    lines = [f"CryoHype, with no label at all: {figures(u['summary'])}",
             f"  (k = {u['k']} clusters, chosen from the latents: {analysis / 'k_choice.png'}, refined by 3D "
             f"classification; adjusted Rand index {u['kmeans_ari']:.3f} against the true labels; each class's map "
             "paired with one structure to be scored" + (f"; no cluster for {len(u['missing'])} structure(s)" if u["missing"] else "")
             + (f"; {len(u['unpaired_clusters'])} cluster(s) left unpaired" if u.get("unpaired_clusters") else "")
             + ")",
             "Told by the labels:",
             f"  CryoHype, images chosen by their true labels: {figures(ours['summary'])}",
             f"  k-means with the true number of structures, k = {true_k[0]}: adjusted Rand index {true_k[1]:.3f}",
             f"  backprojection (true labels, upper bound): FSC-AUC {bound:.3f} ± "
             f"{upper['summary']['fsc_auc']['std']:.3f}, Chamfer {upper['summary']['chamfer_A']['mean']:.2f} Å, "
             f"IoU {upper['summary']['iou']['mean']:.3f}"]
    if max(u["summary"]["fsc_auc"]["mean"], ours["summary"]["fsc_auc"]["mean"]) > bound:
        lines.append("  (above 1.00 of it: the backprojection keeps its images' noise in the solvent, which the "
                     "whole-box FSC counts; it bounds the molecule: docs/metrics.md)")
    return lines
