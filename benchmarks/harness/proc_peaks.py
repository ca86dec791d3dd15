"""Run a child process and record its wall time, CPU time and peak memory as Linux reports them.

At exit, from ``wait4``: the CPU seconds it used (user + system; on a CPU shared with other work this,
not the wall time, is the cost of the stage) and ``maxrss`` (the kernel's own peak of its resident set,
exact: VmHWM). Sampled every ``POLL_S`` seconds from /proc/PID/status: the largest ``VmRSS``, ``RssAnon``
(heap, arrays: memory the process owns) and ``RssFile`` (pages of files it has mapped, e.g. a
memory-mapped stack: page cache the kernel may drop) seen; a spike shorter than a poll can be missed.
Only the child itself is measured, not processes it starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

POLL_S = 0.2
FIELDS = ("VmRSS", "RssAnon", "RssFile")


@dataclass
class Peaks:
    """One child's exit status, wall and CPU time (s), whether it was interrupted, and peaks in MB."""
    returncode: int
    wall_s: float
    cpu_s: float
    interrupted: bool
    VmHWM_MB: float  # ru_maxrss
    VmRSS_MB: float
    RssAnon_MB: float
    RssFile_MB: float

    def as_dict(self) -> dict:
        return asdict(self)


def read_status(pid: int) -> dict[str, float]:
    """The memory fields of /proc/PID/status in MB ({} once the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in FIELDS:
            out[key] = int(value.split()[0]) / 1024  # kB -> MB
    return out


def run_with_peaks(cmd: list[str], log: Path, *, env: dict | None = None,
                   interrupt_when: Callable[[], bool] | None = None, report_s: float = 60.0) -> Peaks:
    """Run ``cmd`` with stdout and stderr appended to ``log``; send it SIGINT once ``interrupt_when()``
    (checked every poll, if given) is true, and wait for it to finish. Prints a status line every
    ``report_s`` seconds."""
    peaks = dict.fromkeys(FIELDS, 0.0)
    interrupted = False
    with open(log, "a") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        last_report = start
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            for key, value in read_status(proc.pid).items():
                peaks[key] = max(peaks[key], value)
            now = time.perf_counter()
            if interrupt_when is not None and not interrupted and interrupt_when():
                proc.send_signal(signal.SIGINT)
                interrupted = True
            if now - last_report >= report_s:
                print(f"    {now - start:7.0f} s  RSS {peaks['VmRSS']:.0f} MB (anon {peaks['RssAnon']:.0f}, "
                      f"file {peaks['RssFile']:.0f})", flush=True)
                last_report = now
            time.sleep(POLL_S)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Peaks(proc.returncode, wall, round(usage.ru_utime + usage.ru_stime, 1), interrupted,
                 round(usage.ru_maxrss / 1024, 1), *(round(peaks[k], 1) for k in FIELDS))
