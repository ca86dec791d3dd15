"""What ``cryohype analyze`` writes besides the arrays, as ``cryodrgn analyze`` does: a map per k-means
cluster, PCA and UMAP plots coloured by cluster, the score of each k tried, and ``index.md``, the list of
every file written; and where an analysis goes, so that no earlier one is overwritten
(:func:`new_analysis_dir`).

Each cluster gives ``clusters/cluster_NNN.mrc``, the mean of the volumes decoded from ``per_cluster`` of its
images (seeded, :func:`napari_cryohype.core.evaluate.cluster_indices`), and, for a hypernetwork model,
``clusters/cluster_NNN_centre.mrc``, the volume of the cluster's mean latent (the mean weight tokens: the
natural centre of a hypernetwork latent, :func:`napari_cryohype.core.decode.decode_latents`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import numpy as np

from napari_cryohype.core import k_choice
from napari_cryohype.core.io.atomic import atomic_path
from napari_cryohype.core.io.mrc import write_mrc

#: what each array of ``analyze_run`` holds, for the index
ARRAYS = {"latents": "every image's latent (N, d): what sets its weight tokens (hyper; d = width for one-code encoders) or z (concat)",
          "loss": "every image's loss under the model (N,)",
          "pca": "principal components of the latents (N, <=100), by decreasing variance",
          "umap": "2D UMAP embedding of the principal components (N, 2)",
          "kmeans": "k-means cluster of every image (N,), on the principal components",
          "classes": "class of every image (N,): the k-means clusters refined by 3D classification with the poses "
                     "fixed (each image to the class whose map its image fits best; the same ids); the plots and "
                     "cluster maps are of these",
          "class_margin": "how much likelier every image is in its class than in the next best (N,), a "
                          "log-likelihood ratio in nats (3: e^3 = 20 times); near 0, the image fits two classes "
                          "alike (the explorer's \"class margin\" colour)"}

#: a folder holding one of these holds an analysis
_MARKS = ("index.md", "latents.npy")


def holds_analysis(folder: Path) -> bool:
    """Whether ``folder`` holds an analysis (its index.md or latents.npy)."""
    return any((Path(folder) / name).is_file() for name in _MARKS)


def analysis_folders(base: Path) -> list[Path]:
    """The analyses of one checkpoint, oldest first: ``base`` (``RUN/analysis`` or its ``epoch_NNN``) and
    its siblings ``base-2``, ``base-3``, ... (:func:`new_analysis_dir`), those that hold an analysis."""
    base = Path(base)
    numbered = []
    for folder in base.parent.glob(f"{base.name}-*"):
        match = re.fullmatch(re.escape(base.name) + r"-(\d+)", folder.name)
        if match and holds_analysis(folder):
            numbered.append((int(match.group(1)), folder))
    return ([base] if holds_analysis(base) else []) + [folder for _, folder in sorted(numbered)]


def new_analysis_dir(base: Path) -> Path:
    """Where a new analysis of one checkpoint goes: ``base`` when it holds none yet, else the first of
    ``base-2``, ``base-3``, ... that holds none, so that an earlier analysis is never overwritten."""
    base = Path(base)
    if not holds_analysis(base):
        return base
    i = 2
    while holds_analysis(base.parent / f"{base.name}-{i}"):
        i += 1
    return base.parent / f"{base.name}-{i}"


def latest_umap(base: Path, n: int) -> np.ndarray | None:
    """The UMAP layout (n, 2) of the latest analysis of ``base`` that has one for ``n`` images, or None:
    the start of the next layout, so that points keep their place."""
    for folder in reversed(analysis_folders(base)):
        path = folder / "umap.npy"
        if path.is_file():
            umap = np.load(path)
            if umap.shape == (n, 2):
                return umap
    return None


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _palette(n: int) -> np.ndarray:
    """(n, 4) RGBA colours of clusters 0 .. n-1 (the explorer's 50 colours, repeated)."""
    from napari_cryohype.core.palette import category_colors

    return category_colors(np.arange(n))


def place_labels(anchors: np.ndarray, size: tuple[float, float], order: np.ndarray | None = None,
                 rings: int = 12) -> list[tuple[float, float] | None]:
    """Centres of non-overlapping label boxes of ``size`` (width, height), in axes fractions, one per anchor
    (m, 2) (axes fractions): the anchor itself when free, else the first free place on rings around it
    (12 directions, 1.2 box heights apart), inside the axes; None where no place is free. Labels are placed
    in ``order`` (default: as given), earlier ones keeping the better places."""
    w, h = size
    placed: list[tuple[float, float]] = []
    out: list[tuple[float, float] | None] = [None] * len(anchors)
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    for i in (range(len(anchors)) if order is None else order):
        ax, ay = anchors[i]
        candidates = [(ax, ay)] + [(ax + r * 1.2 * h * np.cos(a) * w / h, ay + r * 1.2 * h * np.sin(a))
                                   for r in range(1, rings + 1) for a in angles]
        for x, y in candidates:
            inside = w / 2 <= x <= 1 - w / 2 and h / 2 <= y <= 1 - h / 2
            if inside and all(abs(x - px) >= w or abs(y - py) >= h for px, py in placed):
                placed.append((x, y))
                out[i] = (float(x), float(y))
                break
    return out


def plot_embedding(xy: np.ndarray, clusters: np.ndarray, path: Path, axes: tuple[str, str], title: str) -> Path:
    """Scatter plot (PNG) of points xy (N, 2) coloured by cluster (N,), each cluster's number in a box edged
    with its colour, at its median or, where that would cover another number, nearby with a line to it
    (:func:`place_labels`; a number with no free place is left out and the title says how many)."""
    plt = _pyplot()
    ids, sizes = np.unique(clusters, return_counts=True)
    side = min(14.0, 5.0 + len(ids) / 50)
    fig, ax = plt.subplots(figsize=(side + 0.5, side), dpi=120)
    colours = _palette(int(clusters.max()) + 1)
    ax.scatter(xy[:, 0], xy[:, 1], s=max(0.5, min(8.0, 4000 / len(xy))), c=colours[clusters], alpha=0.7,
               linewidths=0)
    ax.set(xlabel=axes[0], ylabel=axes[1], title=title)
    fig.tight_layout()
    fig.canvas.draw()
    box = {"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.85, "lw": 1}
    probe = ax.text(0, 0, "0" * len(str(ids.max())), fontsize=8, weight="bold", bbox=box)
    extent = probe.get_window_extent(fig.canvas.get_renderer())
    frame = ax.get_window_extent()
    probe.remove()
    size = (extent.width / frame.width * 1.1, extent.height / frame.height * 1.1)
    medians = np.array([np.median(xy[clusters == c], axis=0) for c in ids])
    anchors = ax.transAxes.inverted().transform(ax.transData.transform(medians))
    places = place_labels(anchors, size, order=np.argsort(-sizes, kind="stable"))
    for c, median, anchor, place in zip(ids, medians, anchors, places):
        if place is None:
            continue
        moved = np.hypot(*(np.subtract(place, anchor) / size)) > 0.5
        ax.annotate(str(c), median, xytext=place, textcoords="axes fraction", ha="center", va="center",
                    fontsize=8, weight="bold", bbox={**box, "ec": colours[c]},
                    arrowprops={"arrowstyle": "-", "lw": 0.6, "color": "0.3"} if moved else None)
    left_out = sum(p is None for p in places)
    if left_out:
        ax.set_title(f"{title}\n({left_out} of {len(ids)} cluster numbers left out: no room)", fontsize=10)
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return path


def plot_k_choice(table: dict[str, np.ndarray], path: Path, title: str) -> Path:
    """Plot (PNG) of each k tried (a ``k_choice.csv`` read by :func:`napari_cryohype.core.k_choice.read_table`):
    the score (the data's mean silhouette less the structureless reference's) with the chosen k marked, both
    silhouettes, and each k's adjusted Rand index against the true labels when the table has it."""
    plt = _pyplot()
    ks, scores = table["k"], table["score"]
    chosen = int(ks[table["chosen"] > 0][0])
    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=120)
    ax.plot(ks, scores, "o-", ms=3.5, lw=2, color="tab:blue", label="score: the difference (chooses k)")
    ax.plot(ks, table["silhouette"], "-", lw=1, color="tab:green", label="mean silhouette of the latents")
    ax.plot(ks, table["reference"], "-", lw=1, color="0.5", label="mean silhouette of a cloud with no clusters")
    if "ari" in table:
        ax.plot(ks, table["ari"], "s--", ms=3, color="tab:orange", label="adjusted Rand index vs labels")
    ax.axvline(chosen, color="black", lw=1, ls=":")
    ax.annotate(f"k = {chosen}", (chosen, scores[ks == chosen][0]), xytext=(8, 8), textcoords="offset points",
                weight="bold")
    if ks.max() > 30:
        ax.set_xscale("log")
    ax.set(xlabel="k (number of k-means clusters)", ylabel="cosine silhouette", title=title)
    ax.title.set_fontsize(10)
    ax.legend(loc="best", fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return path


def final_clusters(out_dir: Path) -> np.ndarray:
    """Each image's cluster (N,) in an analysis folder: its classes.npy (the refined classes) when there, else
    its kmeans.npy."""
    refined = Path(out_dir) / "classes.npy"
    return np.load(refined if refined.is_file() else Path(out_dir) / "kmeans.npy")


def write_plots(out_dir: Path, title: str) -> dict[str, Path]:
    """``pca.png`` (PC1 against PC2) and ``umap.png`` (when umap.npy is there) of the arrays in ``out_dir``,
    coloured by cluster (:func:`final_clusters`), and ``k_choice.png`` when k_choice.csv is there. Returns
    {name: path}."""
    clusters = final_clusters(out_dir)
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
    if (out_dir / "k_choice.csv").is_file():
        table = k_choice.read_table(out_dir / "k_choice.csv")
        chosen = int(table["k"][table["chosen"] > 0][0])
        paths["k_choice_plot"] = plot_k_choice(
            table, out_dir / "k_choice.png",
            f"{title}: k = {chosen}, where the latents' silhouette stands\n"
            "highest above that of a cloud with the same spread and no clusters")
    return paths


def write_cluster_maps(run, out_dir: Path, per_cluster: int = 16, *, seed: int = 0, device: str = "cpu",
                       progress: Callable[[int, int], None] | None = None) -> dict[str, Path]:
    """``out_dir/clusters/cluster_NNN.mrc`` for every cluster of :func:`final_clusters` (and
    ``cluster_NNN_centre.mrc`` for a hypernetwork run, from ``out_dir/latents.npy``), at the run's voxel size.
    ``progress(done, total)`` counts clusters. Returns {file name: path}."""
    from napari_cryohype.core.decode import decode_latents
    from napari_cryohype.core.evaluate import decode_clusters

    clusters = final_clusters(out_dir)
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


def k_sentence(out_dir: Path, k_given: bool, labels_given: bool) -> str:
    """How the analysis in ``out_dir`` set k, in one sentence for its index (and the command's output)."""
    k = np.unique(np.load(out_dir / "kmeans.npy")).size
    if k_given:
        return f"k = {k}, as given (--k)."
    if not (out_dir / "k_choice.csv").is_file():  # too few images to compare values of k
        return f"k = {k}."
    table = k_choice.read_table(out_dir / "k_choice.csv")
    at = table["chosen"] > 0
    chosen = int(table["k"][at][0])
    rule = (f"the k whose mean cosine silhouette stands highest above that of a cloud with the same spread and "
            f"no clusters: k = {chosen} ({table['silhouette'][at][0]:.3f} against {table['reference'][at][0]:.3f})")
    tried = (f"{len(table['k'])} values of k from {int(table['k'].min())} to {int(table['k'].max())}, k-means of "
             f"the latents' directions on at most {k_choice.SCORE_POINTS} images; `k_choice.png`, `k_choice.csv`")
    if labels_given:
        return f"k = {k}, the number of structures in --labels; from the data alone: {rule} ({tried})."
    return f"k = {k}, chosen from the data: {rule} ({tried})."


def write_index(run, out_dir: Path, per_cluster: int | None, k_how: str = "") -> Path:
    """``out_dir/index.md``: every file of the analysis with what it holds, the checkpoint analysed, how k was
    set (``k_how``, :func:`k_sentence`), and the size of every cluster. ``per_cluster``: images averaged per
    cluster map (None: no maps written)."""
    clusters = final_clusters(out_dir)
    ids, sizes = np.unique(clusters, return_counts=True)
    rows = [(f"{name}.npy", what) for name, what in ARRAYS.items() if (out_dir / f"{name}.npy").is_file()]
    refined = (out_dir / "classes.npy").is_file()
    kind = "class" if refined else "k-means cluster"
    rows += [(name, f"{label} coloured by {kind} (each {kind.split()[-1]}'s number at its median, or beside it "
                    "with a line to it)")
             for name, label in (("pca.png", "PC1 against PC2"), ("umap.png", "the UMAP embedding"))
             if (out_dir / name).is_file()]
    rows += [(name, what) for name, what in (
        ("k_choice.csv", "every k tried: its score (the mean silhouette of the latents less that of a cloud "
                         "with no clusters), both silhouettes, the chosen k marked (and each k's adjusted Rand "
                         "index against --labels)"),
        ("k_choice.png", "the score against k, the chosen k marked")) if (out_dir / name).is_file()]
    if per_cluster is not None:
        rows.append(("clusters/cluster_NNN.mrc", f"one map per {kind}: the mean of the volumes of {per_cluster} "
                                                 "of its images (seeded; all of them when fewer)"))
        if (out_dir / "clusters" / f"cluster_{ids[0]:03d}_centre.mrc").is_file():
            rows.append(("clusters/cluster_NNN_centre.mrc", f"one map per {kind}: the volume of its mean latent "
                                                            "(the mean weight tokens)"))
    lines = [f"# Analysis of {run.path}", "",
             f"Checkpoint: `{run.checkpoint_path.relative_to(run.path)}`; {len(clusters)} images, "
             f"{len(ids)} {'classes (k-means clusters refined by 3D classification)' if refined else 'k-means clusters'}"
             f"; voxel size {run.apix:g} Å.", "", *([k_how, ""] if k_how else []),
             "| file | what it holds |", "|---|---|", *(f"| `{name}` | {what} |" for name, what in rows), "",
             f"| {kind} | images |", "|---|---|", *(f"| {c} | {n} |" for c, n in zip(ids, sizes)), ""]
    path = out_dir / "index.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
    return path
