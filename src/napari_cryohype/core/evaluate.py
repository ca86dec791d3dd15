"""Score reconstructed maps against the ground-truth maps of a simulated mixture.

The truth is a folder of maps ``NNN_NAME.mrc`` (as ``cryohype simulate`` writes them; ``NNN`` is the
structure's label). Any {label: volume} dict is scored by the same code — maps decoded from a CryoHype
run (:func:`decode_structures`), backprojections, or a peer's maps read with :func:`load_volume_folder`
— so that every method's numbers are comparable. Metric definitions: ``docs/metrics.md``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from napari_cryohype.core import metrics
from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.atomic import atomic_path
from napari_cryohype.core.io.mrc import read_volume

#: Per-structure numbers in the report, with the direction that is better.
METRICS = {"fsc_auc": "higher", "chamfer_A": "lower", "iou": "higher",
           "resolution_fsc05_A": "lower", "resolution_fsc0143_A": "lower"}


@dataclass
class TrueMap:
    """One ground-truth structure: its label, name, (D, D, D) map and file."""

    label: int
    name: str
    volume: np.ndarray
    path: Path


def _label_of(path: Path) -> int | None:
    match = re.search(r"\d+", path.stem)
    return None if match is None else int(match.group())


def load_truth(volumes_dir: str | os.PathLike) -> tuple[dict[int, TrueMap], float]:
    """Read the ground-truth folder: ``NNN_NAME.mrc`` files. Returns ({label: TrueMap}, Å/voxel)."""
    volumes_dir = Path(volumes_dir)
    truth, apix = {}, None
    for path in sorted(volumes_dir.glob("*.mrc")) if volumes_dir.is_dir() else ():
        match = re.fullmatch(r"(\d+)_(.+)", path.stem)
        if match is None:
            continue
        volume, file_apix = read_volume(path)
        label = int(match.group(1))
        if label in truth:
            raise InputError(f"two maps have label {label}: {truth[label].path.name} and {path.name}", volumes_dir)
        truth[label] = TrueMap(label, match.group(2), volume, path)
        apix = file_apix if apix is None else apix
    if not truth:
        raise InputError("no ground-truth maps named NNN_NAME.mrc in this folder", volumes_dir)
    shapes = {t.volume.shape for t in truth.values()}
    if len(shapes) > 1:
        raise InputError(f"ground-truth maps have different shapes: {sorted(shapes)}", volumes_dir)
    return truth, float(apix)


def load_volume_folder(folder: str | os.PathLike) -> dict[int, np.ndarray]:
    """Read a method's maps: every ``*.mrc`` whose name holds a number (``003.mrc``, ``vol_003.mrc``,
    ``003_name.mrc``); the first number is the label. Returns {label: (D, D, D) float32}."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("volume folder not found", folder)
    volumes, names = {}, {}
    for path in sorted(folder.glob("*.mrc")):
        label = _label_of(path)
        if label is None:
            continue
        if label in volumes:
            raise InputError(f"two maps have label {label}: {names[label]} and {path.name}", folder)
        volumes[label], _ = read_volume(path)
        names[label] = path.name
    if not volumes:
        raise InputError("no numbered .mrc maps (like 000.mrc or vol_000.mrc) in this folder", folder)
    return volumes


def per_structure_indices(labels: np.ndarray, per_structure: int, seed: int = 0) -> dict[int, np.ndarray]:
    """For each label, ``per_structure`` of its image indices (all when it has fewer), drawn without
    replacement with a seeded generator, sorted. Returns {label: (k,) int64}."""
    rng = np.random.default_rng(seed)
    out = {}
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        k = min(per_structure, members.size)
        out[int(label)] = np.sort(rng.choice(members, size=k, replace=False))
    return out


