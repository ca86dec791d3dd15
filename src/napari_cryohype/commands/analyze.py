"""``cryohype analyze``: latents, PCA, UMAP and k-means of a trained run, with plots and cluster maps."""

from __future__ import annotations

import argparse
import sys

from napari_cryohype.core.analysis import analyze_run, load_labels
from napari_cryohype.core.errors import InputError
from napari_cryohype.core.threads import AUTO, resolve_threads, threads_setting

DESCRIPTION = """\
Encode every image of a trained run, then reduce and cluster the latents (the hypernetwork's weight
tokens): PCA to at most 100 dimensions, a 2D UMAP of the PCA coordinates (seeded; the layout of the latest
earlier analysis of the same images is the starting layout, so points stay in place after more training), and
k-means of the directions of the PCA coordinates with k clusters: --k, else the number of structures in
--labels, else k chosen from the data: k-means is fitted for k = 2 .. 20, then in 25% steps up to N/10 (at
most 400), then every k between the best one's neighbours, on at most 3,000 images and on as many points of a
cloud with the same spread and no clusters, and the k whose mean silhouette (cosine distance) stands highest
above the cloud's is kept (k_choice.png shows the scores against k). The k-means clusters then seed a 3D
classification with the poses fixed: each class's map is the backprojection of its images (the low
frequencies, to half of Nyquist), each image is shared among the classes by how near their maps, at its pose
and times its CTF, come to it, and both steps repeat (20 times, or until the classes settle); each image then
goes to its likeliest class (--no-classes skips it).

Each analysis gets a folder of its own: RUN/analysis/ (RUN/analysis/epoch_NNN/ with --epoch) the first time,
then RUN/analysis-2/, RUN/analysis-3/, ... (epoch_NNN-2/, ...): an earlier analysis is never overwritten. The
napari Latent Explorer opens the latest. The folder holds:
  latents.npy (N, d), loss.npy (N,) (each image's loss), pca.npy (N, <=100), umap.npy (N, 2), kmeans.npy (N,),
  classes.npy (N,) (the refined classes, the k-means clusters' ids);
  pca.png and umap.png, coloured by class;
  k_choice.csv and k_choice.png, the score of every k tried (unless --k);
  clusters/cluster_NNN.mrc, one map per class: the mean of the volumes of --per-cluster of its images, and
    for a hypernetwork run clusters/cluster_NNN_centre.mrc, the volume of the class's mean latent;
  index.md, what each file holds, how k was set and the size of every cluster.
UMAP's first use in a process compiles for tens of seconds; --no-umap skips it. Above 100,000 images UMAP is
fitted on 100,000 of them (a seeded subsample) and places the others with its transform."""

EPILOG = """\
examples:
  cryohype analyze run1                       (k chosen from the data)
  cryohype analyze run1 --labels sim/labels.npy   (k = the number of structures; k_choice.csv adds each k's ARI)
  cryohype analyze run1 --epoch 5 --k 10      (needs cryohype train --checkpoint-every-epoch)"""


def add_parser(subparsers) -> None:
    """Register ``cryohype analyze``."""
    p = subparsers.add_parser("analyze", help="latents, PCA, UMAP, k-means, plots and cluster maps of a trained run",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("outdir", metavar="OUTDIR", help="a trained run folder")
    p.add_argument("--epoch", type=int, metavar="E",
                   help="analyse the checkpoint kept at the end of epoch E (default: the last checkpoint)")
    p.add_argument("--k", type=int, help="number of k-means clusters (default: chosen from the data)")
    p.add_argument("--labels", help="labels.npy (one integer per image): k = its number of structures, and "
                                    "k_choice.csv gives each k's adjusted Rand index against them")
    p.add_argument("--per-cluster", type=int, default=16, metavar="K",
                   help="images decoded and averaged for each cluster's map (default 16)")
    p.add_argument("--no-volumes", dest="volumes", action="store_false", help="skip the cluster maps")
    p.add_argument("--no-umap", dest="umap", action="store_false", help="skip the UMAP embedding")
    p.add_argument("--no-classes", dest="classes", action="store_false",
                   help="keep the k-means clusters: skip the 3D classification that refines them")
    p.add_argument("--seed", type=int, default=0, help="seed of PCA, UMAP, k-means and the decoded images (default 0)")
    p.add_argument("--device", default="cpu", help="torch device for encoding and decoding (default cpu)")
    p.add_argument("--threads", type=threads_setting, default=AUTO, metavar="T",
                   help="CPU threads of torch, k-means and the linear algebra: auto (default: one core left free, "
                        "at least 1), 0 (the libraries' defaults, one per core) or a number")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Analyse the run with a progress line per stage, in a folder of its own; print where it went."""
    import torch
    from threadpoolctl import threadpool_limits

    from napari_cryohype.core import analysis_outputs
    from napari_cryohype.core.run import Run  # imported here: it loads the models

    trained = Run.open(args.outdir)
    if args.epoch is not None:
        trained = trained.at_epoch(args.epoch)
    n = len(trained.dataset())
    labels = None if args.labels is None else load_labels(args.labels, n)
    if args.k is not None and not 1 <= args.k <= n:
        raise InputError(f"--k must be between 1 and the number of images ({n}), got {args.k}")
    if args.per_cluster < 1:
        raise InputError(f"--per-cluster must be at least 1, got {args.per_cluster}")

    def progress(stage: str, fraction: float) -> None:
        if fraction == 0.0:
            print(f"analyze: {stage}...", file=sys.stderr, flush=True)

    out = analysis_outputs.new_analysis_dir(trained.analysis_dir)
    if out != trained.analysis_dir:
        print(f"analyze: {trained.analysis_dir} holds an earlier analysis, kept; this one goes to {out}",
              file=sys.stderr, flush=True)
    threads = None if args.threads == 0 else resolve_threads(args.threads)
    if threads is not None:
        torch.set_num_threads(threads)
    with threadpool_limits(limits=threads):   # k-means and BLAS: one thread per core fights other processes
        analyze_run(trained, out_dir=out, k=args.k, labels=labels, umap=args.umap, classes=args.classes,
                    seed=args.seed,
                    device=args.device, progress=progress,
                    umap_start=analysis_outputs.latest_umap(trained.analysis_dir, n) if args.umap else None)
        progress("plots", 0.0)
        analysis_outputs.write_plots(out, trained.path.name)
        if args.volumes:
            progress("cluster maps", 0.0)
            analysis_outputs.write_cluster_maps(trained, out, args.per_cluster, seed=args.seed, device=args.device)
    k_how = analysis_outputs.k_sentence(out, args.k is not None, labels is not None)
    index = analysis_outputs.write_index(trained, out, args.per_cluster if args.volumes else None, k_how)
    print(f"wrote the analysis of {trained.checkpoint_path.name} in {out}: {k_how}\nwhat each file holds: {index}")
    return 0
