"""Tables and plots of a benchmark: one row per (mixture size, method), the paper's numbers beside ours.

Latent-space scores are computed the same way for every method that has latents: PCA (at most 100
components, :func:`napari_cryohype.core.analysis.pca`), k-means with k = number of structures of the
directions of the PCA coordinates (:func:`napari_cryohype.core.analysis.kmeans`, what ``cryohype analyze``
does) and, beside it, plain k-means of the coordinates; adjusted Rand index against the true labels.
UMAPs of our models are the ones ``cryohype analyze`` wrote; cryoDRGN's are computed here with the same
:func:`napari_cryohype.core.analysis.umap_embedding`.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from napari_cryohype.core.analysis import adjusted_rand_index, kmeans, pca, umap_embedding  # noqa: E402
from napari_cryohype.core.evaluate import load_truth, load_volume_folder  # noqa: E402
from napari_cryohype.core.metrics import fsc_auc, support_mask  # noqa: E402

#: methods whose network size the benchmark sets (``--cryodrgn-dim``, ``--zdim``): their labels name it
PEERS_ARCH = ("cryodrgn_vae", "cryodrgn_dec")

LABELS = {
    "hyper": "CryoHype (hyper, ViT)",
    "concat": "concat baseline (ViT)",
    "mlp": "ablation: hyper, MLP encoder",
    "unet": "ablation: hyper, U-Net encoder",
    "many": "hyper, former many-structure preset (MLP encoder, 32 tokens/layer, half the points)",
    "many_2x": "hyper, former many-structure preset, twice the epochs",
    "many_rot": "hyper, former many-structure preset, encoder reads images at random in-plane angles",
    "many_lift": "hyper, former many-structure preset, lift encoder (reads each image's slice placed in 3D)",
    "many_lift_split": "CryoHype, many-structure preset: lift encoder reading only the points the loss does not use",
    "many_split": "ablation: the many-structure preset with the MLP encoder (the split without the lift)",
    "many_concat": "ablation: the many-structure preset with concat conditioning (z joins the INR input)",
    "many_shrunk": "the many-structure preset shrunk to cryoDRGN 3x256's parameter count (encoder hidden width 64)",
    "many_40ep": "hyper, the many-structure preset, twice the epochs",
    "many_noise1": "the many-structure preset with unit-RMS latents given noise of std 1 in training",
    "many_noise2": "the many-structure preset with unit-RMS latents given noise of std 2 in training",
    "many_ctf": "hyper, the many-structure preset, the lift encoder reading the transform times the CTF and the CTF squared",
    "many_views": "the many-structure preset with the encoder also trained on synthetic views (weight 0.03, from 30% of "
                  "the epochs)",
    "cryodrgn_vae": "cryoDRGN 4.3.1 train_vae",
    "cryodrgn_dec": "cryoDRGN 4.3.1 train_dec (autodecoder)",
    "backproject": "backprojection, true labels (upper bound)",
}

#: arXiv 2512.06332 (theirs): FSC_AUC on Tomotwin-100 (D=128, 4.5 Å/px, ~1,000 images per structure) and
#: on Sim2Struct with 100 structures; their FSC_AUC is the unnormalised area (at most 0.5), ours is divided
#: by 0.5 (at most 1), so theirs x2 is on our scale. cryodrgn_dec stands beside their "DRGN-AI-fixed", the
#: closest relative, not the same method. Transcribed from a third-party summary of the paper (see README).
PAPER = {
    "hyper": {"tomotwin100": (0.346, 0.033), "cd": 2.18, "viou": 0.61, "sim2struct100": 0.409},
    "concat": {"tomotwin100": (0.255, None)},
    "mlp": {"tomotwin100": (0.234, None)},
    "unet": {"tomotwin100": (0.208, None)},
    "cryodrgn_vae": {"tomotwin100": (0.316, 0.046), "cd": 2.26, "viou": 0.63, "sim2struct100": 0.361},
    "cryodrgn_dec": {"tomotwin100": (0.202, 0.044), "cd": 32.60, "viou": 0.13, "name": "DRGN-AI-fixed"},
    "backproject": {"tomotwin100": (0.364, 0.023), "cd": 1.50, "viou": 0.71},
}


def per_structure(metrics: dict) -> list[dict]:
    """The per-structure entries of a ``cryohype eval`` metrics.json."""
    return metrics["structures"]


def latent_clusters(latents_path: Path, n: int, seed: int, directions: bool = True,
                    x: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(k-means labels (N,) with k = n, PCA coordinates (N, d)) of the latents (N, z): the product's rule,
    k-means of the directions (:func:`napari_cryohype.core.analysis.kmeans`), or plain k-means of the PCA
    coordinates with ``directions=False``; ``x``: those coordinates when already computed. The labels are
    saved beside the latents on first use, so the decoded clusters and the ARI come from one clustering."""
    x = pca(np.load(latents_path)) if x is None else x
    rule = "kmeans_directions" if directions else "kmeans"
    cache = Path(latents_path).with_name(f"{rule}_k{n}_seed{seed}.npy")
    if cache.is_file() and cache.stat().st_mtime >= Path(latents_path).stat().st_mtime:
        return np.load(cache), x
    clusters = kmeans(x, n, seed=seed, directions=directions)
    np.save(cache, clusters)
    return clusters, x


