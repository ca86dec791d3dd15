"""``cryohype eval``: score reconstructed maps against a simulation's ground truth."""

from __future__ import annotations

import argparse
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from tqdm import tqdm

from napari_cryohype.core import evaluate, metrics
from napari_cryohype.core.analysis import adjusted_rand_index, load_labels
from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.mrc import read_volume

DESCRIPTION = """\
Compare maps with the ground truth of a simulated mixture (the volumes/ folder `cryohype simulate` writes,
maps NNN_NAME.mrc where NNN is the structure's label) and report, per structure and as mean ± std:
FSC area under the curve (normalised: 1 = identical), resolution at FSC 0.5 and 0.143 (Å), Chamfer
distance (Å) and IoU of the molecules at --threshold. Definitions: docs/metrics.md.

Two sources of maps:
  OUTDIR is a trained CryoHype run folder. Two figures, the first one leading:
    without the labels: the latents are clustered (k-means, --k clusters, default the number of true
      structures) and the clusters refined by 3D classification, as `cryohype analyze` does (its
      RUN/analysis/classes.npy when its k-means has that many clusters), --per-structure images of each
      class are decoded and their volumes averaged, and each class's map is paired with one true structure
      (Hungarian, by FSC AUC): did the model separate the structures by itself? The classes' adjusted
      Rand index against --labels is added.
    images chosen by their true labels: --per-structure images of each structure decoded and averaged
      (what the model can give once the structures are told apart). Needs --labels.
  --method-volumes DIR: score an existing folder of numbered maps (000.mrc, vol_000.mrc, ... as written by
  `cryohype backproject` or cryoDRGN's eval_vol); OUTDIR is then any output folder.

Writes OUTDIR/eval/metrics.json (the clusters' figure under "unsupervised"), OUTDIR/eval/fsc.png and, for a
run, fsc_clusters.png (refused if they exist, unless --force)."""

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
                   help="images decoded and averaged per structure and per latent cluster (default 16)")
    p.add_argument("--k", type=int, help="latent clusters (default: the number of true structures)")
    p.add_argument("--method-volumes", metavar="DIR", help="score this folder of numbered maps instead of a run")
    p.add_argument("--threshold", type=float, default=metrics.DEFAULT_THRESHOLD,
                   help="molecule threshold for Chamfer and IoU, as a fraction of the true map's maximum "
                        f"(default {metrics.DEFAULT_THRESHOLD:g})")
    p.add_argument("--mask", help="a map (same box) multiplied into both maps before the FSC")
    p.add_argument("--seed", type=int, default=0, help="seed for choosing the decoded images (default 0)")
    p.add_argument("--device", default="cpu", help="torch device for decoding (default cpu)")
    p.add_argument("--force", action="store_true", help="overwrite OUTDIR/eval/metrics.json, fsc.png and fsc_clusters.png")
    p.set_defaults(func=run)


@contextmanager
def _bar(unit: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar counting decoded maps; yields the ``progress(done, total)`` callback."""
    with tqdm(total=0, unit=unit, desc="decode", disable=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        yield progress


def _figures(summary: dict) -> str:
    """'fsc_auc m ± s, chamfer_A m ± s, iou m ± s' of a report's summary."""
    return ", ".join(f"{name} {summary[name]['mean']:.3f} ± {summary[name]['std']:.3f}"
                     for name in ("fsc_auc", "chamfer_A", "iou"))


def _decode_run(args: argparse.Namespace, truth: dict, apix: float, mask) -> tuple[dict, dict]:
    """A run's maps chosen by the true labels and the report of its clusters' maps (unsupervised).
    Returns ({label: volume}, report fields)."""
    from napari_cryohype.core.run import Run

    if args.labels is None:
        raise InputError("--labels is needed to decode a run's structures (or give --method-volumes)")
    if args.per_structure < 1:
        raise InputError(f"--per-structure must be at least 1, got {args.per_structure}")
    trained = Run.open(args.outdir)
    labels = load_labels(args.labels, len(trained.dataset()))
    k = len(truth) if args.k is None else args.k
    if not 1 <= k <= len(labels):
        raise InputError(f"--k must be between 1 and the number of images ({len(labels)}), got {k}")
    clusters, cluster_source = evaluate.run_clusters(trained, k, seed=args.seed, device=args.device)
    with _bar("cluster") as progress:
        cluster_maps = evaluate.decode_clusters(trained, clusters, args.per_structure, seed=args.seed,
                                                device=args.device, progress=progress)
    with _bar("structure") as progress:
        volumes = evaluate.decode_structures(trained, labels, args.per_structure, seed=args.seed,
                                             device=args.device, progress=progress)
    ari = adjusted_rand_index(clusters, labels)
    unsupervised = {"k": k, "clusters": cluster_source, "per_cluster": args.per_structure, "kmeans_ari": ari,
                    **evaluate.score_clusters(cluster_maps, truth, apix, threshold=args.threshold, mask=mask)}
    return volumes, {"source": f"CryoHype run {args.outdir}", "per_structure": args.per_structure,
                     "seed": args.seed, "rule": "mean of per-image volumes", "kmeans_ari": ari,
                     "unsupervised": unsupervised}


def _print_summary(report: dict) -> None:
    """The figures, the one found without the labels first."""
    print(f"{report['n_structures']} structures ({report['source']}):")
    u = report.get("unsupervised")
    if u is not None:
        print(f"  without the labels ({u['k']} classes, {u['per_cluster']} images of each decoded, each "
              f"map paired with one structure): {_figures(u['summary'])}, ARI {u['kmeans_ari']:.3f}")
        if u["missing"]:
            print(f"  (no cluster map for labels {u['missing']}: fewer clusters than structures)")
        print(f"  images chosen by their true labels: {_figures(report['summary'])}")
    else:
        ari = report["kmeans_ari"]
        print(f"  {_figures(report['summary'])}" + ("" if ari is None else f", k-means ARI {ari:.3f}"))
    if report["missing"]:
        print(f"warning: no map for labels {report['missing']}")


def run(args: argparse.Namespace) -> int:
    """Score the maps, write the report and print the summary."""
    out = Path(args.outdir) / "eval"
    for name in ("metrics.json", "fsc.png", "fsc_clusters.png"):
        if (out / name).exists() and not args.force:
            raise InputError("file exists (use --force to overwrite)", out / name)
    if not 0 < args.threshold < 1:
        raise InputError(f"--threshold must be between 0 and 1, got {args.threshold}")
    truth, apix = evaluate.load_truth(args.volumes)
    mask = None if args.mask is None else read_volume(args.mask)[0]
    if args.method_volumes is not None:
        volumes = evaluate.load_volume_folder(args.method_volumes)
        labels = None if args.labels is None else load_labels(args.labels)
        fields = {"source": f"maps in {args.method_volumes}",
                  "kmeans_ari": None if labels is None else evaluate.kmeans_ari(Path(args.outdir) / "analysis",
                                                                                labels)}
    else:
        volumes, fields = _decode_run(args, truth, apix, mask)
    report = {**fields, "truth": str(args.volumes),
              **evaluate.score_volumes(volumes, truth, apix, threshold=args.threshold, mask=mask)}
    paths = evaluate.write_report(report, out, title=Path(args.outdir).name)
    _print_summary(report)
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0