def cluster_indices(clusters: np.ndarray, per_cluster: int, seed: int = 0) -> np.ndarray:
    """(n_clusters, per_cluster) image indices: for each cluster id in increasing order, ``per_cluster`` of its
    members drawn with a seeded generator (without replacement; with it when the cluster is smaller)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in np.unique(clusters):
        members = np.flatnonzero(clusters == c)
        rows.append(np.sort(rng.choice(members, size=per_cluster, replace=members.size < per_cluster)))
    return np.stack(rows)


def _auc_matrix(volumes: dict[int, np.ndarray], truth: dict[int, TrueMap]) -> tuple[list[int], list[int], np.ndarray]:
    """(map keys, true labels, FSC_AUC of every map against every true map: (n_maps, n_structures))."""
    keys, labels = sorted(volumes), sorted(truth)
    score = metrics.fsc_auc_matrix([volumes[k] for k in keys], [truth[t].volume for t in labels])
    return keys, labels, score


def _hungarian(keys: list[int], labels: list[int], score: np.ndarray) -> dict[int, int]:
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(score, maximize=True)
    return {keys[r]: labels[c] for r, c in zip(rows, cols)}


def match_to_truth(volumes: dict[int, np.ndarray], truth: dict[int, TrueMap]) -> dict[int, int]:
    """Pair maps found without the labels (one per latent cluster) with the true structures, one to one,
    maximising the summed FSC_AUC (Hungarian algorithm). Returns {map key: true label}; with fewer maps than
    structures some structures stay unpaired, with more some maps do."""
    return _hungarian(*_auc_matrix(volumes, truth))


def decode_structures(run, labels: np.ndarray, per_structure: int = 16, *, seed: int = 0, device: str = "cpu",
                      progress: Callable[[int, int], None] | None = None) -> dict[int, np.ndarray]:
    """One map per structure from a trained run: the mean of the volumes decoded from ``per_structure``
    of its images (:func:`napari_cryohype.core.decode.decode_selection`). ``labels`` (N,): one per image
    of the run's stack. ``progress(done, total)`` counts structures. Returns {label: (D, D, D)}."""
    from napari_cryohype.core.decode import decode_selection

    selection = per_structure_indices(labels, per_structure, seed)
    out = {}
    for i, (label, idx) in enumerate(selection.items()):
        out[label] = decode_selection(run, idx, device=device, rule="mean")
        if progress is not None:
            progress(i + 1, len(selection))
    return out


def decode_clusters(run, clusters: np.ndarray, per_cluster: int = 16, *, seed: int = 0, device: str = "cpu",
                    progress: Callable[[int, int], None] | None = None) -> dict[int, np.ndarray]:
    """One map per latent cluster, found without the labels: the mean of the volumes decoded from
    ``per_cluster`` of its members (:func:`cluster_indices`). ``clusters`` (N,): one cluster id per image.
    ``progress(done, total)`` counts clusters. Returns {cluster id: (D, D, D)}."""
    from napari_cryohype.core.decode import decode_selection

    ids = np.unique(clusters)
    rows = cluster_indices(clusters, per_cluster, seed)
    out = {}
    for i, (c, idx) in enumerate(zip(ids, rows)):
        out[int(c)] = decode_selection(run, np.unique(idx), device=device, rule="mean")
        if progress is not None:
            progress(i + 1, len(ids))
    return out


def run_clusters(run, k: int, *, seed: int = 0, device: str = "cpu") -> tuple[np.ndarray, str]:
    """The classes (N,) of a run's images found without the labels, and where they came from: what
    ``cryohype analyze`` wrote in ``RUN/analysis/`` when its k-means has ``k`` clusters and one per image (its
    classes.npy, else its kmeans.npy), else k-means (k, seeded) on the PCA of the latents computed now, refined
    by 3D classification (:func:`~napari_cryohype.core.classify.classify`), as
    :func:`~napari_cryohype.core.analysis.analyze_run` does."""
    from napari_cryohype.core.analysis import kmeans, pca
    from napari_cryohype.core.classify import classify
    from napari_cryohype.core.latents import compute_latents

    analysis = Path(run.analysis_dir)
    saved, refined = analysis / "kmeans.npy", analysis / "classes.npy"
    dataset = run.dataset()
    if saved.is_file():
        clusters = np.load(saved)
        if clusters.shape == (len(dataset),) and np.unique(clusters).size == k:
            return (np.load(refined), str(refined)) if refined.is_file() else (clusters, str(saved))
    seeds = kmeans(pca(compute_latents(run, device=device), seed=seed), k, seed=seed)
    return (classify(dataset, seeds, device=device).labels,
            "k-means on the PCA of the latents, refined by 3D classification")


