"""Training speed by number of torch threads, on an idle machine and beside one busy process.

Trains on the Train widget's sample mixture (5 structures x 40 images, 32 px: ``_sample_data.sample_dataset``)
with ``cryohype train --threads T`` for each threads setting — torch's default (``0``), ``auto`` (the
default, :mod:`napari_cryohype.core.threads`) and 1 and 2 threads where those differ — under two loads:
``idle`` (nothing started beside it) and ``busy`` (``--busy`` single-threaded busy loops started by this
script, each keeping one core busy, as a second training or the napari window would). Rounds alternate the
order of the loads and of the settings. Each run is a fresh process; its images/s is the training loop's
(images x epochs / the trainer's elapsed time, reading the batches included; not the process start).

    python benchmarks/studies/threads.py                                   # the record: benchmarks/results/threads/
    python benchmarks/studies/threads.py --epochs 1 --repeats 1 --out /tmp/threads   # a quick look

Run it on an otherwise idle machine: the load average before every run is recorded beside its speed.
Writes ``threads.json`` (every run, the machine) and ``threads.md`` (medians) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))

import report  # noqa: E402
from compare import cryohype, write_json  # noqa: E402
from measure import machine_info, run_measured  # noqa: E402

from napari_cryohype._sample_data import sample_dataset  # noqa: E402
from napari_cryohype.core.threads import AUTO, TORCH_DEFAULT, auto_threads, usable_cores  # noqa: E402

REPO = report.REPO
LOADS = ("idle", "busy")
#: a single-threaded busy loop: one core's worth of competing work
SPIN = "while True: pass"


def settings() -> list[tuple[str, int]]:
    """(``--threads`` value, threads it means here) for torch's default, auto, 1 and 2, without repeats of
    the same number (auto and 1 are the same on 2 cores)."""
    out: list[tuple[str, int]] = []
    for value, n in (("0", TORCH_DEFAULT), (AUTO, auto_threads()), ("1", 1), ("2", 2)):
        if n not in (m for _, m in out) and n <= usable_cores():
            out.append((value, n))
    return out


def start_load(n: int) -> list[subprocess.Popen]:
    """``n`` busy-loop processes (the competing load); stop them with :func:`stop_load`."""
    procs = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(n)]
    time.sleep(1.0)  # running at full speed before the measured run starts
    return procs


def stop_load(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait()


def train_once(data: Path, run_dir: Path, threads: str, args: argparse.Namespace) -> dict:
    """One training run from scratch with ``--threads threads``: its loop images/s, wall time and the load
    average just before it."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    cmd = [*cryohype(), "train", str(run_dir), "--particles", str(data / "particles.mrcs"),
           "--poses", str(data / "poses.pkl"), "--ctf", str(data / "ctf.pkl"), "--preset", args.preset,
           "--epochs", str(args.epochs), "--seed", "0", "--device", "cpu", "--threads", threads]
    load = os.getloadavg()[0]
    m = run_measured(cmd, run_dir.with_suffix(".log"), label=run_dir.name, env={"CUDA_VISIBLE_DEVICES": ""})
    if m.returncode:
        raise SystemExit(f"training failed; see {m.log}")
    n = json.loads((data / "simulation.json").read_text())["n_images"]
    used = json.loads((run_dir / "config.json").read_text())["train"]["threads_used"]
    return {"images_per_s": round(report.loop_images_per_s("hyper", run_dir, n), 2), "wall_s": round(m.wall_s, 2),
            "threads_used": used, "load_average_before": round(load, 2), "n_images": n, "epochs": args.epochs}


def summary(runs: list[dict]) -> str:
    """Markdown table: images/s per (setting, load), median and range over the rounds."""
    lines = ["| --threads | threads | load | runs | images/s, median | min – max | load average before, median |",
             "|---|---|---|---|---|---|---|"]
    for (value, n) in dict.fromkeys((r["threads"], r["threads_used"]) for r in runs):
        for load in LOADS:
            rows = [r for r in runs if r["threads"] == value and r["load"] == load]
            if rows:
                speed = [r["images_per_s"] for r in rows]
                lines.append(f"| {value} | {n} | {load} | {len(rows)} | {statistics.median(speed):.1f} | "
                             f"{min(speed):.1f} – {max(speed):.1f} | "
                             f"{statistics.median(r['load_average_before'] for r in rows):.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "threads")
    p.add_argument("--workdir", type=Path, help="run folders (default benchmarks/work/<name of --out>)")
    p.add_argument("--epochs", type=int, default=2, help="epochs of 200 images per run")
    p.add_argument("--repeats", type=int, default=3, help="rounds; each alternates the order")
    p.add_argument("--busy", type=int, default=1, help="busy-loop processes of the 'busy' load")
    p.add_argument("--preset", default="small")
    args = p.parse_args(argv)
    work = args.workdir or REPO / "benchmarks" / "work" / args.out.name
    data = sample_dataset()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record = {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "machine": {**machine_info(REPO), "usable_cores": usable_cores(), "torch_default_threads":
                          TORCH_DEFAULT, "auto_threads": auto_threads(),
                          "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
              "data": str(data), "started_utc": started, "runs": []}
    t0 = time.perf_counter()
    for r in range(args.repeats):
        loads = LOADS if r % 2 == 0 else LOADS[::-1]
        for load in loads:
            procs = start_load(args.busy) if load == "busy" else []
            try:
                order = settings() if (r + loads.index(load)) % 2 == 0 else settings()[::-1]
                for value, _ in order:
                    print(f"round {r + 1}/{args.repeats}, {load}: --threads {value}", flush=True)
                    run = train_once(data, work / f"{load}-t{value}-{r}", value, args)
                    record["runs"].append({"round": r, "load": load, "threads": value, **run})
                    write_json(args.out / "threads.json", report.portable(record, sys.executable))
            finally:
                stop_load(procs)
    record["wall_s"] = round(time.perf_counter() - t0, 1)
    published = report.portable(record, sys.executable)   # the record and its page name no local path
    write_json(args.out / "threads.json", published)
    table = summary(record["runs"])
    m = record["machine"]
    (args.out / "threads.md").write_text(
        "# Training speed by torch threads, idle and beside a busy process\n\n"
        f"Made by `python benchmarks/studies/threads.py` ({json.dumps(published['settings'])}) on {started}, "
        f"{record['wall_s']:.0f} s. Machine: {m['cpu']}, {m['usable_cores']} usable cores, torch's default "
        f"{m['torch_default_threads']} threads, auto {m['auto_threads']}; load average at the start "
        f"{m['load_average_at_start'][0]:.2f}. Data: the sample mixture (200 images, 32 px), preset "
        f"`{args.preset}`. `busy`: {args.busy} single-threaded busy loop(s) beside the training.\n\n" + table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
