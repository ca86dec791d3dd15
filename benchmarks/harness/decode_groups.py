"""Decode groups of images with a trained CryoHype run and average each group's volumes.

    python benchmarks/harness/decode_groups.py RUN GROUPS.npy OUTDIR [--device cpu]

``GROUPS.npy`` is an (n_groups, K) int array of image indices; group ``g`` becomes ``OUTDIR/GGG.mrc``:
:func:`napari_cryohype.core.decode.decode_selection` with ``rule="mean"`` (each image's own INR decoded, then
the mean of the K maps), with the run's voxel size. The benchmark runs it
as a child process so that its time and memory are measured like every other step.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from napari_cryohype.core.decode import decode_selection
from napari_cryohype.core.io.mrc import write_mrc
from napari_cryohype.core.run import Run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path)
    p.add_argument("groups", type=Path, help="(n_groups, K) .npy of image indices")
    p.add_argument("outdir", type=Path)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    run = Run.open(args.run)
    groups = np.load(args.groups)
    args.outdir.mkdir(parents=True, exist_ok=True)
    for g, indices in enumerate(groups):
        volume = decode_selection(run, np.asarray(indices), device=args.device, rule="mean")
        write_mrc(args.outdir / f"{g:03d}.mrc", volume.astype(np.float32), run.apix)
        print(f"group {g + 1}/{len(groups)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
