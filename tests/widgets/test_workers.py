"""Running a generator on its own lower-priority thread (widgets.workers.iterate_at_low_priority)."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from napari_cryohype.widgets.workers import BACKGROUND_NICE, iterate_at_low_priority


def _thread_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def _report(n: int):
    for i in range(n):
        yield i, threading.get_native_id(), _thread_nice() if sys.platform.startswith("linux") else None


def test_items_arrive_in_order_from_another_thread():
    got = list(iterate_at_low_priority(_report, 4))
    assert [i for i, _, _ in got] == [0, 1, 2, 3]
    assert {tid for _, tid, _ in got} != {threading.get_native_id()}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority is Linux's")
def test_the_producing_thread_runs_at_lower_priority_and_the_caller_does_not():
    before = _thread_nice()
    got = list(iterate_at_low_priority(_report, 2))
    assert {nice for _, _, nice in got} == {min(19, before + BACKGROUND_NICE)}
    assert _thread_nice() == before


def _fails():
    yield 1
    raise ValueError("bad particle file")


def test_an_exception_of_the_generator_is_raised_to_the_caller():
    it = iterate_at_low_priority(_fails)
    assert next(it) == 1
    with pytest.raises(ValueError, match="bad particle file"):
        next(it)


def test_closing_the_consumer_closes_the_generator():
    closed = threading.Event()
    produced = []

    def endless():
        try:
            for i in range(10_000):
                produced.append(i)
                time.sleep(0.01)
                yield i
        finally:
            closed.set()

    it = iterate_at_low_priority(endless)
    assert next(it) == 0
    it.close()
    assert closed.wait(2)
    n = len(produced)
    time.sleep(0.1)
    assert len(produced) == n < 10


@pytest.mark.gui
def test_closing_napari_while_a_worker_runs_exits_cleanly(tmp_path):
    """The Train widget's start-up imports run in a worker; napari closed at once used to abort Python at
    exit (the worker then emitted its signals from objects Qt had deleted)."""
    import subprocess

    script = tmp_path / "close_at_once.py"
    script.write_text("import napari\n"
                      "viewer = napari.Viewer(show=True)\n"
                      "viewer.window.add_plugin_dock_widget('napari-cryohype', 'Train')\n"
                      "viewer.close()\n"
                      "print('closed')\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "closed" in done.stdout and "Aborted" not in done.stderr


@pytest.mark.gui
def test_jobs_do_not_queue_behind_as_many_busy_workers_as_cores(qtbot):
    """napari's pool allows as many threads as cores: on 2 cores, two waiting jobs (a training run, the
    latents) made every further job wait for one of them. Ours start at once."""
    from qtpy.QtCore import QThreadPool

    from napari_cryohype.widgets.workers import start_worker

    pool = QThreadPool.globalInstance()
    pool.setMaxThreadCount(2)
    release, ran = threading.Event(), []
    try:
        for _ in range(2):
            start_worker(release.wait, on_error=lambda err: None)
        start_worker(lambda: ran.append(1), on_error=lambda err: None)
        qtbot.waitUntil(lambda: ran == [1], timeout=5_000)
    finally:
        release.set()
    pool.waitForDone(5_000)


@pytest.mark.gui
def test_a_worker_that_ends_at_once_leaves_the_list_of_running_work(qtbot):
    """The list of running work (what exit stops and the tests wait for) lost workers that finished before
    their "finished" signal was connected: they stayed on it for good."""
    from napari_cryohype.widgets import workers

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)   # hand the GIL over often, so that some workers end before start_worker returns
    try:
        started = [workers.start_worker(time.sleep, 0, on_error=lambda err: None) for _ in range(200)]
    finally:
        sys.setswitchinterval(interval)
    qtbot.waitUntil(lambda: not any(w in workers._STARTED for w in started), timeout=20_000)
