"""``cryohype eval``: score reconstructed maps against a simulation's ground truth."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from napari_cryohype.core import evaluate, metrics
from napari_cryohype.core.analysis import load_labels
from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.mrc import read_volume

DESCRIPTION = """\
Compare maps with the ground truth of a simulated mixture (the volumes/ folder `cryohype simulate` writes,
maps NNN_NAME.mrc where NNN is the structure's label) and report, per structure and as mean ± std:
FSC area under the curve (normalised: 1 = identical), resolution at FSC 0.5 and 0.143 (Å), Chamfer
distance (Å) and IoU of the molecules at --threshold. Definitions: docs/metrics.md.

Two sources of maps:
  OUTDIR is a trained CryoHype run folder: for each structure, --per-structure of its images (chosen
  with --seed) are decoded and their volumes averaged. Needs --labels. When the run has been analysed
  (`cryohype analyze`), the adjusted Rand index of its k-means clusters against the labels is added.
  --method-volumes DIR: score an existing folder of numbered maps (000.mrc, vol_000.mrc, ... as written by
  `cryohype backproject` or cryoDRGN's eval_vol); OUTDIR is then any output folder.

Writes OUTDIR/eval/metrics.json and OUTDIR/eval/fsc.png (refused if they exist, unless --force)."""

EPILOG = """\
examples:
  cryohype eval run1 --volumes sim/volumes --labels sim/labels.npy --per-structure 16
  cryohype eval bp --volumes sim/volumes --method-volumes bp/backproject"""


def add_parser(subparsers) -> None:
    """Register ``cryohype eval``."""
    p = subparsers.add_parser("eval", help="score maps against a simulation's ground-truth maps",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("outdir", metavar="OUTDIR", help="a run folder (or, with --method-volumes, any output folder)")
    p.add_argument("--volumes", required=True, metavar="DIR", help="ground-truth maps NNN_NAME.mrc")
    p.add_argument("--labels", help="labels.npy: the structure of every image (needed to decode a run)")
    p.add_argument("--per-structure", type=int, default=16, metavar="K",
                   help="images decoded and averaged per structure (default 16)")
    p.add_argument("--method-volumes", metavar="DIR", help="score this folder of numbered maps instead of a run")
    p.add_argument("--threshold", type=float, default=metrics.DEFAULT_THRESHOLD,
                   help="molecule threshold for Chamfer and IoU, as a fraction of the true map's maximum "
                        f"(default {metrics.DEFAULT_THRESHOLD:g})")
    p.add_argument("--mask", help="a map (same box) multiplied into both maps before the FSC")
    p.add_argument("--seed", type=int, default=0, help="seed for choosing the decoded images (default 0)")
    p.add_argument("--device", default="cpu", help="torch device for decoding (default cpu)")
    p.add_argument("--force", action="store_true", help="overwrite OUTDIR/eval/metrics.json and fsc.png")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Score the maps, write the report and print the summary."""
    out = Path(args.outdir) / "eval"
    for name in ("metrics.json", "fsc.png"):
        if (out / name).exists() and not args.force:
            raise InputError("file exists (use --force to overwrite)", out / name)
    if not 0 < args.threshold < 1:
        raise InputError(f"--threshold must be between 0 and 1, got {args.threshold}")
    truth, apix = evaluate.load_truth(args.volumes)
    mask = None if args.mask is None else read_volume(args.mask)[0]
    labels, extra = None, {}
    if args.method_volumes is not None:
        volumes = evaluate.load_volume_folder(args.method_volumes)
        source = f"maps in {args.method_volumes}"
        if args.labels is not None:
            labels = load_labels(args.labels)
    else:
        from napari_cryohype.core.run import Run

        if args.labels is None:
            raise InputError("--labels is needed to decode a run's structures (or give --method-volumes)")
        if args.per_structure < 1:
            raise InputError(f"--per-structure must be at least 1, got {args.per_structure}")
        trained = Run.open(args.outdir)
        labels = load_labels(args.labels, len(trained.dataset()))
        with tqdm(total=0, unit="structure", desc="decode", disable=None) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            volumes = evaluate.decode_structures(trained, labels, args.per_structure, seed=args.seed,
                                                 device=args.device, progress=progress)
        source = f"CryoHype run {args.outdir}"
        extra = {"per_structure": args.per_structure, "seed": args.seed, "rule": "mean of per-image volumes"}
    report = evaluate.score_volumes(volumes, truth, apix, threshold=args.threshold, mask=mask)
    ari = None if labels is None else evaluate.kmeans_ari(Path(args.outdir) / "analysis", labels)
    report = {"source": source, "truth": str(args.volumes), **extra, "kmeans_ari": ari, **report}
    paths = evaluate.write_report(report, out, title=Path(args.outdir).name)
    summary = report["summary"]
    print(f"{report['n_structures']} structures ({source}): "
          + ", ".join(f"{name} {summary[name]['mean']:.3f} ± {summary[name]['std']:.3f}"
                      for name in ("fsc_auc", "chamfer_A", "iou"))
          + ("" if ari is None else f", k-means ARI {ari:.3f}"))
    if report["missing"]:
        print(f"warning: no map for labels {report['missing']}")
    print(f"wrote {paths['metrics']} and {paths['fsc']}")
    return 0