def score_clusters(volumes: dict[int, np.ndarray], truth: dict[int, TrueMap], apix: float, *,
                   threshold: float = metrics.DEFAULT_THRESHOLD, mask: np.ndarray | None = None) -> dict:
    """Score maps found without the labels (one per latent cluster): each is paired with one true structure
    (:func:`match_to_truth`, Hungarian by FSC_AUC), then scored as :func:`score_volumes` does. Returns its
    report plus ``pairs`` ({cluster: label}), ``unpaired_clusters`` (when there are more clusters than
    structures) and ``structures_found``: how many clusters' maps are paired with the structure whose true map
    they are closest to (a cluster that found its structure); structures no cluster was paired with are
    ``missing``."""
    keys, labels, score = _auc_matrix(volumes, truth)
    pairs = _hungarian(keys, labels, score)
    nearest = {k: labels[int(np.argmax(row))] for k, row in zip(keys, score)}
    report = score_volumes({t: volumes[c] for c, t in pairs.items()}, truth, apix, threshold=threshold, mask=mask)
    return {"pairs": {str(c): t for c, t in sorted(pairs.items())},
            "unpaired_clusters": sorted(set(volumes) - set(pairs)),
            "structures_found": sum(nearest[c] == t for c, t in pairs.items()), **report}


def score_volumes(volumes: dict[int, np.ndarray], truth: dict[int, TrueMap], apix: float, *,
                  threshold: float = metrics.DEFAULT_THRESHOLD, mask: np.ndarray | None = None) -> dict:
    """Compare each map to the truth of its label: FSC curve, FSC AUC, FSC = 0.5 and 0.143 resolutions,
    Chamfer distance (Å) and IoU at ``threshold`` (fraction of the true map's maximum; see
    :func:`napari_cryohype.core.metrics.surface_masks`). ``mask`` (D, D, D), optional, multiplies both maps
    before the FSC. Truth labels without a map are listed as ``missing``; maps without a truth are refused.
    Returns the report: ``structures`` (one dict per label), ``summary`` ({metric: mean, std, median}),
    ``fsc`` (frequencies in 1/pixel and each label's curve), and the settings."""
    extra = sorted(set(volumes) - set(truth))
    if extra:
        raise InputError(f"maps for labels {extra} have no ground truth (truth labels: {sorted(truth)})")
    rows, curves, freq = [], {}, None
    for label in sorted(volumes):
        true, vol = truth[label], np.asarray(volumes[label])
        if vol.shape != true.volume.shape:
            raise InputError(f"map for label {label} has shape {vol.shape}, the truth {true.volume.shape}")
        if mask is not None and np.shape(mask) != vol.shape:
            raise InputError(f"the mask has shape {np.shape(mask)}, the maps {vol.shape}")
        if not true.volume.max() > 0:
            raise InputError("the ground-truth map has no positive density to threshold", true.path)
        freq, curve = metrics.fsc(true.volume, vol, mask)
        curves[str(label)] = [round(float(c), 6) for c in curve]
        rows.append({
            "label": label, "name": true.name,
            "fsc_auc": metrics.auc(freq, curve),
            "chamfer_A": metrics.chamfer_distance(true.volume, vol, apix, threshold),
            "iou": metrics.volume_iou(true.volume, vol, threshold),
            "resolution_fsc05_A": metrics.resolution_at(freq, curve, apix, 0.5),
            "resolution_fsc0143_A": metrics.resolution_at(freq, curve, apix, 0.143),
        })
    if not rows:
        raise InputError("no maps to score")
    summary = {}
    for name in METRICS:
        values = np.array([r[name] for r in rows])
        summary[name] = {"mean": float(values.mean()), "std": float(values.std()), "median": float(np.median(values))}
    return {
        "n_structures": len(rows), "missing": sorted(set(truth) - set(volumes)),
        "apix": apix, "D": int(next(iter(truth.values())).volume.shape[0]),
        "threshold": threshold, "masked": mask is not None,
        "structures": rows, "summary": summary,
        "fsc": {"freq_per_px": [float(f) for f in freq], "curves": curves},
    }


