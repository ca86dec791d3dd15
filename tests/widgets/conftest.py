"""Shared tiny data for the widget tests: a 36-image, 24 px mixture of three bundled structures and a run
trained for one epoch with a very small model (seconds on 2 CPU cores)."""

import os
import subprocess
import sys

import numpy as np
import pytest

# Mesa's software rasterizer (llvmpipe, the only OpenGL under Xvfb) draws on the drawing thread instead of its own
# pool of threads, one per core: the GUI tests' pixels then do not depend on how those threads are scheduled on a
# loaded machine. Read when the first OpenGL context is made, after this file is imported.
os.environ.setdefault("LP_NUM_THREADS", "0")

#: fixtures that create Qt's application: without a display Qt aborts Python in them
_QT_FIXTURES = {"qapp", "qtbot", "make_napari_viewer"}
_NO_DISPLAY: list[str] = []   # the reason GUI tests were skipped, for the terminal summary


def qt_display_problem() -> str | None:
    """Why Qt cannot open a window here, or None if it can. Tried in a subprocess: where the display or
    Qt's X11 libraries are missing, Qt aborts the process that tries, and that must not be pytest."""
    code = "from qtpy.QtWidgets import QApplication; QApplication([])"
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "Qt did not start within 120 s"
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    return next((line for line in lines if "display" in line.lower()), lines[-1] if lines else
                f"exit status {done.returncode}")


def pytest_collection_modifyitems(config, items):
    """Skip the tests that need a display, with the reason and the fix, where Qt cannot open a window
    (pytest-xvfb has started Xvfb by now where it is installed)."""
    gui = [item for item in items
           if item.get_closest_marker("gui") or _QT_FIXTURES & set(getattr(item, "fixturenames", ()))]
    problem = qt_display_problem() if gui else None
    if problem is None:
        return
    _NO_DISPLAY.append(f"{len(gui)} GUI tests skipped: Qt cannot open a window ({problem}). Install Xvfb "
                       "and Qt's X11 libraries (Debian/Ubuntu: apt-get install $(cat .ci/apt-packages.txt)) "
                       "or run where there is a display.")
    skip = pytest.mark.skip(reason=f"no display for Qt: {problem}")
    for item in gui:
        item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    for line in _NO_DISPLAY:
        terminalreporter.write_line(line, yellow=True)
    if _UNSETTLED:
        terminalreporter.write_line(f"{len(_UNSETTLED)} GUI tests ended with background work still running "
                                    "(awaited in their own teardown): " + "; ".join(_UNSETTLED))


#: how long a GUI test's teardown waits for the background work it started (s)
SETTLE_S = 120.0
_UNSETTLED: list[str] = []   # "test: work still running when it ended", for the terminal summary
_GIVEN_UP: set[int] = set()  # explorers still busy when their test's wait ran out (not awaited again)


def _pending_work() -> list[str]:
    """What still runs in the background: the plugin's workers (by function), other thread-pool jobs, and
    explorers still adding layers or waiting to make the next click's layer."""
    from qtpy.QtCore import QThreadPool

    from napari_cryohype.widgets import workers

    pending = [getattr(getattr(w, "_args", (None,))[0], "__name__", "worker")
               for w in list(workers._STARTED) if w.is_running]
    others = QThreadPool.globalInstance().activeThreadCount() - len(pending)
    pending += ["thread-pool job"] * max(others, 0)
    pending += ["explorer UI work" for w in _busy_explorers()]
    return pending


def _busy_explorers() -> list:
    from qtpy.QtWidgets import QApplication

    from napari_cryohype.widgets.explorer import LatentExplorer

    return [w for w in QApplication.allWidgets()
            if isinstance(w, LatentExplorer) and w.busy and id(w) not in _GIVEN_UP]


def _settle(qtbot, test: str) -> None:
    """Let the background work a GUI test started finish inside that test, its viewers still open: a
    worker's result or a queued layer step left over would run during the NEXT test, on a closed viewer,
    at a moment that depends on the machine's load."""
    pending = _pending_work()
    if not pending:
        return
    _UNSETTLED.append(f"{test}: {', '.join(sorted(set(pending)))}")
    try:
        qtbot.waitUntil(lambda: not _pending_work(), timeout=int(SETTLE_S * 1000))
    except qtbot.TimeoutError:
        _GIVEN_UP.update(id(w) for w in _busy_explorers())  # one failure, not one per later test
        pytest.fail(f"background work still running {SETTLE_S:g} s after the test ended: {_pending_work()}")


@pytest.fixture
def make_napari_viewer(make_napari_viewer, qtbot, request):
    """napari's fixture; at the end of the test, first waits for the background work the test started
    (:func:`_settle`), then napari closes the viewers."""
    yield make_napari_viewer
    _settle(qtbot, request.node.nodeid)


_OFF_THREAD_GL: list[str] = []   # "thread name: where", OpenGL commands run outside Qt's main thread


