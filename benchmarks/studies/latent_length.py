"""What a latent's length says, per method of the scaling benchmark: the correlation, over the structures
of a mixture, between the mean length of their images' latents (PCA coordinates, centred) and the total
density of their true maps; and how much of the length's spread lies between structures.

This is why ``cryohype analyze`` clusters the latents' directions (``core.analysis.kmeans``): when the
length follows the structure's mass, the codes of small structures crowd near the mean.

    python benchmarks/studies/latent_length.py benchmarks/work/scaling-d32 --mixtures mix0100 \\
        --out benchmarks/results/scaling-d32/latent-length.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import report  # noqa: E402
from compare import OURS, latents_path  # noqa: E402

from napari_cryohype.core.analysis import pca  # noqa: E402
from napari_cryohype.core.evaluate import load_truth  # noqa: E402


def length_scores(latents: np.ndarray, labels: np.ndarray, mass: dict[int, float]) -> dict:
    """Correlation of the per-structure mean latent length with the structure's mass; the standard
    deviation of those means (between structures) and the mean of the per-structure standard deviations
    (within); the mean length. Lengths of the centred PCA coordinates."""
    r = np.linalg.norm(pca(latents), axis=1)
    ids = np.unique(labels)
    mean = np.array([r[labels == i].mean() for i in ids])
    within = float(np.mean([r[labels == i].std() for i in ids]))
    return {"corr_length_mass": float(np.corrcoef(mean, [mass[int(i)] for i in ids])[0, 1]),
            "between_structure_std": float(mean.std()), "within_structure_std": within,
            "mean_length": float(r.mean())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("workdir", type=Path, help="the scaling benchmark's work folder")
    p.add_argument("--mixtures", nargs="+", default=["mix0010", "mix0050", "mix0100", "mix0200"])
    p.add_argument("--out", type=Path, required=True, help="JSON record")
    args = p.parse_args(argv)
    record = {"command": "python benchmarks/studies/latent_length.py " + " ".join(report.portable(
        [str(a) for a in (argv if argv is not None else sys.argv[1:])], sys.executable)), "mixtures": {}}
    for name in args.mixtures:
        mix = args.workdir / name
        labels = np.load(mix / "data" / "labels.npy")
        truth, _ = load_truth(mix / "data" / "volumes")
        mass = {label: float(t.volume.sum()) for label, t in truth.items()}
        rows = {}
        for method in (*OURS, "cryodrgn_vae"):
            path = latents_path(mix / method, method)
            if path.is_file():
                rows[method] = length_scores(np.load(path), labels, mass)
                print(name, method, {k: round(v, 3) for k, v in rows[method].items()}, flush=True)
        record["mixtures"][name] = rows
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
