"""``cryohype demo``: the whole job on the structures shipped in the package, in a few minutes on a CPU."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from napari_cryohype.core.errors import InputError
from napari_cryohype.core.threads import AUTO, threads_setting

DESCRIPTION = """\
Run the main job end to end on the embedded default dataset:
  1. simulate a mixture of the atomic models shipped in the package (OUTDIR/data),
  2. train CryoHype on it (OUTDIR/run),
  3. analyse the latents: PCA, UMAP, k-means (OUTDIR/run/analysis),
  4. score decoded volumes against the true maps (OUTDIR/run/eval/metrics.json): first without the labels
     (k-means clusters of the latents, each cluster's map paired with one structure), then with images
     chosen by their true labels,
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
                   help="torch CPU threads of the training: auto (default: one core left free, at least 1), 0 "
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
        "analyze": _step("analyze", [
            "analyze", str(run_dir), "--labels", str(data / "labels.npy"), "--seed", str(args.seed),
            *(["--no-umap"] if args.no_umap else [])]),
        "eval": _step("eval", [
            "eval", str(run_dir), "--volumes", str(data / "volumes"), "--labels", str(data / "labels.npy"), *force]),
        "backproject": _step("backproject (upper bound)", [
            "backproject", str(bp), "--particles", str(data / "particles.mrcs"), "--poses", str(data / "poses.pkl"),
            "--ctf", str(data / "ctf.pkl"), "--labels", str(data / "labels.npy"), *force]),
    }
    _step("eval upper bound", ["eval", str(bp), "--volumes", str(data / "volumes"),
                               "--method-volumes", str(bp / "backproject"), *force])
    ours = json.loads((run_dir / "eval" / "metrics.json").read_text())
    upper = json.loads((bp / "eval" / "metrics.json").read_text())
    print("\n== summary")
    for line in summary_lines(ours, upper):
        print(line)
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    print(f"explore it: napari -w napari-cryohype, then open {run_dir} in the Latent Explorer")
    return 0


def summary_lines(ours: dict, upper: dict) -> list[str]:
    """The demo's summary from ``cryohype eval``'s reports of the run (``ours``) and of the labelled
    backprojection (``upper``): the figure found without the labels first, each as FSC AUC (and its share
    of the upper bound's), Chamfer distance (Å) and IoU."""
    bound = upper["summary"]["fsc_auc"]["mean"]

    def figures(summary: dict) -> str:
        auc, chamfer, iou = (summary[m] for m in ("fsc_auc", "chamfer_A", "iou"))
        return (f"FSC-AUC {auc['mean']:.3f} ± {auc['std']:.3f} ({auc['mean'] / bound:.2f} of the upper bound), "
                f"Chamfer {chamfer['mean']:.2f} Å, IoU {iou['mean']:.3f}")

    u = ours["unsupervised"]
    lines = [f"CryoHype, without the labels: {figures(u['summary'])}",
             f"  (k-means with k = {u['k']} on the latents, adjusted Rand index {u['kmeans_ari']:.3f} against the "
             f"true labels; each cluster's map paired with one structure"
             + (f"; no cluster for {len(u['missing'])} structure(s)" if u["missing"] else "") + ")",
             f"CryoHype, images chosen by their true labels: {figures(ours['summary'])}",
             f"backprojection (true labels, upper bound): FSC-AUC {bound:.3f} ± "
             f"{upper['summary']['fsc_auc']['std']:.3f}, Chamfer {upper['summary']['chamfer_A']['mean']:.2f} Å, "
             f"IoU {upper['summary']['iou']['mean']:.3f}"]
    if max(u["summary"]["fsc_auc"]["mean"], ours["summary"]["fsc_auc"]["mean"]) > bound:
        lines.append("  (above 1.00 of it: the backprojection keeps its images' noise in the solvent, which the "
                     "whole-box FSC counts; it bounds the molecule: docs/metrics.md)")
    return lines
