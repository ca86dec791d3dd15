"""How well can one image tell the structures of a mixture apart? The ceiling for any encoder.

For a sample of a simulated mixture's images, every structure's noise-free image at that image's pose,
shift and CTF is rendered exactly as the simulator rendered the stack (from the atoms), and the image is
given to the structure whose rendering is nearest in squared error: the maximum-likelihood classifier for
white Gaussian noise, knowing the true maps, poses and CTF. Its accuracy bounds what an image encoder that
sees one image can reach. Beside it, on the same images:

- the accuracy of a 10-nearest-neighbour vote in each trained method's latent space (PCA coordinates for
  ours, z for cryoDRGN): how much of the ceiling the latents reach;
- the same nearest-rendering rule with each method's own latent-cluster maps (``volumes_clusters/``, paired
  with the structures by FSC_AUC as for the label-free score) in place of the true maps, rendered by
  central slices of their transforms: what reassigning images to the clusters' maps, as a 3D
  classification does, would reach from what the method learned.

    python benchmarks/studies/oracle_classes.py benchmarks/work/scaling-d32 --out benchmarks/results/scaling-d32

Writes ``oracle.json`` and ``oracle.md`` in ``--out``; each mixture's result is kept and skipped on a rerun.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import report  # noqa: E402
from compare import OURS, write_json  # noqa: E402
from napari_cryohype.core.atoms import read_atoms  # noqa: E402
from napari_cryohype.core.ctf import ctf_from_table  # noqa: E402
from napari_cryohype.core.evaluate import load_truth, load_volume_folder, match_to_truth  # noqa: E402
from napari_cryohype.core.fourier import ht2_center, htn_center, symmetrize_ht  # noqa: E402
from napari_cryohype.core.io.particles import ParticleStack  # noqa: E402
from napari_cryohype.core.lattice import circular_mask, sample_volume, slice_coords, translate_ht  # noqa: E402
from napari_cryohype.core.simulate import apply_ctf, project_atoms  # noqa: E402

#: latents of each method, relative to the mixture folder: every method of ours, then cryoDRGN's
LATENTS = {**{m: f"{m}/run/analysis/pca.npy" for m in OURS}, "cryodrgn_vae": "cryodrgn_vae/latents.npy"}


def ml_classes(mix: Path, idx: np.ndarray) -> np.ndarray:
    """Maximum-likelihood structure of images ``idx`` (M,) of a simulated mixture folder: (M,) labels."""
    sim = json.loads((mix / "data" / "simulation.json").read_text())
    D, apix, res = sim["D"], sim["apix"], sim["resolution_A"]
    rots, trans = pickle.load(open(mix / "data" / "poses.pkl", "rb"))
    ctf = pickle.load(open(mix / "data" / "ctf.pkl", "rb"))
    images = ParticleStack.from_mrc(mix / "data" / "particles.mrcs")[idx]
    offsets = -np.asarray(trans, dtype=np.float64)[idx] * D
    resid = np.empty((len(idx), len(sim["structures"])))
    for s in sim["structures"]:
        clean = project_atoms(read_atoms(s["source"]), rots[idx], offsets, D, apix, res)
        clean = apply_ctf(clean, ctf[idx])
        resid[:, s["label"]] = ((images - clean) ** 2).sum(axis=(1, 2))
    return resid.argmin(axis=1)


def nearest_map(mix: Path, idx: np.ndarray, volumes: dict[int, np.ndarray]) -> np.ndarray:
    """Key of the map whose CTF-modulated central slice at each image's pose is nearest to the image's
    centred transform (inside the Fourier disk): images ``idx`` (M,) of a mixture, volumes {key: (D, D, D)}
    -> (M,) keys. Slices come from the transform of the map zero-padded twice (accurate trilinear
    interpolation)."""
    D = json.loads((mix / "data" / "simulation.json").read_text())["D"]
    rots, trans = (torch.as_tensor(np.asarray(a)[idx], dtype=torch.float64)
                   for a in pickle.load(open(mix / "data" / "poses.pkl", "rb")))
    ctf_table = torch.as_tensor(pickle.load(open(mix / "data" / "ctf.pkl", "rb"))[idx])
    images = torch.as_tensor(ParticleStack.from_mrc(mix / "data" / "particles.mrcs")[idx], dtype=torch.float64)
    coords = slice_coords(D).double()
    band = circular_mask(D)
    target = translate_ht(symmetrize_ht(ht2_center(images)).flatten(1), coords[:, :2], trans * D)[:, band]
    ctf = ctf_from_table(ctf_table, coords[band][:, :2].float()).double()
    freqs = (coords[band] @ rots)
    keys = sorted(volumes)
    resid = torch.empty(len(idx), len(keys), dtype=torch.float64)
    for j, key in enumerate(keys):
        padded = torch.nn.functional.pad(torch.as_tensor(volumes[key], dtype=torch.float64), (D // 2,) * 6)
        slices = sample_volume(htn_center(padded), freqs)
        resid[:, j] = ((target - ctf * slices) ** 2).sum(1)
    return np.asarray(keys)[resid.argmin(1).numpy()]


def knn_vote(x: np.ndarray, labels: np.ndarray, idx: np.ndarray, k: int = 10) -> np.ndarray:
    """Majority label of the ``k`` nearest other points of each ``x[idx]`` (x (N, d), standardised)."""
    x = (x - x.mean(0)) / x.std(0).mean()
    sq = (x ** 2).sum(1)
    d = sq[idx, None] + sq[None] - 2 * x[idx] @ x.T
    d[np.arange(len(idx)), idx] = np.inf
    near = np.argpartition(d, k, axis=1)[:, :k]
    return np.array([np.bincount(labels[row]).argmax() for row in near])


def mixture_record(mix: Path, sample: int, seed: int) -> dict:
    """Oracle and latent-vote accuracies on ``sample`` seeded images of one mixture folder."""
    labels = np.load(mix / "data" / "labels.npy")
    idx = np.sort(np.random.default_rng(seed).choice(labels.size, min(sample, labels.size), replace=False))
    truth, _ = load_truth(mix / "data" / "volumes")
    true_maps = {label: t.volume for label, t in truth.items()}
    rec = {"n_structures": int(labels.max() + 1), "n_images": int(labels.size), "sample": int(idx.size),
           "oracle_accuracy": float((ml_classes(mix, idx) == labels[idx]).mean()),
           "true_map_accuracy": float((nearest_map(mix, idx, true_maps) == labels[idx]).mean()),
           "latent_knn_accuracy": {}, "cluster_map_accuracy": {}}
    for method, rel in LATENTS.items():
        path = mix / rel
        if path.is_file():
            x = np.load(path).astype(np.float32)
            rec["latent_knn_accuracy"][method] = float((knn_vote(x, labels, idx) == labels[idx]).mean())
        folder = mix / method / "volumes_clusters"
        if folder.is_dir():
            maps = load_volume_folder(folder)
            pairs = match_to_truth(maps, truth)
            named = np.array([pairs.get(int(k), -1) for k in nearest_map(mix, idx, maps)])
            rec["cluster_map_accuracy"][method] = float((named == labels[idx]).mean())
    return rec


def write_table(records: dict, out: Path) -> None:
    methods = sorted({m for r in records.values() for m in r["latent_knn_accuracy"]}, key=list(LATENTS).index)
    columns = [(kind, m) for m in methods for kind in ("latent_knn_accuracy", "cluster_map_accuracy")]
    title = {"latent_knn_accuracy": "latent vote", "cluster_map_accuracy": "nearest cluster map"}
    lines = ["# One image, which structure? (`python benchmarks/studies/oracle_classes.py`)\n",
             "Share of single images given their own structure, on one seeded sample per mixture: the "
             "maximum-likelihood rule knowing the true atoms, poses and CTF (oracle: the ceiling for any "
             "encoder that reads one image); the same rule with the true maps rendered by central slices; a "
             "10-nearest-neighbour vote in each method's latent space; the nearest of each method's own "
             "latent-cluster maps (paired with the structures by FSC_AUC).\n",
             "| N | images scored | oracle (atoms) | true maps | "
             + " | ".join(f"{title[k]}: {m}" for k, m in columns) + " |",
             "|---|---|---|---|" + "---|" * len(columns)]
    for name in sorted(records):
        r = records[name]
        cells = [f"{r[k][m]:.3f}" if m in r.get(k, {}) else "–" for k, m in columns]
        true_maps = f"{r['true_map_accuracy']:.3f}" if "true_map_accuracy" in r else "–"
        lines.append(f"| {r['n_structures']} | {r['sample']} | {r['oracle_accuracy']:.3f} | {true_maps} | "
                     + " | ".join(cells) + " |")
    (out / "oracle.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("workdir", type=Path, help="a scaling work folder holding mixNNNN/ mixtures")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--sample", type=int, default=500, help="images scored per mixture")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--refresh", action="store_true", help="score mixtures again (e.g. new latents)")
    p.add_argument("--mixtures", nargs="+", help="only these mixture folders (e.g. mix0100); default all")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    path = a.out / "oracle.json"
    records = json.loads(path.read_text())["mixtures"] if path.is_file() else {}
    for mix in sorted(a.workdir.glob("mix*")):
        if a.mixtures and mix.name not in a.mixtures:
            continue
        if (mix / "data" / "simulation.json").is_file() and (a.refresh or mix.name not in records):
            records[mix.name] = mixture_record(mix, a.sample, a.seed)
            print(mix.name, records[mix.name], flush=True)
            command = ["python", "benchmarks/studies/oracle_classes.py", *sys.argv[1:]]
            write_json(path, {"command": report.portable(command, sys.executable), "mixtures": records})
            write_table(records, a.out)


if __name__ == "__main__":
    main()