def latent_scores(latents_path: Path | None, labels: np.ndarray, n: int, seed: int) -> dict:
    """ARI against the labels of k-means of the latents' directions (``ari``, the product's rule) and of
    plain k-means of their PCA coordinates (``ari_plain``), and the PCA coordinates (``pca``); all None
    without latents."""
    if latents_path is None or not Path(latents_path).is_file():
        return {"ari": None, "ari_plain": None, "pca": None}
    clusters, x = latent_clusters(latents_path, n, seed)
    plain, _ = latent_clusters(latents_path, n, seed, directions=False, x=x)
    return {"ari": adjusted_rand_index(clusters, labels), "ari_plain": adjusted_rand_index(plain, labels), "pca": x}


def _seconds(hms: str) -> float:
    h, m, sec = hms.split(":")
    return int(h) * 3600 + int(m) * 60 + float(sec)


def loop_images_per_s(method: str, run_dir: Path | None, n_images: int) -> float | None:
    """Training-loop throughput without process start and data loading: cryoDRGN's per-epoch times from
    its run.log, or images x epochs / the trainer's elapsed time in its final log.jsonl event (every leg of a
    resumed run: the checkpoint carries the elapsed time). None when not found."""
    if run_dir is None:
        return None
    if method.startswith("cryodrgn"):
        log = Path(run_dir) / "run.log"
        if not log.is_file():
            return None
        times = re.findall(r"=====> Epoch: \d+ .*Finished in (\d+:\d+:[\d.]+)", log.read_text())
        return n_images * len(times) / sum(map(_seconds, times)) if times else None
    log = Path(run_dir) / "log.jsonl"
    if not log.is_file():
        return None
    events = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    done = [e for e in events if e.get("kind") == "done" and e.get("elapsed_s")]
    return n_images * done[-1]["epoch"] / done[-1]["elapsed_s"] if done else None


def wrong_map_auc(volumes_dir: Path, truth_dir: Path, others: int = 5, seed: int = 0) -> float:
    """Mean FSC_AUC of each structure's map against up to ``others`` *other* structures' true maps (seeded
    choice). A method that reconstructs each structure scores clearly less here than against its own map;
    one that returns the same average blob for every structure scores about the same."""
    truth, _ = load_truth(truth_dir)
    volumes = load_volume_folder(volumes_dir)
    rng = np.random.default_rng(seed)
    scores = []
    for label, vol in volumes.items():
        pool = [t for t in truth if t != label]
        for other in rng.choice(pool, size=min(others, len(pool)), replace=False):
            scores.append(fsc_auc(truth[int(other)].volume, vol))
    return float(np.mean(scores))


