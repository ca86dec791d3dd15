"""Run one benchmark step as a child process and measure it: wall time and peak memory of its process tree.

Peak memory is the largest sum of the resident set sizes of the child and all its descendants, polled every
0.2 s with psutil (a spike shorter than that can be missed). The child's output goes to a log file; a status
line (elapsed time, memory, the log's last line) is printed every ``report_s`` seconds.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

POLL_S = 0.2


@dataclass
class Measured:
    """What one child process did."""
    returncode: int
    wall_s: float
    peak_rss_mb: float
    log: Path


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def _last_line(log: Path) -> str:
    try:
        with log.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 2000))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [s.strip() for s in tail.replace("\r", "\n").splitlines() if s.strip()]
    return lines[-1][:160] if lines else ""


def run_measured(cmd: list[str], log: Path, *, label: str, env: dict | None = None,
                 report_s: float = 30.0, nice: int = 0) -> Measured:
    """Run ``cmd`` (argv list) with its stdout and stderr appended to ``log``; return its exit status, wall
    time (s) and the peak resident memory (MB) of its process tree. ``nice`` > 0 lowers its priority."""
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {})}
    with log.open("a") as out:
        out.write(f"$ {' '.join(map(str, cmd))}\n")
        out.flush()
        start = time.perf_counter()
        child = subprocess.Popen([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT, env=full_env,
                                 preexec_fn=(lambda: os.nice(nice)) if nice > 0 else None)
        proc = psutil.Process(child.pid)
        peak, last_report = 0, start
        while child.poll() is None:
            peak = max(peak, _tree_rss(proc))
            now = time.perf_counter()
            if now - last_report >= report_s:
                print(f"    [{label}] {now - start:7.0f} s  {peak / 2**20:7.0f} MB  {_last_line(log)}",
                      flush=True)
                last_report = now
            time.sleep(POLL_S)
        wall = time.perf_counter() - start
    return Measured(child.returncode, wall, peak / 2**20, log)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(repo: Path) -> dict:
    """The machine and software the benchmark ran on: CPU, cores, memory, GPU, Python, torch, git commit."""
    import torch

    info = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cuda_gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average_at_start": os.getloadavg(),
    }
    try:
        info["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                                            text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        info["git_commit"] = None
    try:
        from importlib.metadata import version
        info["napari_cryohype"] = version("napari-cryohype")
    except Exception:  # noqa: BLE001 - not installed as a distribution: the commit above identifies it
        info["napari_cryohype"] = None
    return info
