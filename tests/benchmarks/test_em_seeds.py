"""The seeds-with-known-errors study (benchmarks/studies/em_seeds.py)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "studies"))
import em_seeds  # noqa: E402
from split_merge import make_up  # noqa: E402

from napari_cryohype.core.simulate import bundled_structures, simulate_mixture  # noqa: E402


def test_each_kind_of_error_is_the_one_asked_for():
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(6), 50)
    best_other = (truth + 1) % 6                     # structure s is most often taken for s + 1
    best_other[truth == 0] = 1
    margin = rng.random(len(truth))
    assert np.array_equal(em_seeds.make_seeds("truth", truth, best_other, margin, rng), truth)
    wrong = em_seeds.make_seeds("random:0.5", truth, best_other, margin, rng) != truth
    assert 0.35 < wrong.mean() < 0.5                 # a random class is the true one 1/6 of the time
    confused = em_seeds.make_seeds("confused:0.2", truth, best_other, margin, rng)
    moved = confused != truth
    assert moved.sum() == 60 and margin[moved].max() < margin[~moved].min()
    assert np.array_equal(confused[moved], best_other[moved])
    topology = em_seeds.make_seeds("topology:2", truth, best_other, margin, rng)
    assert make_up(topology, truth) | {"mixed": 0} == {"mixed": 0, "repeats": 2, "without_class": 2}
    assert len(np.unique(topology)) == 6            # two pairs joined, two structures split
    assert topology[truth == 0][0] == topology[truth == 1][0]   # the pair confused most often is joined


@pytest.mark.parametrize("text", ["random", "random:1.5", "truth:1", "topology:0", "merged:2"])
def test_a_setting_that_means_nothing_is_refused(text):
    with pytest.raises(ValueError, match="seed setting|fraction|pair"):
        em_seeds.setting(text)


def test_classification_keeps_the_truth_and_repairs_random_errors_and_each_setting_is_recorded_once(
        tmp_path, monkeypatch):
    data = tmp_path / "work" / "mix0005" / "data"
    simulate_mixture(data, bundled_structures(), 40, 32, 6.0, snr=0.1, shift_std=2.0, seed=0, threads=1)
    argv = [str(tmp_path / "work"), "--mixture", "mix0005", "--out", str(tmp_path / "out")]
    assert em_seeds.main([*argv, "--seeds", "truth", "random:0.5"]) == 0
    rows = {r["seeds"]: r for r in json.loads((tmp_path / "out" / "em_seeds.json").read_text())}
    assert rows["truth"]["seeded"]["ari"] == 1.0 and rows["truth"]["classes"]["ari"] > 0.9
    assert rows["random:0.5"]["seeded"]["ari"] < 0.5 < rows["random:0.5"]["classes"]["ari"]
    monkeypatch.setattr(em_seeds, "confusions", lambda *a: (_ for _ in ()).throw(AssertionError("ran again")))
    assert em_seeds.main([*argv, "--seeds", "random:0.5"]) == 0
    assert "| mix0005 | random 0.5 |" in (tmp_path / "out" / "em_seeds.md").read_text()