def masked_auc(volumes_dir: Path, truth_dir: Path) -> float:
    """Mean FSC_AUC of each structure's map against its true map under the true map's support mask
    (:func:`napari_cryohype.core.metrics.support_mask`): the molecule compared, not the solvent. An
    unregularised backprojection keeps its noise in the solvent, which the unmasked score counts."""
    truth, _ = load_truth(truth_dir)
    volumes = load_volume_folder(volumes_dir)
    return float(np.mean([fsc_auc(truth[label].volume, vol, support_mask(truth[label].volume))
                          for label, vol in volumes.items()]))


def trained_epochs(run_dir: Path | None) -> int | None:
    """The epochs a run of ours was configured to train (its ``config.json``); None for other runs."""
    config = Path(run_dir) / "config.json" if run_dir is not None else None
    if config is None or not config.is_file():
        return None
    return json.loads(config.read_text()).get("train", {}).get("epochs")


def parameter_count(method: str, run_dir: Path | None) -> int | None:
    """Trainable parameters of a trained method: our run's model (built from its config.json), cryoDRGN's
    ``weights.pkl`` (every tensor of its model state is a weight or a bias); None for backprojection or a run
    that is not there."""
    if run_dir is None or method == "backproject" or not Path(run_dir).is_dir():
        return None
    if method.startswith("cryodrgn"):
        weights = Path(run_dir) / "weights.pkl"
        if not weights.is_file():
            return None
        import torch
        state = torch.load(weights, map_location="cpu", weights_only=False)["model_state_dict"]
        return int(sum(v.numel() for v in state.values() if v.is_floating_point()))
    from napari_cryohype.core.run import Run
    model = Run.open(run_dir).build_model()
    return int(sum(p.numel() for p in model.parameters()))


def method_row(n: int, method: str, res: dict, metrics: dict | None, mix: dict, args) -> dict:
    """One table row: scores, latent-space ARI, training cost; writes cryoDRGN's UMAP next to its latents.
    ``metrics`` None (a cost-only run): the cost alone."""
    labels = mix["labels"]
    train = res["train"]
    trained = method != "backproject"
    n_images = int(labels.size)
    epochs = trained_epochs(res.get("run_dir")) or args.epochs
    row = {
        "size": n, "n_structures": int(np.unique(labels).size), "method": method,
        "label": LABELS[method] + (f" ({3}x{args.cryodrgn_dim}, zdim {args.zdim})" if method in PEERS_ARCH else ""),
        "box": args.box, "device": args.device, "n_images": n_images,
        "epochs": epochs if trained else None,
        "wall_s": train["wall_s"], "peak_rss_mb": train["peak_rss_mb"],
        "images_per_s": n_images * epochs / train["wall_s"] if trained else n_images / train["wall_s"],
        "loop_images_per_s": loop_images_per_s(method, res.get("run_dir"), n_images),
        "parameters": parameter_count(method, res.get("run_dir")),
    }
    if metrics is None:
        return row
    structs = per_structure(metrics)
    auc = np.array([s["fsc_auc"] for s in structs])
    cd = np.array([s["chamfer_A"] for s in structs])
    iou = np.array([s["iou"] for s in structs])
    latent = latent_scores(res["latents"], labels, int(np.unique(labels).size), args.seed)
    x = latent["pca"]
    umap_path = res["umap"]   # None or missing for a method with latents but no UMAP yet: computed here
    if x is not None and method in args.umap_methods and (umap_path is None or not Path(umap_path).is_file()):
        umap_path = Path(res["latents"]).with_name("umap.npy")
        if not umap_path.is_file():
            np.save(umap_path, umap_embedding(x, seed=args.seed))
    return {
        **row,
        "fsc_auc_mean": float(auc.mean()), "fsc_auc_std": float(auc.std()),
        "chamfer_A_mean": float(cd.mean()), "viou_mean": float(iou.mean()),
        "ari": latent["ari"], "ari_plain": latent["ari_plain"],
        "fsc_auc_wrong_map": wrong_map_auc(res["volumes"], mix["data"] / "volumes", seed=args.seed),
        "fsc_auc_masked": masked_auc(res["volumes"], mix["data"] / "volumes"),
        **cluster_scores(res.get("clusters")),
        **cluster_scores(res.get("refined"), "classes_"),
        **({"classes_ari": adjusted_rand_index(np.load(res["classes"]), labels)} if res.get("classes") else {}),
        "missing_structures": metrics["missing"],
        "fsc_freq_per_px": metrics["fsc"]["freq_per_px"],
        "fsc_curves": list(metrics["fsc"]["curves"].values()),
        "umap": str(umap_path) if umap_path else None,
        "labels_path": str(mix["data"] / "labels.npy"),
    }


