"""Simulation throughput and peak memory.

Prints images/s of ``simulate_mixture`` at D=64 and D=128 (a subset of the structures), then runs the large
case -- by default all 100 models of ``../shared/data/structures`` x 1,000 images at D=64 (100,000 images)
-- and prints its wall time, images/s and peak resident memory. Every case runs in a fresh child process,
so each peak is that case's own: ``ru_maxrss`` counts the pages of the memory-mapped output stack too
(reclaimable file cache), so the peak anonymous memory (sampled every 0.1 s) is printed beside it.
The box is 384 Å (6 Å/px at D=64, 3 Å/px at D=128),
which holds every model of the corpus in any orientation. CTF on, SNR 0.1, shifts of 2 px.

Run from the repository root:
    python benchmarks/bench_simulate.py                       # throughput + the 100k-image case
    python benchmarks/bench_simulate.py --structures 10 --images 100    # smaller large case
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "structures"
WORK = ROOT / "benchmarks" / "work" / "bench-simulate"
BOX_A = 384.0


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.pdb.gz"))


def anonymous_rss_mb() -> float:
    """This process's resident anonymous memory (MB): RSS without the pages of memory-mapped files,
    such as the output stack being written."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_case(n_structures: int, images: int, D: int, out: Path) -> dict:
    """Run one simulation in this process and return its measurements."""
    from napari_cryohype.core.simulate import simulate_mixture

    files = corpus_files()[:n_structures]
    peak_anon, done = [0.0], threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            peak_anon[0] = max(peak_anon[0], anonymous_rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    result = simulate_mixture(out, files, images, D, BOX_A / D, snr=0.1, shift_std=2.0, seed=0, force=True)
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    size = result.particles.stat().st_size
    shutil.rmtree(out)
    return {"D": D, "structures": n_structures, "images": result.n_images, "wall_s": round(wall, 2),
            "images_per_s": round(result.n_images / wall, 1), "stack_MB": round(size / 1e6, 1),
            "peak_rss_MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "peak_anon_MB": round(peak_anon[0], 1)}


def run_child(n_structures: int, images: int, D: int) -> dict:
    cmd = [sys.executable, __file__, "--one", str(n_structures), str(images), str(D)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"case failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--structures", type=int, default=100, help="structures in the large case (default 100)")
    parser.add_argument("--images", type=int, default=1000, help="images per structure, large case (default 1000)")
    parser.add_argument("--box", type=int, default=64, help="box of the large case (default 64)")
    parser.add_argument("--no-throughput", action="store_true", help="only the large case")
    parser.add_argument("--one", nargs=3, type=int, metavar=("S", "M", "D"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        s, m, d = args.one
        print(json.dumps(one_case(s, m, d, WORK / f"case-{s}x{m}-D{d}")))
        return 0
    if not corpus_files():
        print(f"structure corpus not found at {CORPUS} (expected *.pdb.gz); skipping the benchmark")
        return 0
    n = min(args.structures, len(corpus_files()))
    print(f"corpus: {len(corpus_files())} models in {CORPUS}; box {BOX_A:g} Å; CTF on, SNR 0.1, shift std 2 px")
    print("note: the machine may be shared; times are wall-clock")
    cases = [] if args.no_throughput else [(min(n, 20), 100, 64), (min(n, 20), 50, 128)]
    cases.append((n, args.images, args.box))
    for s, m, d in cases:
        r = run_child(s, m, d)
        print(f"D={r['D']:4d}  {r['structures']:4d} structures x {m:5d} images = {r['images']:7d} images: "
              f"{r['wall_s']:8.1f} s, {r['images_per_s']:7.1f} images/s, peak RSS {r['peak_rss_MB']:7.1f} MB "
              f"(anonymous {r['peak_anon_MB']:.0f} MB; the rest is the memory-mapped stack), "
              f"stack {r['stack_MB']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
