"""``cryohype analyze``: latents, PCA, UMAP and k-means of a trained run."""

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

Writes (replacing earlier results) RUN/analysis/latents.npy (N, d), loss.npy (N,) (each image's loss),
pca.npy (N, <=100), umap.npy (N, 2) and kmeans.npy (N,), which the napari Latent Explorer opens. UMAP's
first use in a process compiles for tens of seconds; --no-umap skips it."""

EPILOG = """\
example:
  cryohype analyze run1 --labels sim/labels.npy"""


def add_parser(subparsers) -> None:
    """Register ``cryohype analyze``."""
    p = subparsers.add_parser("analyze", help="latents, PCA, UMAP and k-means of a trained run",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("outdir", metavar="OUTDIR", help="a trained run folder")
    p.add_argument("--k", type=int, help="number of k-means clusters")
    p.add_argument("--labels", help="labels.npy (one integer per image): sets the default --k")
    p.add_argument("--no-umap", dest="umap", action="store_false", help="skip the UMAP embedding")
    p.add_argument("--seed", type=int, default=0, help="seed of PCA, UMAP and k-means (default 0)")
    p.add_argument("--device", default="cpu", help="torch device for encoding (default cpu)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Analyse the run with a progress line per stage; print where the results are."""
    from napari_cryohype.core.run import Run  # imported here: it loads the models

    trained = Run.open(args.outdir)
    labels = None if args.labels is None else load_labels(args.labels, len(trained.dataset()))
    if args.k is not None and args.k < 1:
        raise InputError(f"--k must be at least 1, got {args.k}")

    def progress(stage: str, fraction: float) -> None:
        if fraction == 0.0:
            print(f"analyze: {stage}...", file=sys.stderr, flush=True)

    paths = analyze_run(trained, k=args.k, labels=labels, umap=args.umap, seed=args.seed, device=args.device,
                        progress=progress)
    print(f"wrote {', '.join(p.name for p in paths.values())} in {trained.analysis_dir}")
    return 0
