"""Scale of a real dataset: train and analyse a 1,000,000-image stack (16.4 GB) and a 10,000-image one.

Measures, for each stack size, every stage in its own child process: its wall time and its peak memory
from /proc (``VmHWM``, and the largest ``RssAnon`` and ``RssFile`` seen; ``benchmarks/harness/proc_peaks.py``).
Flat memory in the stack size is then a comparison of the two sizes, not a claim.

How the stacks are made (this measures memory and time, not reconstruction quality): ``cryohype
simulate``'s forward model (``core.simulate.simulate_mixture``) renders ``--distinct`` noise-free,
CTF-modulated projections of the five structures shipped with the package (random rotations, no shifts,
D=64, 2 Å/px); every image of a stack is one of those projections, drawn at random (seeded), plus fresh
white Gaussian noise (SNR ``--snr``), streamed to ``particles.mrcs`` chunk by chunk with
``MrcStackWriter``; poses.pkl, ctf.pkl and labels.npy are those of the drawn projections.

Stages (each skipped when its record ``OUT/stages/N-STAGE.json`` exists; delete it to redo one):
  make         write the stack, poses.pkl, ctf.pkl, labels.npy
  read         one pass over every image through ``ParticleStack`` (the reader alone)
  read_mmap    the same pass through a memory map of the file (how the reader worked before: for comparison)
  train        ``cryohype train`` (one epoch over all images in random order, so reads land all over the
               file), stopped by SIGINT once its log shows ``--train-steps`` optimiser steps (it writes
               its checkpoint and exits); images = steps x batch
  latents      ``core.latents.compute_latents`` of every image, saved to RUN/analysis/latents.npy
  pca          ``core.analysis.pca`` of the latents (<= 100 components)
  umap         ``core.analysis.umap_embedding`` of the PCA coordinates (its limit on fitted points applies)
  kmeans       ``core.analysis.kmeans`` of the PCA coordinates, k = number of structures
  losses       ``core.latents.latents_and_losses``: every image's loss under the model (what ``cryohype
               analyze`` writes as loss.npy, a decoder pass over each image's whole slice: at D=64 about
               12 times the encoding), last because it is the longest

``--unit-costs`` instead measures, in one process after its imports, the CPU seconds per image of making,
reading (both ways) and encoding (latents, with the 10,000-image run) a few thousand images: the cost of
each stage without the process start, to price the 1,000,000-image run (OUT/unit-costs.json).

Writes OUT/large-stack.json and OUT/large-stack.md after every stage. Example (the record's command):
  python benchmarks/large_stack.py --out benchmarks/results/large-stack --workdir benchmarks/work/large-stack
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "harness"))
import report  # noqa: E402
from proc_peaks import run_with_peaks  # noqa: E402

COLUMNS = """\
Columns: wall and CPU time (user + system) of the stage's process, Python start and imports included; on
a shared CPU the CPU time is the stage's cost, the wall time depends on the other work. Images per CPU
second: images the stage went through (train: optimiser steps x batch) / CPU time. VmHWM = the kernel's
peak resident set of the process (exact); RssAnon and RssFile = the largest values seen (polled every
0.2 s) of the memory the process owns and of the pages of mapped files it holds (page cache the kernel
can drop). Stages are described in
`benchmarks/large_stack.py`; each ran in its own process with one thread, under `nice -n 19 ionice -c3`.
"""
STAGES = ("make", "read", "read_mmap", "train", "latents", "pca", "umap", "kmeans", "losses")
D, APIX = 64, 2.0
CHUNK = 8192  # images generated and written at once (128 MB at D=64)
READ_BATCH = 1024
#: a light hypernetwork (MLP encoder, 9 weight tokens of 32: latents of 288 numbers) so that encoding
#: 1,000,000 images fits in the hours a shared 2-core CPU allows; the memory per image does not depend on it
MODEL_ARGS = ["--preset", "small", "--encoder", "mlp", "--set", "encoder_hidden=256", "--set", "width=32",
              "--set", "tokens_per_layer=2"]


# -- the stacks ------------------------------------------------------------------------------------------
def make_base(folder: Path, distinct: int, seed: int) -> Path:
    """The noise-free projections every image is drawn from (made once, by the package's simulator)."""
    from napari_cryohype.core.simulate import bundled_structures, simulate_mixture

    if not (folder / "simulation.json").is_file():
        structures = bundled_structures()
        simulate_mixture(folder, structures, images_per_structure=distinct // len(structures), D=D, apix=APIX,
                         snr=math.inf, ctf=True, seed=seed, force=True, threads=1)
    return folder


def make_stack(folder: Path, base: Path, n: int, snr: float, seed: int) -> None:
    """Write ``n`` images (base projections + noise) and their poses, CTF and labels into ``folder``."""
    from napari_cryohype.core.io.mrc import MrcStackWriter
    from napari_cryohype.core.io.particles import ParticleStack
    from napari_cryohype.core.io.pkl import load_ctf_pkl, load_poses_pkl, save_ctf_pkl, save_poses_pkl
    from napari_cryohype.core.io.types import Poses

    clean = ParticleStack.from_mrc(base / "particles.mrcs")[:]
    poses, ctf = load_poses_pkl(base / "poses.pkl"), load_ctf_pkl(base / "ctf.pkl")
    labels = np.load(base / "labels.npy")
    noise_std = float(np.sqrt(clean.var(dtype=np.float64) / snr))
    rng = np.random.default_rng(seed + n)
    pick = rng.integers(0, len(clean), n)
    folder.mkdir(parents=True, exist_ok=True)
    with MrcStackWriter(folder / "particles.mrcs", n, D, APIX, overwrite=True) as writer:
        for start in range(0, n, CHUNK):
            rows = pick[start:start + CHUNK]
            images = rng.standard_normal((len(rows), D, D), dtype=np.float32)
            images *= noise_std
            images += clean[rows]
            writer.write(start, images)
    save_poses_pkl(folder / "poses.pkl", Poses(poses.rots[pick], poses.trans[pick]), overwrite=True)
    save_ctf_pkl(folder / "ctf.pkl", ctf[pick], overwrite=True)
    np.save(folder / "labels.npy", labels[pick])
    (folder / "stack.json").write_text(json.dumps({
        "n_images": n, "D": D, "apix": APIX, "distinct_projections": len(clean), "snr": snr,
        "noise_std": noise_std, "seed": seed + n, "bytes": (folder / "particles.mrcs").stat().st_size}, indent=2))


def read_pass(particles: Path, mapped: bool) -> float:
    """Read every image once, in batches, through the reader or a memory map of the file; returns (and
    prints) how much the process's RssFile grew by the end of the pass, in MB."""
    from proc_peaks import read_status

    from napari_cryohype.core.io.particles import ParticleStack

    stack = ParticleStack.from_mrc(particles)
    before = read_status(os.getpid())["RssFile"]
    source = stack.memmap() if mapped else stack
    total = 0.0
    for start in range(0, len(stack), READ_BATCH):
        images = np.asarray(source[start:start + READ_BATCH], dtype=np.float32)
        assert np.isfinite(images).all()
        total += float(images[:, 0, 0].sum())
    grew = read_status(os.getpid())["RssFile"] - before
    print(f"read {len(stack)} images ({particles.stat().st_size / 1e6:.0f} MB; checksum {total:.3f}): "
          f"RssFile grew by {grew:.0f} MB")
    return grew


def unit_costs(args: argparse.Namespace) -> dict[str, float]:
    """CPU seconds per image of make, read, read_mmap and latents, measured after the imports."""
    import torch
    from torch.utils.data import Subset

    from napari_cryohype.core.latents import compute_latents
    from napari_cryohype.core.run import Run

    torch.set_num_threads(args.threads)
    n, n_encoded = 2 * CHUNK, 2048
    folder = args.workdir / "unit-costs"
    base = make_base(args.workdir / "base", args.distinct, args.seed)
    run = Run.open(args.workdir / f"n{min(args.sizes)}" / "run")  # trained by the train stage
    dataset = run.dataset()
    run.dataset = lambda: Subset(dataset, range(n_encoded))  # encode only the first images

    def cpu(task) -> float:
        start = time.process_time()
        task()
        return time.process_time() - start

    costs = {"make": cpu(lambda: make_stack(folder, base, n, args.snr, args.seed)) / n,
             "read": cpu(lambda: read_pass(folder / "particles.mrcs", mapped=False)) / n,
             "read_mmap": cpu(lambda: read_pass(folder / "particles.mrcs", mapped=True)) / n,
             "latents": cpu(lambda: compute_latents(run)) / n_encoded}
    return {"cpu_s_per_image": costs, "images": {"make": n, "read": n, "read_mmap": n, "latents": n_encoded}}


# -- one stage in a child --------------------------------------------------------------------------------
def child(stage: str, args: argparse.Namespace) -> None:
    """Run one stage in this process (called as ``large_stack.py --child STAGE``)."""
    folder = args.workdir / f"n{args.size}"
    analysis = folder / "run" / "analysis"
    if stage == "make":
        make_stack(folder, make_base(args.workdir / "base", args.distinct, args.seed), args.size, args.snr,
                   args.seed)
    elif stage in ("read", "read_mmap"):
        read_pass(folder / "particles.mrcs", mapped=stage == "read_mmap")
    elif stage in ("latents", "losses"):
        import torch

        from napari_cryohype.core.analysis import save_array
        from napari_cryohype.core.latents import compute_latents, latents_and_losses
        from napari_cryohype.core.run import Run

        torch.set_num_threads(args.threads)
        analysis.mkdir(parents=True, exist_ok=True)
        shown = [0.0]

        def progress(fraction: float) -> None:
            if fraction >= shown[0] + 0.05:
                shown[0] = fraction
                print(f"{stage} {fraction:.0%}", flush=True)

        if stage == "latents":
            save_array(analysis / "latents.npy", compute_latents(Run.open(folder / "run"),
                                                                         progress=progress))
        else:
            save_array(analysis / "loss.npy", latents_and_losses(folder / "run", progress=progress)[1])
    else:
        from napari_cryohype.core import analysis as an

        source = analysis / ("latents.npy" if stage == "pca" else "pca.npy")
        x = np.load(source)
        if stage == "pca":
            an.save_array(analysis / "pca.npy", an.pca(x, seed=args.seed))
        elif stage == "umap":
            an.save_array(analysis / "umap.npy", an.umap_embedding(x, seed=args.seed))
        else:
            k = int(np.unique(np.load(folder / "labels.npy")).size)
            an.save_array(analysis / "kmeans.npy", an.kmeans(x, k, seed=args.seed))


# -- running and recording -------------------------------------------------------------------------------
def stage_command(stage: str, args: argparse.Namespace) -> list[str]:
    """The child's command line (under nice 19 and idle I/O priority)."""
    prefix = ["nice", "-n", str(args.nice), "ionice", "-c3"]
    if stage == "train":
        folder = args.workdir / f"n{args.size}"
        return prefix + [sys.executable, "-m", "napari_cryohype.cli", "train", str(folder / "run"),
                         "--particles", str(folder / "particles.mrcs"), "--poses", str(folder / "poses.pkl"),
                         "--ctf", str(folder / "ctf.pkl"), "--uninvert-data", "--epochs", "1",
                         "--batch-size", str(args.batch_size), "--threads", str(args.threads), "--force",
                         *MODEL_ARGS]
    return prefix + [sys.executable, str(Path(__file__).resolve()), "--child", stage, "--size", str(args.size),
                     "--workdir", str(args.workdir), "--out", str(args.out), "--threads", str(args.threads),
                     "--distinct", str(args.distinct), "--snr", str(args.snr), "--seed", str(args.seed)]


def steps_logged(run: Path) -> int:
    """Optimiser steps a training run has logged so far (0 before its first log line)."""
    try:
        lines = (run / "log.jsonl").read_text().splitlines()
        return int(json.loads(lines[-1])["global_step"]) if lines else 0
    except (OSError, ValueError, KeyError):  # not there yet, or a line being written
        return 0


def images_done(stage: str, n: int, folder: Path, batch_size: int) -> int:
    """Images a stage went through: the trained ones for train (steps x batch), else all ``n``."""
    return steps_logged(folder / "run") * batch_size if stage == "train" else n


def machine() -> dict:
    mem_kb = int(next(line for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")).split()[1])
    return {"cpus": os.cpu_count(), "ram_GB": round(mem_kb / 2**20, 1), "platform": platform.platform(),
            "python": platform.python_version()}


def write_report(out: Path, meta: dict) -> None:
    """large-stack.json (every stage record) and large-stack.md (the table) from OUT/stages/*.json."""
    records = [json.loads(p.read_text()) for p in sorted((out / "stages").glob("*.json"))]
    records.sort(key=lambda r: (r["n_images"], STAGES.index(r["stage"])))
    (out / "large-stack.json").write_text(json.dumps({**meta, "stages": records}, indent=2) + "\n")
    rows = ["| images | stack (GB) | stage | wall (s) | CPU (s) | images per CPU s | peak RSS, VmHWM (MB) "
            "| peak RssAnon (MB) | peak RssFile (MB) | load (1 min) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        cpu = r.get("cpu_s")
        rate = f"{r['images'] / cpu:,.0f}" if cpu else "–"
        rows.append(f"| {r['n_images']:,} | {r['stack_GB']:.2f} | {r['stage']} | {r['wall_s']:.0f} | "
                    f"{'–' if cpu is None else f'{cpu:.0f}'} | {rate} | {r['VmHWM_MB']:,.0f} | "
                    f"{r['RssAnon_MB']:,.0f} | {r['RssFile_MB']:,.0f} | {r['load_before']:.1f}–{r['load_after']:.1f} |")
    notes = (out / "notes.md").read_text() if (out / "notes.md").is_file() else ""
    (out / "large-stack.md").write_text(
        "# Large stack: peak memory and time per stage\n\n"
        f"Machine: {meta['machine']['cpus']} cores, {meta['machine']['ram_GB']} GB RAM "
        f"({meta['machine']['platform']}), shared with other work (the load column). Command:\n\n"
        f"```\n{meta['command']}\n```\n\n" + "\n".join(rows) + "\n\n" + COLUMNS + "\n" + notes)


def run_stages(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "stages").mkdir(exist_ok=True)
    logs = args.workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **{k: str(args.threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                            "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")}}
    meta = {"command": "python benchmarks/large_stack.py "
                       + shlex.join(report.portable(sys.argv[1:], sys.executable)), "machine": machine(),
            "D": D, "apix": APIX, "model_args": MODEL_ARGS, "batch_size": args.batch_size,
            "threads": args.threads, "nice": args.nice, "train_steps": args.train_steps}
    for size in args.sizes:
        for stage in args.stages:
            record = args.out / "stages" / f"{size:08d}-{stage}.json"
            if record.is_file():
                continue
            args.size = size
            print(f"[{time.strftime('%H:%M:%S')}] {size:,} images: {stage}", flush=True)
            load_before = os.getloadavg()[0]
            folder = args.workdir / f"n{size}"
            if stage == "train" and (folder / "run" / "log.jsonl").is_file():
                (folder / "run" / "log.jsonl").unlink()  # an earlier attempt's steps must not count
            stop = (lambda: steps_logged(folder / "run") >= args.train_steps) if stage == "train" else None
            peaks = run_with_peaks(stage_command(stage, args), logs / f"{size}-{stage}.log", env=env,
                                   interrupt_when=stop)
            stopped = stage == "train" and peaks.interrupted and peaks.returncode == 130  # cryohype train's "interrupted"
            if peaks.returncode != 0 and not stopped:
                raise SystemExit(f"{stage} failed (exit {peaks.returncode}); see {logs / f'{size}-{stage}.log'}")
            n = images_done(stage, size, folder, args.batch_size)
            result = {"n_images": size, "stage": stage,
                      "stack_GB": (folder / "particles.mrcs").stat().st_size / 1e9,
                      "images_per_s": n / peaks.wall_s, "images": n, **peaks.as_dict(),
                      "load_before": load_before, "load_after": os.getloadavg()[0],
                      "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
            record.write_text(json.dumps(result, indent=2) + "\n")
            print(f"    done in {peaks.wall_s:.0f} s, VmHWM {peaks.VmHWM_MB:.0f} MB (anon {peaks.RssAnon_MB:.0f},"
                  f" file {peaks.RssFile_MB:.0f})", flush=True)
            write_report(args.out, meta)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/large-stack"))
    p.add_argument("--workdir", type=Path, default=Path("benchmarks/work/large-stack"))
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    p.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    p.add_argument("--distinct", type=int, default=2000, help="distinct noise-free projections (default 2000)")
    p.add_argument("--snr", type=float, default=0.1)
    p.add_argument("--train-steps", type=int, default=20,
                   help="optimiser steps before training is stopped by SIGINT (a multiple of its log interval, 10)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=1, help="torch/BLAS/numba threads of each stage")
    p.add_argument("--nice", type=int, default=19)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--unit-costs", action="store_true", help="measure CPU seconds per image (see above)")
    p.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.out, args.workdir = args.out.resolve(), args.workdir.resolve()
    if args.child:
        child(args.child, args)
    elif args.unit_costs:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "unit-costs.json").write_text(json.dumps(unit_costs(args), indent=2) + "\n")
    else:
        run_stages(args)


if __name__ == "__main__":
    main()
