"""How the GUI tests run: skipped with the reason where there is no display (Qt must not abort Python), and
rasterized by OpenGL on the drawing thread where there is one."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gui_tests_skip_with_a_message_where_there_is_no_display():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xvfb", "-p", "no:cacheprovider", "-q",
                           "tests/widgets/test_scatter.py::test_hover_reports_the_image_index"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "1 skipped" in out and "Qt cannot open a window" in out and "apt-packages.txt" in out


def test_the_canvas_draws_without_rasterizer_threads(make_napari_viewer, qtbot):
    """The GUI tests' OpenGL (Mesa's llvmpipe under Xvfb) rasterizes on the drawing thread: no thread of its own
    pool exists after a 3D volume has been drawn (tests/widgets/conftest.py sets LP_NUM_THREADS)."""
    import numpy as np

    viewer = make_napari_viewer(show=True)
    viewer.add_image(np.random.default_rng(0).random((16, 16, 16), dtype=np.float32))
    viewer.dims.ndisplay = 3
    drawn = []
    viewer.window._qt_viewer.canvas.events.draw.connect(drawn.append)  # private: napari has no public "drawn"
    qtbot.waitUntil(lambda: bool(drawn), timeout=10_000)
    tasks = Path("/proc/self/task")
    names = [(t / "comm").read_text().strip() for t in tasks.iterdir()] if tasks.exists() else []
    assert not [n for n in names if n.startswith("llvmpipe")], names


def test_opengl_outside_the_main_thread_is_recorded(qtbot):
    """vispy's OpenGL commands flushed from a worker thread are recorded, and fail the test that made them
    (tests/widgets/conftest.py); from the main thread they are not."""
    import threading
    from types import SimpleNamespace

    from vispy.gloo.context import GLContext

    from tests.widgets import conftest

    stub = SimpleNamespace(_do_CURRENT_command=False, shared=SimpleNamespace(parser=None),
                           glir=SimpleNamespace(flush=lambda parser: None))
    GLContext.flush_commands(stub)
    assert conftest._OFF_THREAD_GL == []
    worker = threading.Thread(target=GLContext.flush_commands, args=(stub,), name="a worker")
    worker.start()
    worker.join()
    assert len(conftest._OFF_THREAD_GL) == 1 and conftest._OFF_THREAD_GL[0].startswith("a worker: ")
    conftest._OFF_THREAD_GL.clear()   # this test's own flush was made on purpose
