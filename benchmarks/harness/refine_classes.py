"""Refine a method's latent clusters by 3D classification with the poses fixed (any method's: ours or a peer's).

    python benchmarks/harness/refine_classes.py DATA SEEDS.npy OUT.npy [--threads N]

``DATA`` is a simulated mixture folder (particles.mrcs, poses.pkl, ctf.pkl); ``SEEDS.npy`` (N,) the
clusters; ``OUT.npy`` gets the refined classes (same ids) and ``OUT.json`` the images that changed class at
each iteration. :func:`napari_cryohype.core.classify.classify` with its defaults; the benchmark runs it as a
child process so that its time and memory are measured like every other step.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from napari_cryohype.core.classify import classify
from napari_cryohype.core.io.dataset import ParticleDataset


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", type=Path)
    p.add_argument("seeds", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    dataset = ParticleDataset(args.data / "particles.mrcs", args.data / "poses.pkl", args.data / "ctf.pkl",
                              invert_data=None)

    def progress(it: int, done: int, total: int) -> None:
        if done == total:
            print(f"iteration {it}: {total} images", flush=True)

    out = classify(dataset, np.load(args.seeds), progress=progress)
    np.save(args.out, out.labels)
    args.out.with_suffix(".json").write_text(json.dumps({"changed": out.changed}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