def cluster_scores(clusters: dict | None, prefix: str = "") -> dict:
    """Row entries of the latent clusters' maps paired with the structures (``compare.score_clusters``):
    FSC_AUC mean and std, Chamfer, vIoU, how many structures no cluster was paired with, and how many
    structures were found (the cluster paired with each is closest to its true map; records before it: absent).
    ``prefix`` "classes_": the same of the refined classes' maps, each key prefixed."""
    if not clusters:
        return {}
    s = clusters["summary"]
    out = {"clusters_fsc_auc_mean": s["fsc_auc"]["mean"], "clusters_fsc_auc_std": s["fsc_auc"]["std"],
           "clusters_chamfer_A_mean": s["chamfer_A"]["mean"], "clusters_viou_mean": s["iou"]["mean"],
           "clusters_unpaired": len(clusters["missing"]),
           **({"structures_found": clusters["structures_found"]} if "structures_found" in clusters else {})}
    if not prefix:
        return out
    return {(k.replace("clusters_", prefix, 1) if k.startswith("clusters_") else prefix + k): v for k, v in out.items()}


def collect_steps(work: Path) -> dict:
    """Every step record under ``work`` (``mixNNNN/METHOD/steps/STEP.json``), keyed by its relative path."""
    out = {}
    for rec in sorted(Path(work).rglob("steps/*.json")):
        out[str(rec.relative_to(work))] = json.loads(rec.read_text())
    return out


def loop_seconds(row: dict) -> float:
    """Seconds of a row's training loop, every leg of a resumed run: images x epochs / loop images/s (the
    wall time of the last training process where the loop's speed is unknown, and for backprojection)."""
    loop = row.get("loop_images_per_s")
    return row["n_images"] * row["epochs"] / loop if loop and row.get("epochs") else row["wall_s"]


def _fmt(x, spec=".3f") -> str:
    return "–" if x is None else format(x, spec)


def _paper_cell(method: str) -> str:
    p = PAPER.get(method)
    if not p:
        return "–"
    mean, std = p["tomotwin100"]
    cell = f"{mean:.3f}" + (f" ± {std:.3f}" if std is not None else "") + f" (×2 = {2 * mean:.2f})"
    if "name" in p:
        cell += f" [{p['name']}]"
    return cell


