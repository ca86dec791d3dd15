"""Split-and-merge of 3D classes by held-out likelihood (benchmarks/studies/split_merge.py) on a small simulated
mixture of the bundled structures: a class holding two structures is split, two classes of one structure are
merged, and a class of one structure is left whole."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "studies"))
import split_merge  # noqa: E402

from napari_cryohype.core.analysis import adjusted_rand_index  # noqa: E402
from napari_cryohype.core.io.dataset import ParticleDataset  # noqa: E402
from napari_cryohype.core.simulate import bundled_structures, simulate_mixture  # noqa: E402


@pytest.fixture(scope="module")
def mixture(tmp_path_factory):
    """(observed images, true labels (N,), classes (N,) with structures 0 and 1 in class 0 and structure 2
    cut at random into classes 1 and 2, latent stand-ins (N, 5): the one-hot truth plus noise)."""
    out = tmp_path_factory.mktemp("mixture")
    simulate_mixture(out, bundled_structures(), 120, 32, 6.0, snr=0.1, shift_std=2.0, seed=0, threads=1)
    dataset = ParticleDataset(out / "particles.mrcs", out / "poses.pkl", out / "ctf.pkl", invert_data=None)
    truth = np.load(out / "labels.npy")
    rng = np.random.default_rng(0)
    classes = truth.copy()
    classes[truth == 1] = 0
    two = np.flatnonzero(truth == 2)
    classes[two[rng.random(len(two)) < 0.5]] = 1
    x = np.eye(5)[truth] + rng.normal(0, 0.6, (len(truth), 5))
    return split_merge.Observed(dataset), truth, classes, x


def test_a_class_of_two_structures_splits_and_one_of_a_single_structure_does_not(mixture):
    obs, truth, classes, x = mixture
    mixed = np.flatnonzero(classes == 0)
    halves, gain = split_merge.propose_split(obs, mixed, x, seed=0)
    assert adjusted_rand_index(halves, truth[mixed]) > 0.95
    pure = [split_merge.propose_split(obs, np.flatnonzero(classes == k), x, seed=0)[1] for k in (3, 4)]
    duplicate = split_merge.merge_loss(obs, classes, 1, 2)
    distinct = split_merge.merge_loss(obs, classes, 3, 4)
    assert duplicate < 0 < distinct            # held out, one structure's two maps predict worse than one map
    assert gain > 0 and all(g < -duplicate for g in pure)   # a pure class's split never pays for a merge


def test_a_round_pairs_the_split_with_the_merge(mixture):
    obs, truth, classes, x = mixture
    new, moves = split_merge.split_merge_round(obs, classes, x, seed=0, neighbours=2)
    assert [(m["split"], sorted(m["merge"])) for m in moves] == [(0, [1, 2])]
    assert adjusted_rand_index(new, truth) > 0.95 > adjusted_rand_index(classes, truth)
    again, moves = split_merge.split_merge_round(obs, new, x, seed=0, neighbours=2)
    assert moves == [] and np.array_equal(again, new)


def test_make_up_counts_mixed_classes_repeats_and_structures_without_a_class():
    truth = np.repeat(np.arange(4), 10)
    classes = truth.copy()
    classes[truth == 1] = 0          # class 0: structures 0 and 1 (mixed)
    classes[25:30] = 4               # structure 2 in classes 2 and 4 (a repeat)
    assert split_merge.make_up(classes, truth) == {"mixed": 1, "repeats": 1, "without_class": 1}