@pytest.fixture(scope="session", autouse=True)
def _gl_on_the_main_thread():
    """Record every flush of vispy's OpenGL commands (where its GL calls run) made outside the main thread: OpenGL
    from a worker thread crashes at random in the driver, so a test fails on it instead
    (:func:`_gui_test_isolation`)."""
    import threading
    import traceback

    from vispy.gloo.context import GLContext

    flush = GLContext.flush_commands

    def checked(self, *args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            _OFF_THREAD_GL.append(f"{threading.current_thread().name}: {traceback.format_stack(limit=6)[0].strip()}")
        return flush(self, *args, **kwargs)

    GLContext.flush_commands = checked
    yield
    GLContext.flush_commands = flush


@pytest.fixture(autouse=True)
def _gui_test_isolation(request):
    """Every Qt test ends with its own work done (:func:`_settle`) and its closed windows deleted (their
    OpenGL canvases included), so nothing of it runs while the next test's canvas draws."""
    if not _QT_FIXTURES & set(request.fixturenames):
        yield
        return
    qtbot = request.getfixturevalue("qtbot")
    _OFF_THREAD_GL.clear()
    yield
    _settle(qtbot, request.node.nodeid)
    from qtpy.QtCore import QCoreApplication, QEvent
    from qtpy.QtWidgets import QApplication

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    left = _left_open()
    if left:
        for w in QApplication.topLevelWidgets():   # closed here, so that one leak fails one test
            w.close()
        pytest.fail(f"left open after the test: {', '.join(left)}: a window or OpenGL canvas that outlives its "
                    "test gets paint events during the next ones; close it (qtbot.addWidget, viewer.close())")
    if _OFF_THREAD_GL:
        pytest.fail(f"OpenGL drawn outside the main thread: {'; '.join(_OFF_THREAD_GL[:3])}")


def _left_open() -> list[str]:
    """Top-level windows still shown and vispy canvases still alive (after a garbage collection): what a test
    must not leave behind."""
    import gc

    from qtpy.QtWidgets import QApplication
    from vispy.app import Canvas

    gc.collect()
    shown = [type(w).__name__ for w in QApplication.topLevelWidgets() if w.isVisible()]
    # type(), not isinstance(): some of torch's objects warn when their __class__ is read
    return shown + [f"vispy {type(o).__name__}" for o in gc.get_objects() if issubclass(type(o), Canvas)]


@pytest.fixture(autouse=True)
def _no_umap_compile_at_start(monkeypatch):
    """Explorers do not compile UMAP when they open (tens of seconds of a core per test process); the
    warm-up's compile is tested on its own in test_helper_process."""
    from napari_cryohype.widgets import helper_process

    monkeypatch.setattr(helper_process, "COMPILE_UMAP_AT_START", False)


#: a model small enough that an epoch of 36 images takes a few seconds on a CPU
TINY_MODEL = dict(width=32, depth=1, heads=2, mlp_dim=64, tokens_per_layer=4, inr_width=32, inr_layers=3,
                  n_freqs=8, zdim=4, encoder_hidden=32)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A simulated mixture folder: particles.mrcs (36, 24, 24), poses.pkl, ctf.pkl, labels.npy, volumes/."""
    from napari_cryohype.core.simulate import bundled_structures, simulate_mixture

    structures = [p for p in bundled_structures() if p.name[:4] in ("1CLV", "2OOB", "3H2V")]
    out = tmp_path_factory.mktemp("tiny_data")
    simulate_mixture(out, structures, 12, 24, 4.0, snr=10.0, seed=0, force=True)
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_data):
    """A run folder trained for one epoch (checkpoint, no analysis/)."""
    from napari_cryohype.core.run import Run
    from napari_cryohype.core.train import Trainer, train_config

    config = train_config(particles=str(tiny_data / "particles.mrcs"), poses=str(tiny_data / "poses.pkl"),
                          ctf=str(tiny_data / "ctf.pkl"), epochs=1, batch_size=12, **TINY_MODEL)
    run = Run.create(tmp_path_factory.mktemp("tiny_run") / "run", config)
    for _ in Trainer(run).run():
        pass
    return run.path


@pytest.fixture
def explorer(make_napari_viewer):
    """A Latent Explorer docked in a viewer, automatic UMAP off (its first use compiles for ~40 s; tested in core)."""
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget("napari-cryohype", "Latent Explorer")
    widget.auto_umap.setChecked(False)
    return widget


@pytest.fixture
def wait_idle(qtbot):
    """Wait until a widget's workers have finished."""
    def wait(widget, timeout=60_000):
        qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)
    return wait


def clustered_latents(n=300, k=3, d=6, seed=0):
    """(n, d) latents in k well separated clusters and their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    return (rng.normal(size=(n, d)) + 6 * np.eye(k, d)[labels]).astype(np.float32), labels
