"""Cross-check the simulator's conventions against cryoDRGN.

Simulates one structure (CTF on, shifted particles, no noise by default), reconstructs it with
``cryodrgn backproject_voxel ... --uninvert-data`` from the cryoDRGN venv made by
``benchmarks/harness/peers/setup_cryodrgn.sh``, and prints the correlation and FSC between cryoDRGN's map and our
ground-truth map. If images, poses, shifts, CTF or contrast disagreed with cryoDRGN, the correlation
would be low; the correlations with mirrored, transposed and negated maps are printed to diagnose it.

Run from the repository root:  python benchmarks/studies/check_cryodrgn_backproject.py [--images 3000 --box 64]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from napari_cryohype.core.io.mrc import read_volume
from napari_cryohype.core.metrics import fsc, resolution_at
from napari_cryohype.core.simulate import bundled_structures, simulate_mixture

ROOT = Path(__file__).resolve().parents[2]
CRYODRGN = ROOT / "benchmarks" / "work" / "cryodrgn-venv" / "bin" / "cryodrgn"


def corr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return float(np.corrcoef(a[mask], b[mask])[0, 1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--structure", default="2W9E", help="name of a bundled model (default 2W9E, elongated)")
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--box", type=int, default=64)
    parser.add_argument("--apix", type=float, default=3.0)
    parser.add_argument("--shift-std", type=float, default=3.0, help="pixels (default 3)")
    parser.add_argument("--snr", type=float, default=float("inf"))
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "work" / "cryodrgn-check")
    args = parser.parse_args()
    if not CRYODRGN.exists():
        print(f"cryoDRGN not installed at {CRYODRGN}: run `bash benchmarks/harness/peers/setup_cryodrgn.sh` first; skipping")
        return 0

    model = [p for p in bundled_structures() if p.name.startswith(args.structure)]
    if not model:
        print(f"no bundled model named {args.structure}", file=sys.stderr)
        return 2
    sim = args.workdir / "sim"
    t0 = time.time()
    result = simulate_mixture(sim, model, args.images, args.box, args.apix, snr=args.snr,
                              shift_std=args.shift_std, seed=0, force=True)
    print(f"simulated {result.n_images} images of {result.names[0]} at D={args.box}, {args.apix} Å/px, CTF on, "
          f"shift std {args.shift_std} px, SNR {args.snr} in {time.time() - t0:.1f} s")

    out = args.workdir / "backproject"
    cmd = [str(CRYODRGN), "backproject_voxel", str(result.particles), "--poses", str(result.poses),
           "--ctf", str(result.ctf), "--uninvert-data", "-o", str(out)]
    print("$", " ".join(cmd))
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
        return 1
    print(f"cryodrgn backproject_voxel took {time.time() - t0:.1f} s")

    theirs, apix = read_volume(out / "backproject.mrc")
    ours, _ = read_volume(result.volumes[0])
    D = args.box
    r = np.arange(D) - D // 2
    z, y, x = np.meshgrid(r, r, r, indexing="ij")
    sphere = x**2 + y**2 + z**2 <= (D // 2 - 1) ** 2
    molecule = ours > 0.02 * ours.max()
    print(f"maps: ours {ours.shape} {read_volume(result.volumes[0])[1]} Å/px, cryoDRGN {theirs.shape} {apix} Å/px")
    print(f"correlation inside the sphere of radius D/2-1: {corr(ours, theirs, sphere):.4f}")
    print(f"correlation inside the molecule (ground truth > 2% of max): {corr(ours, theirs, molecule):.4f}")
    freq, curve = fsc(ours, theirs)
    print(f"FSC(ours, cryoDRGN): 0.5 at {resolution_at(freq, curve, apix, 0.5):.2f} Å, "
          f"0.143 at {resolution_at(freq, curve, apix, 0.143):.2f} Å (Nyquist {2 * apix:.2f} Å)")
    print("FSC by shell:", " ".join(f"{f:.3f}:{c:.3f}" for f, c in list(zip(freq, curve))[1::max(1, D // 16)]))
    print("diagnosis (correlation inside the sphere with a transformed cryoDRGN map):")
    for name, v in [("negated", -theirs), ("flip z", theirs[::-1]), ("flip y", theirs[:, ::-1]),
                    ("flip x", theirs[:, :, ::-1]), ("swap x,y", theirs.transpose(0, 2, 1)),
                    ("swap x,z", theirs.transpose(2, 1, 0)), ("flip all (inversion)", theirs[::-1, ::-1, ::-1])]:
        print(f"  {name:22s} {corr(ours, np.ascontiguousarray(v), sphere):+.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
