"""What ``cryohype analyze`` writes besides the arrays, as ``cryodrgn analyze`` does: a map per k-means
cluster, PCA and UMAP plots coloured by cluster, and ``index.md``, the list of every file written.

Each cluster gives ``clusters/cluster_NNN.mrc``, the mean of the volumes decoded from ``per_cluster`` of its
images (seeded, :func:`napari_cryohype.core.evaluate.cluster_indices`), and, for a hypernetwork model,
``clusters/cluster_NNN_centre.mrc``, the volume of the cluster's mean latent (the mean weight tokens: the
natural centre of a hypernetwork latent, :func:`napari_cryohype.core.decode.decode_latents`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from napari_cryohype.core.io.atomic import atomic_path
from napari_cryohype.core.io.mrc import write_mrc

#: what each array of ``analyze_run`` holds, for the index
ARRAYS = {"latents": "every image's latent (N, d): what sets its weight tokens (hyper; d = width for one-code encoders) or z (concat)",
          "loss": "every image's loss under the model (N,)",
          "pca": "principal components of the latents (N, <=100), by decreasing variance",
          "umap": "2D UMAP embedding of the principal components (N, 2)",
          "kmeans": "k-means cluster of every image (N,), on the principal components"}


def plot_embedding(xy: np.ndarray, clusters: np.ndarray, path: Path, axes: tuple[str, str], title: str) -> Path:
    """Scatter plot (PNG) of points xy (N, 2) coloured by cluster (N,), each cluster's number at its median."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import colormaps

    palette = np.concatenate([colormaps["tab10"](np.arange(10)), colormaps["tab20b"](np.arange(20))])
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=120)
    ax.scatter(xy[:, 0], xy[:, 1], s=max(0.5, min(8.0, 4000 / len(xy))), c=palette[clusters % len(palette)],
               alpha=0.7, linewidths=0)
    for c in np.unique(clusters):
        cx, cy = np.median(xy[clusters == c], axis=0)
        ax.annotate(str(c), (cx, cy), ha="center", va="center", fontsize=9, weight="bold",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.7, "lw": 0})
    ax.set(xlabel=axes[0], ylabel=axes[1], title=title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return path


def write_plots(out_dir: Path, title: str) -> dict[str, Path]:
    """``pca.png`` (PC1 against PC2) and ``umap.png`` (when umap.npy is there) of the arrays in ``out_dir``,
    coloured by k-means cluster. Returns {name: path}."""
    clusters = np.load(out_dir / "kmeans.npy")
    paths = {}
    pcs = np.load(out_dir / "pca.npy")
    if pcs.shape[1] >= 2:
        paths["pca_plot"] = plot_embedding(pcs[:, :2], clusters, out_dir / "pca.png", ("PC1", "PC2"),
                                           f"{title}: PCA of the latents")
    if (out_dir / "umap.npy").is_file():
        umap = np.load(out_dir / "umap.npy")
        if len(umap) == len(clusters):
            paths["umap_plot"] = plot_embedding(umap, clusters, out_dir / "umap.png", ("UMAP1", "UMAP2"),
                                                f"{title}: UMAP of the latents")
    return paths


def remove_cluster_maps(out_dir: Path) -> None:
    """Delete an earlier analysis's ``clusters/cluster_*.mrc``: they belong to its clusters, not the new ones."""
    for old in (out_dir / "clusters").glob("cluster_*.mrc"):
        old.unlink()


def write_cluster_maps(run, out_dir: Path, per_cluster: int = 16, *, seed: int = 0, device: str = "cpu",
                       progress: Callable[[int, int], None] | None = None) -> dict[str, Path]:
    """``out_dir/clusters/cluster_NNN.mrc`` for every k-means cluster of ``out_dir/kmeans.npy`` (and
    ``cluster_NNN_centre.mrc`` for a hypernetwork run, from ``out_dir/latents.npy``), at the run's voxel size.
    ``progress(done, total)`` counts clusters. Returns {file name: path}."""
    from napari_cryohype.core.decode import decode_latents
    from napari_cryohype.core.evaluate import decode_clusters

    clusters = np.load(out_dir / "kmeans.npy")
    remove_cluster_maps(out_dir)
    folder = out_dir / "clusters"
    folder.mkdir(exist_ok=True)
    paths = {}
    for c, volume in decode_clusters(run, clusters, per_cluster, seed=seed, device=device, progress=progress).items():
        paths[f"cluster_{c:03d}.mrc"] = folder / f"cluster_{c:03d}.mrc"
        write_mrc(paths[f"cluster_{c:03d}.mrc"], volume, run.apix, overwrite=True)
    if run.config["model"]["conditioning"] == "hyper":
        latents = np.load(out_dir / "latents.npy")
        ids = np.unique(clusters)
        centres = decode_latents(run, np.stack([latents[clusters == c].mean(0) for c in ids]), device=device)
        for c, volume in zip(ids, centres):
            paths[f"cluster_{c:03d}_centre.mrc"] = folder / f"cluster_{c:03d}_centre.mrc"
            write_mrc(paths[f"cluster_{c:03d}_centre.mrc"], volume, run.apix, overwrite=True)
    return paths


def write_index(run, out_dir: Path, per_cluster: int | None) -> Path:
    """``out_dir/index.md``: every file of the analysis with what it holds, the checkpoint analysed, and the
    size of every cluster. ``per_cluster``: images averaged per cluster map (None: no maps written)."""
    clusters = np.load(out_dir / "kmeans.npy")
    ids, sizes = np.unique(clusters, return_counts=True)
    rows = [(f"{name}.npy", what) for name, what in ARRAYS.items() if (out_dir / f"{name}.npy").is_file()]
    rows += [(name, f"{label} coloured by k-means cluster (the cluster's number at its median)")
             for name, label in (("pca.png", "PC1 against PC2"), ("umap.png", "the UMAP embedding"))
             if (out_dir / name).is_file()]
    if per_cluster is not None:
        rows.append(("clusters/cluster_NNN.mrc", f"one map per cluster: the mean of the volumes of {per_cluster} "
                                                 "of its images (seeded; all of them when fewer)"))
        if (out_dir / "clusters" / f"cluster_{ids[0]:03d}_centre.mrc").is_file():
            rows.append(("clusters/cluster_NNN_centre.mrc", "one map per cluster: the volume of its mean latent "
                                                            "(the mean weight tokens)"))
    lines = [f"# Analysis of {run.path}", "",
             f"Checkpoint: `{run.checkpoint_path.relative_to(run.path)}`; {len(clusters)} images, "
             f"{len(ids)} k-means clusters; voxel size {run.apix:g} Å.", "",
             "| file | what it holds |", "|---|---|", *(f"| `{name}` | {what} |" for name, what in rows), "",
             "| cluster | images |", "|---|---|", *(f"| {c} | {n} |" for c, n in zip(ids, sizes)), ""]
    path = out_dir / "index.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
    return path
