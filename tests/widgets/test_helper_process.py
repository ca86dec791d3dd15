"""The explorer's analysis runs in a helper process, so that UMAP's compilation cannot freeze the UI."""

import numpy as np

from napari_cryohype.core import analysis
from napari_cryohype.widgets import helper_process


def test_analysis_runs_in_the_helper_process_and_matches():
    x = np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32)
    try:
        out = helper_process.call_analysis("pca", x, n_components=3)
        assert helper_process._executor is not None  # a process was started for it
        np.testing.assert_allclose(out, analysis.pca(x, n_components=3), rtol=1e-4, atol=1e-5)
    finally:
        helper_process.shutdown()
    assert helper_process._executor is None


def test_warm_up_starts_the_process_at_lower_priority():
    import os
    import sys

    try:
        helper_process.warm_up()
        assert helper_process._executor is not None
        if sys.platform.startswith("linux"):  # the helper's main thread, which does the work
            (pid,) = helper_process._executor._processes
            assert os.getpriority(os.PRIO_PROCESS, pid) == min(
                19, os.getpriority(os.PRIO_PROCESS, 0) + helper_process.BACKGROUND_NICE)
    finally:
        helper_process.shutdown()


def test_a_stand_in_replacing_the_function_runs_in_this_process(monkeypatch):
    monkeypatch.setattr(analysis, "kmeans", lambda x, k: np.zeros(len(x), int))
    assert helper_process.call_analysis("kmeans", np.ones((4, 2)), 2).tolist() == [0, 0, 0, 0]
    assert helper_process._executor is None


def test_shutdown_does_not_wait_for_running_work():
    import threading
    import time

    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    helper_process.call_analysis("pca", x, n_components=2)  # the process is up
    errors = []

    def long_call():  # a UMAP on random data: seconds of numba compilation in a fresh process
        try:
            helper_process.call_analysis("umap_embedding", np.random.default_rng(1).normal(size=(300, 5)))
        except Exception as err:  # the abandoned call fails instead of hanging
            errors.append(err)

    t = threading.Thread(target=long_call)
    t.start()
    time.sleep(0.5)
    t0 = time.perf_counter()
    helper_process.shutdown()
    t.join(timeout=20)
    assert time.perf_counter() - t0 < 5 and not t.is_alive() and errors
