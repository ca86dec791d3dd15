"""The hard-or-soft classes study (benchmarks/studies/soft_classes.py) on a small simulated mixture."""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "studies"))
import soft_classes  # noqa: E402

from napari_cryohype.core.simulate import bundled_structures, simulate_mixture  # noqa: E402


def test_each_setting_is_recorded_once_beside_the_seeds(tmp_path, monkeypatch):
    data = tmp_path / "work" / "mix0005" / "data"
    simulate_mixture(data, bundled_structures(), 40, 32, 6.0, snr=0.1, shift_std=2.0, seed=0, threads=1)
    truth = np.load(data / "labels.npy")
    rng = np.random.default_rng(0)
    seeds = np.where(rng.random(len(truth)) < 0.5, rng.integers(0, 5, len(truth)), truth)
    (tmp_path / "work" / "mix0005" / "m").mkdir()
    np.save(tmp_path / "work" / "mix0005" / "m" / "cluster_seeds.npy", seeds)
    argv = [str(tmp_path / "work"), "--mixture", "mix0005", "--method", "m", "--passes", "12", "--out",
            str(tmp_path / "out")]
    assert soft_classes.main([*argv, "--soft", "none", "0.35"]) == 0
    (result,) = json.loads((tmp_path / "out" / "soft_classes.json").read_text())
    assert [r["soft"] for r in result["rows"]] == [None, 0.35]
    assert all(r["ari"] > result["seeds"]["ari"] and r["own"] > 0.8 for r in result["rows"])
    monkeypatch.setattr(soft_classes, "refine", lambda *a: (_ for _ in ()).throw(AssertionError("ran again")))
    assert soft_classes.main([*argv, "--soft", "0.35"]) == 0
    assert "| soft 0.35, 12 passes at most |" in (tmp_path / "out" / "soft_classes.md").read_text()
