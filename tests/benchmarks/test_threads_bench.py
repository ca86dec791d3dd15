"""benchmarks/studies/threads.py: the settings it compares and its table."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "studies"))
import threads as bench  # noqa: E402


@pytest.mark.parametrize("cores, default, expected", [
    (2, 2, [("0", 2), ("auto", 1)]),                      # auto and 1 are the same number: measured once
    (8, 8, [("0", 8), ("auto", 7), ("1", 1), ("2", 2)]),
    (1, 1, [("0", 1)]),
])
def test_each_number_of_threads_is_measured_once(monkeypatch, cores, default, expected):
    monkeypatch.setattr(bench, "TORCH_DEFAULT", default)
    monkeypatch.setattr(bench, "usable_cores", lambda: cores)
    monkeypatch.setattr(bench, "auto_threads", lambda: max(1, min(cores - 1, default)))
    assert bench.settings() == expected


def test_the_table_has_a_row_per_setting_and_load():
    runs = [{"threads": t, "threads_used": n, "load": load, "images_per_s": speed, "load_average_before": 0.5}
            for t, n, load, speed in (("0", 2, "idle", 90.0), ("0", 2, "busy", 10.0), ("0", 2, "busy", 20.0),
                                      ("auto", 1, "idle", 80.0), ("auto", 1, "busy", 70.0))]
    rows = bench.summary(runs).splitlines()[2:]
    assert rows == ["| 0 | 2 | idle | 1 | 90.0 | 90.0 – 90.0 | 0.50 |",
                    "| 0 | 2 | busy | 2 | 15.0 | 10.0 – 20.0 | 0.50 |",
                    "| auto | 1 | idle | 1 | 80.0 | 80.0 – 80.0 | 0.50 |",
                    "| auto | 1 | busy | 1 | 70.0 | 70.0 – 70.0 | 0.50 |"]
