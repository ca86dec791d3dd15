"""Without a display the GUI tests are skipped with the reason; Qt must not abort Python."""

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