def kmeans_ari(analysis_dir: str | os.PathLike, labels: np.ndarray) -> float | None:
    """Adjusted Rand index of ``analysis_dir/kmeans.npy`` (from :func:`~napari_cryohype.core.analysis.analyze_run`)
    against the true labels; None when there is no clustering. InputError when the lengths differ."""
    from napari_cryohype.core.analysis import adjusted_rand_index

    path = Path(analysis_dir) / "kmeans.npy"
    if not path.is_file():
        return None
    clusters = np.load(path)
    if clusters.shape != np.shape(labels):
        raise InputError(f"{clusters.size} cluster labels but {np.size(labels)} true labels", path)
    return adjusted_rand_index(clusters, labels)


#: an FSC plot names every curve up to this many structures; above, the best and worst few (HIGHLIGHT each)
NAME_ALL_UP_TO = 10
HIGHLIGHT = 3


def plot_fsc(report: dict, path: str | os.PathLike, title: str = "") -> Path:
    """FSC curves against resolution, as a PNG, each named in the legend by its structure's label, name and
    FSC AUC (and the cluster whose map it is, for a report of :func:`score_clusters`): every curve in a colour of its own up to :data:`NAME_ALL_UP_TO` structures; above, the
    :data:`HIGHLIGHT` best and worst by AUC in colour, the others thin grey, and their mean in black."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    freq = np.array(report["fsc"]["freq_per_px"]) / report["apix"]
    rows = {str(r["label"]): r for r in report["structures"]}
    labels = list(report["fsc"]["curves"])
    curves = np.array([report["fsc"]["curves"][label] for label in labels])
    cluster_of = {str(t): c for c, t in report.get("pairs", {}).items()}  # maps found without the labels
    by_auc = sorted(range(len(labels)), key=lambda i: -rows[labels[i]]["fsc_auc"])
    named = by_auc if len(labels) <= NAME_ALL_UP_TO else by_auc[:HIGHLIGHT] + by_auc[-HIGHLIGHT:]
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    if len(labels) > NAME_ALL_UP_TO:
        for i in set(range(len(labels))) - set(named):
            ax.plot(freq, curves[i], color="0.6", alpha=max(0.15, min(0.6, 5 / len(labels))), lw=0.7)
        ax.plot([], [], color="0.6", lw=0.7, label=f"the other {len(labels) - len(named)}")
    colours = plt.get_cmap("tab10")
    for j, i in enumerate(named):
        row = rows[labels[i]]
        ax.plot(freq, curves[i], color=colours(j % 10), lw=1.2,
                label=(f"cluster {cluster_of[labels[i]]}: " if labels[i] in cluster_of else "")
                + f"{row['label']:03d} {row['name']}  (AUC {row['fsc_auc']:.3f})")
    ax.plot(freq, curves.mean(0), color="black", lw=2, label="mean")
    for level in (0.5, 0.143):
        ax.axhline(level, color="grey", ls=":", lw=0.8)
    auc = report["summary"]["fsc_auc"]
    which = "" if len(labels) <= NAME_ALL_UP_TO else f"; named: the {HIGHLIGHT} best and {HIGHLIGHT} worst"
    ax.set(xlabel="spatial frequency (1/Å)", ylabel="Fourier shell correlation", ylim=(-0.1, 1.02),
           xlim=(0, freq[-1]), title=f"{title}  AUC {auc['mean']:.3f} ± {auc['std']:.3f} "
                                     f"({report['n_structures']} structures{which})".strip())
    ax.title.set_fontsize(10)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return path


def write_report(report: dict, outdir: str | os.PathLike, *, title: str = "") -> dict[str, Path]:
    """Write ``metrics.json`` and ``fsc.png`` into ``outdir`` (created), and ``fsc_clusters.png`` when the
    report has an ``unsupervised`` part (:func:`score_clusters`). Returns {name: path}."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    with atomic_path(outdir / "metrics.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1) + "\n")
    paths = {"metrics": outdir / "metrics.json", "fsc": plot_fsc(report, outdir / "fsc.png", f"{title} by label")}
    if "unsupervised" in report:
        paths["fsc_clusters"] = plot_fsc(report["unsupervised"], outdir / "fsc_clusters.png", f"{title} by cluster")
    return paths
