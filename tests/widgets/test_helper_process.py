"""The explorer's analysis runs in a helper process, so that UMAP's compilation cannot freeze the UI."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from napari_cryohype.core import analysis
from napari_cryohype.widgets import helper_process
from napari_cryohype.widgets.workers import BACKGROUND_NICE


def test_analysis_runs_in_the_helper_process_and_matches():
    x = np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32)
    try:
        out = helper_process.call_analysis("pca", x, n_components=3)
        assert list(helper_process.running()) == [helper_process.MAIN]  # a process was started for it
        np.testing.assert_allclose(out, analysis.pca(x, n_components=3), rtol=1e-4, atol=1e-5)
    finally:
        helper_process.shutdown()
    assert helper_process.running() == {}


def test_warm_up_starts_the_process_at_lower_priority():
    import os
    import sys

    try:
        helper_process.warm_up()
        main = helper_process.running()[helper_process.MAIN]
        if sys.platform.startswith("linux"):  # the helper's main thread, which does the work
            pid = main.process.pid
            assert os.getpriority(os.PRIO_PROCESS, pid) == min(
                19, os.getpriority(os.PRIO_PROCESS, 0) + BACKGROUND_NICE)
    finally:
        helper_process.shutdown()


def test_warm_up_pays_umaps_compile_before_the_first_embedding(monkeypatch):
    """The explorer's warm-up compiles UMAP in the helper (while data load and the first epoch runs): the
    first real embedding afterwards takes a fraction of the warm-up's time."""
    import time

    monkeypatch.setattr(helper_process, "COMPILE_UMAP_AT_START", True)
    try:
        t0 = time.perf_counter()
        helper_process.warm_up()
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        emb = helper_process.call_analysis("umap_embedding", np.random.default_rng(1).normal(size=(200, 5)))
        first = time.perf_counter() - t0
        assert emb.shape == (200, 2) and first < 0.5 * warm, (first, warm)
    finally:
        helper_process.shutdown()


def test_a_stand_in_replacing_the_function_runs_in_this_process(monkeypatch):
    monkeypatch.setattr(analysis, "kmeans", lambda x, k: np.zeros(len(x), int))
    assert helper_process.call_analysis("kmeans", np.ones((4, 2)), 2).tolist() == [0, 0, 0, 0]
    assert helper_process.running() == {}


def test_errors_in_the_helper_reach_the_caller_and_it_keeps_serving():
    try:
        with pytest.raises(ValueError):
            helper_process.call_analysis("pca", np.ones(3), n_components=2)  # 1D: scikit-learn refuses
        out = helper_process.call_analysis("kmeans", np.r_[np.zeros((5, 2)), np.ones((5, 2))], 2)
        assert len(set(out[:5])) == 1 and len(set(out[5:])) == 1 and out[0] != out[5]
    finally:
        helper_process.shutdown()


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


def test_latents_and_pca_do_not_wait_behind_umaps_compile():
    """In one shared process the live map's first latents waited for UMAP's compile (20-40 s: the first
    points came at epoch 12 of 20). UMAP has its own process now."""
    import threading
    import time

    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    done = threading.Event()

    def compile_umap():
        try:
            helper_process.call_analysis("compile_umap")
            done.set()
        except helper_process.HelperEnded:   # shut down below, mid-compile
            pass

    umap = threading.Thread(target=compile_umap)
    try:
        umap.start()
        time.sleep(1.0)   # the UMAP process is importing or compiling
        t0 = time.perf_counter()
        helper_process.call_analysis("pca", x, n_components=2)
        took = time.perf_counter() - t0
        assert not done.is_set(), "UMAP compiled before the PCA was asked for: the test proves nothing"
        assert took < 0.5 * 20, took
        assert set(helper_process.running()) == {helper_process.MAIN, helper_process.UMAP}
    finally:
        helper_process.shutdown()
        umap.join(timeout=20)


# Exactly what a user writes: no ``if __name__ == "__main__":`` guard. It quits once the explorer shows the
# run's latents, which it computes in the helper process.
PLAIN_SCRIPT = """
import os
import napari
from qtpy.QtCore import QTimer

viewer = napari.Viewer()
_, explorer = viewer.window.add_plugin_dock_widget("napari-cryohype", "Latent Explorer")
explorer.auto_umap.setChecked(False)
explorer.load_run(os.environ["RUN"])

def check():
    if explorer.scatter.n_points and not explorer.busy:
        print("points:", explorer.scatter.n_points, flush=True)
        viewer.close()
    else:
        QTimer.singleShot(200, check)

QTimer.singleShot(200, check)
napari.run()
"""


@pytest.mark.gui
def test_a_plain_script_without_a_main_guard_is_not_rerun_by_the_helper(tiny_run, tmp_path):
    """With multiprocessing's spawn the helper re-ran such a script: a second viewer opened in it, the
    explorer waited forever for its latents, and Python did not exit."""
    script = tmp_path / "explore.py"
    script.write_text(PLAIN_SCRIPT)
    env = {**os.environ, "RUN": str(tiny_run), "NAPARI_CONFIG": str(tmp_path / "napari.yaml")}
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the script and whatever it started
        out, _ = proc.communicate()
        pytest.fail(f"the script did not finish in 300 s:\n{out[-3000:]}")
    assert proc.returncode == 0 and "points: 36" in out, out[-3000:]


# napari with the plugin's dock, closed while the UMAP process compiles (as the explorer starts it on opening).
# The first exit handler registered runs last: after the plugin's, before Python and Qt tear down.
CLOSE_SCRIPT = """
import atexit
import time
atexit.register(lambda: print("exit handlers done", time.time(), flush=True))
import napari
from qtpy.QtWidgets import QApplication
from napari_cryohype.widgets import helper_process

viewer = napari.Viewer(show=True)
viewer.window.add_plugin_dock_widget("napari-cryohype", "Train and Latent Explorer")
app = QApplication.instance()
t0 = time.time()
while helper_process.UMAP not in helper_process.running() and time.time() - t0 < 120:
    app.processEvents()
    time.sleep(0.02)
t1 = time.time()
while time.time() - t1 < 2:   # the UMAP process imports and compiles
    app.processEvents()
    time.sleep(0.02)
print("umap process", helper_process.UMAP in helper_process.running(), flush=True)
print("closing", time.time(), flush=True)
viewer.close()
"""


@pytest.mark.gui
def test_closing_napari_does_not_wait_for_the_umap_compile(tmp_path):
    """Closing napari waited 16-22 s (70 s on a busy machine) for the background UMAP compile: the worker
    waiting on it was awaited at exit before the helper was ended. Now the helpers end first. (What
    follows the exit handlers, Python's and Qt's teardown, is napari's: about as long without the plugin.)"""
    script = tmp_path / "close.py"
    script.write_text(CLOSE_SCRIPT)
    env = {**os.environ, "NAPARI_CONFIG": str(tmp_path / "napari.yaml")}
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    times = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in out.splitlines()
             if line.startswith(("closing ", "exit handlers done "))}
    assert proc.returncode == 0 and "umap process True" in out and len(times) == 2, out[-3000:]
    took = times["exit handlers done"] - times["closing"]
    assert took < 5, f"{took:.1f} s from closing napari to the end of its exit handlers"