def table(rows: list[dict], size: int) -> str:
    """Markdown table of one mixture size."""
    head = ("| method | FSC_AUC mean ± std | FSC_AUC vs a wrong map | FSC_AUC, latent clusters | Chamfer (Å) | vIoU "
            "| ARI (k-means of directions / plain) | epochs | training loop (s) | images/s (loop) "
            "| peak memory (MB) "
            "| theirs: Tomotwin-100 FSC_AUC |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    body = ""
    for r in (r for r in rows if r["size"] == size):
        scored = "fsc_auc_mean" in r
        auc = f"{r['fsc_auc_mean']:.3f} ± {r['fsc_auc_std']:.3f}" if scored else "– (cost only)"
        body += (f"| {r['label']} | {auc} | {_fmt(r.get('fsc_auc_wrong_map'))} | "
                 f"{_fmt(r.get('clusters_fsc_auc_mean'))} | "
                 f"{_fmt(r.get('chamfer_A_mean'), '.2f')} | "
                 f"{_fmt(r.get('viou_mean'))} | {_fmt(r.get('ari'))} / {_fmt(r.get('ari_plain'))} | "
                 f"{_fmt(r['epochs'], 'd')} | {loop_seconds(r):.0f} | "
                 f"{_fmt(r.get('loop_images_per_s'), '.1f')} | "
                 f"{r['peak_rss_mb']:.0f} | {_paper_cell(r['method'])} |\n")
    return head + body


def paper_table() -> str:
    """The paper's own numbers, labelled as theirs."""
    lines = ["| method (theirs) | Tomotwin-100 FSC_AUC | Chamfer (Å) | vIoU | Sim2Struct-100 FSC_AUC |",
             "|---|---|---|---|---|"]
    for m, p in PAPER.items():
        mean, std = p["tomotwin100"]
        name = p.get("name", LABELS[m].replace("cryoDRGN 4.3.1 train_vae", "cryoDRGN"))
        lines.append(f"| {name} | {mean:.3f}" + (f" ({std:.3f})" if std is not None else "")
                     + f" | {_fmt(p.get('cd'), '.2f')} | {_fmt(p.get('viou'), '.2f')} | "
                     f"{_fmt(p.get('sim2struct100'))} |")
    return "\n".join(lines) + "\n"


def plot_fsc(rows: list[dict], size: int, path: Path) -> None:
    """Mean FSC curve (over structures) of every method at one mixture size."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in (r for r in rows if r["size"] == size and "fsc_curves" in r):
        freq, curve = np.asarray(r["fsc_freq_per_px"]), np.mean(r["fsc_curves"], axis=0)
        ax.plot(freq, curve, label=r["label"], lw=1.5, ls="--" if r["method"] == "backproject" else "-")
    ax.axhline(0.5, color="grey", lw=0.5)
    ax.set(xlabel="spatial frequency (1/px)", ylabel="FSC vs true map (mean over structures)",
           title=f"{size} structures", ylim=(-0.1, 1.02))
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


#: the repository root: recorded paths are relative to it (``portable``)
REPO = Path(__file__).resolve().parents[2]


def portable(data, executable: str):
    """``data`` (JSON-like) with this machine's paths made relative to the repository — ``REPO/x`` → ``x``,
    ``REPO/../x`` → ``../x`` — and the interpreter ``executable`` → ``python``: records read the same on
    any clone. Read such a path back with ``REPO / path`` (absolute ones pass unchanged)."""
    if isinstance(data, dict):
        return {k: portable(v, executable) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [portable(v, executable) for v in data]
    if isinstance(data, Path):
        data = str(data)
    if not isinstance(data, str):
        return data
    if data == executable:
        return "python"
    for root, prefix in ((REPO, ""), (REPO.parent, "../")):
        if data.startswith(f"{root}/"):
            return prefix + data[len(str(root)) + 1:]
    return data


def plot_umaps(rows: list[dict], size: int, path: Path) -> bool:
    """UMAPs coloured by the true label, one panel per method that has one, at one mixture size; False
    (nothing written) when no method has a UMAP. When a UMAP's file is gone (a fresh ``--workdir``), the
    figure already at ``path`` is kept (True) or none is made (False)."""
    have = [r for r in rows if r["size"] == size and r.get("umap")]
    if not have:
        return False
    if not all((REPO / r["umap"]).is_file() and (REPO / r["labels_path"]).is_file() for r in have):
        return path.is_file()
    fig, axes = plt.subplots(1, len(have), figsize=(4 * len(have), 4), squeeze=False)
    for ax, r in zip(axes[0], have):
        xy, lab = np.load(REPO / r["umap"]), np.load(REPO / r["labels_path"])
        ax.scatter(xy[:, 0], xy[:, 1], c=lab, cmap="tab20" if size <= 20 else "nipy_spectral",
                   s=float(np.clip(3000 / len(xy), 1, 12)), linewidths=0)
        ax.set(title=f"{textwrap.fill(r['label'], 48)}\nARI {_fmt(r['ari'], '.2f')}", xticks=[], yticks=[])
        ax.title.set_fontsize(8)
    fig.suptitle(f"UMAP of latents, {size} structures, coloured by true structure", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_ari(rows: list[dict], path: Path) -> None:
    """ARI of k-means of the latents' directions vs the true labels, per method and mixture size."""
    methods = [m for m in LABELS if any(r["method"] == m and r.get("ari") is not None for r in rows)]
    sizes = sorted({r["size"] for r in rows})
    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.8 / max(1, len(methods))
    for i, m in enumerate(methods):
        vals = [next((r.get("ari") for r in rows if r["method"] == m and r["size"] == s), None) for s in sizes]
        ax.bar(np.arange(len(sizes)) + i * width, [v or 0 for v in vals], width, label=LABELS[m])
    ax.set_xticks(np.arange(len(sizes)) + width * (len(methods) - 1) / 2, [str(s) for s in sizes])
    ax.set(xlabel="structures in the mixture", ylabel="adjusted Rand index", ylim=(0, 1.05))
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(out: Path, rows: list[dict], runs: dict) -> None:
    """``out/results.md`` with every table and plot, and the plots under ``out/plots``."""
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    s = runs["settings"]
    sizes = sorted({r["size"] for r in rows})
    m = runs["machine"]
    epochs = sorted({r["epochs"] for r in rows if r.get("epochs")})
    trained = (f"Every trained method ran {epochs[0]} epochs" if len(epochs) == 1 else
               "The trained methods ran the epochs in each table's column")
    text = [f"# Benchmark `{out.name}`\n",
            f"Simulated with `cryohype simulate`: D={s['box']}, {s['apix']} Å/px, SNR {s['snr']}, CTF on, "
            f"known poses, {s['images_per_structure']} images per structure, seed {s['seed']}. {trained} "
            f"on the same files; {s['per_structure']} images per structure "
            "(the same indices for every method) were decoded and averaged, and every volume was scored by "
            "the same `cryohype eval` (FSC_AUC normalised to 1 for identical maps).\n",
            f"Machine: {m['cpu']}, {m['cpu_count']} cores, {m['memory_gb']} GB, GPU {m['cuda_gpu']}; "
            f"torch {m['torch']}; {runs.get('cryodrgn') or ''}; commit {m['git_commit']}. Device "
            f"`{s['device']}`. Training loop: images x epochs / the loop's images/s, every leg of a resumed training "
            "included (process start and data loading not; backprojection, or a run whose loop speed is unknown: "
            "the wall time of its last process); images/s (loop): cryoDRGN's epoch times, our trainer's elapsed "
            "time. Each step's wall time is in `runs.json`. Peak memory: resident set of the process tree.\n"]
    scored = any("fsc_auc_mean" in r for r in rows)
    for size in sizes:
        text += [f"## {size} structures\n", table(rows, size)]
        if scored:
            plot_fsc(rows, size, plots / f"fsc_{size}.png")
            umap = f" ![UMAP](plots/umap_{size}.png)" if plot_umaps(rows, size, plots / f"umap_{size}.png") else ""
            text.append(f"\n![FSC](plots/fsc_{size}.png){umap}\n")
    if scored:
        plot_ari(rows, plots / "ari.png")
        text += ["## Latent clustering\n", "![ARI](plots/ari.png)\n"]
    text += [
             "## The paper's numbers (theirs, arXiv 2512.06332; not our runs)\n",
             "Their FSC_AUC is the unnormalised area (at most 0.5); multiply by 2 for our scale. Their data: "
             "Tomotwin-100 at D=128, 4.5 Å/px, about 1,000 images per structure, 50 epochs on GPUs.\n",
             paper_table()]
    (out / "results.md").write_text("\n".join(text))


def rewrite_report(out: Path) -> None:
    """``out/results.md`` and its plots again from ``out/results.json`` and ``out/runs.json`` (nothing runs)."""
    if (out / "results.json").is_file() and (out / "runs.json").is_file():
        write_report(out, json.loads((out / "results.json").read_text())["rows"],
                     json.loads((out / "runs.json").read_text()))
