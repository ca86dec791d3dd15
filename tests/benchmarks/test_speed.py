"""benchmarks/speed.py's thread settings: one count for both, or each tool's own default."""

import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import speed  # noqa: E402


def _args(threads):
    return argparse.Namespace(epochs=1, seed=0, preset="many", threads=threads, train_args=[])


def test_own_threads_give_ours_its_auto_threads():
    cmd = speed.train_command("ours", Path("data"), Path("out"), _args("own"))
    assert cmd[cmd.index("--threads") + 1] == "auto"
    cmd = speed.train_command("ours", Path("data"), Path("out"), _args(1))
    assert cmd[cmd.index("--threads") + 1] == "1"


@pytest.mark.parametrize("bad", ["0", "two", "-1"])
def test_threads_are_a_count_or_own(bad):
    assert speed._threads("own") == "own" and speed._threads("2") == 2
    with pytest.raises(argparse.ArgumentTypeError):
        speed._threads(bad)
