"""``cryohype analyze``: latents, PCA, UMAP and k-means of a trained run, with plots and cluster maps."""

from __future__ import annotations

import argparse
import sys

from napari_cryohype.core.analysis import analyze_run, load_labels
from napari_cryohype.core.errors import InputError

DESCRIPTION = """\
Encode every image of a trained run, then reduce and cluster the latents (the hypernetwork's weight
tokens): PCA to at most 100 dimensions, a 2D UMAP of the PCA coordinates (seeded; an earlier umap.npy of the
same images is the starting layout, so points stay in place after more training), and k-means on the PCA
coordinates (--k clusters; default: the number of distinct --labels, else round(sqrt(N / 2))).

Writes (replacing earlier results) into RUN/analysis/ (RUN/analysis/epoch_NNN/ with --epoch):
  latents.npy (N, d), loss.npy (N,) (each image's loss), pca.npy (N, <=100), umap.npy (N, 2), kmeans.npy (N,)
    (what the napari Latent Explorer opens);
  pca.png and umap.png, coloured by cluster;
  clusters/cluster_NNN.mrc, one map per cluster: the mean of the volumes of --per-cluster of its images, and
    for a hypernetwork run clusters/cluster_NNN_centre.mrc, the volume of the cluster's mean latent;
  index.md, what each file holds and the size of every cluster.
UMAP's first use in a process compiles for tens of seconds; --no-umap skips it. Above 100,000 images UMAP is
fitted on 100,000 of them (a seeded subsample) and places the others with its transform."""

EPILOG = """\
examples:
  cryohype analyze run1 --labels sim/labels.npy
  cryohype analyze run1 --epoch 5 --k 10      (needs cryohype train --checkpoint-every-epoch)"""


def add_parser(subparsers) -> None:
    """Register ``cryohype analyze``."""
    p = subparsers.add_parser("analyze", help="latents, PCA, UMAP, k-means, plots and cluster maps of a trained run",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("outdir", metavar="OUTDIR", help="a trained run folder")
    p.add_argument("--epoch", type=int, metavar="E",
                   help="analyse the checkpoint kept at the end of epoch E (default: the last checkpoint)")
    p.add_argument("--k", type=int, help="number of k-means clusters")
    p.add_argument("--labels", help="labels.npy (one integer per image): sets the default --k")
    p.add_argument("--per-cluster", type=int, default=16, metavar="K",
                   help="images decoded and averaged for each cluster's map (default 16)")
    p.add_argument("--no-volumes", dest="volumes", action="store_false", help="skip the cluster maps")
    p.add_argument("--no-umap", dest="umap", action="store_false", help="skip the UMAP embedding")
    p.add_argument("--seed", type=int, default=0, help="seed of PCA, UMAP, k-means and the decoded images (default 0)")
    p.add_argument("--device", default="cpu", help="torch device for encoding and decoding (default cpu)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Analyse the run with a progress line per stage; print where the results are."""
    from napari_cryohype.core import analysis_outputs
    from napari_cryohype.core.run import Run  # imported here: it loads the models

    trained = Run.open(args.outdir)
    if args.epoch is not None:
        trained = trained.at_epoch(args.epoch)
    labels = None if args.labels is None else load_labels(args.labels, len(trained.dataset()))
    if args.k is not None and args.k < 1:
        raise InputError(f"--k must be at least 1, got {args.k}")
    if args.per_cluster < 1:
        raise InputError(f"--per-cluster must be at least 1, got {args.per_cluster}")

    def progress(stage: str, fraction: float) -> None:
        if fraction == 0.0:
            print(f"analyze: {stage}...", file=sys.stderr, flush=True)

    analyze_run(trained, k=args.k, labels=labels, umap=args.umap, seed=args.seed, device=args.device,
                progress=progress)
    out = trained.analysis_dir
    progress("plots", 0.0)
    analysis_outputs.write_plots(out, trained.path.name)
    if args.volumes:
        progress("cluster maps", 0.0)
        analysis_outputs.write_cluster_maps(trained, out, args.per_cluster, seed=args.seed, device=args.device)
    else:
        analysis_outputs.remove_cluster_maps(out)
    index = analysis_outputs.write_index(trained, out, args.per_cluster if args.volumes else None)
    print(f"wrote the analysis of {trained.checkpoint_path.name} in {out}; what each file holds: {index}")
    return 0
