"""Least-squares assignment of single images against backprojected maps (benchmarks/studies/assignment_bound.py):
an image inside the map it is scored against is flattered; held out of it, it is not."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "studies"))
import assignment_bound  # noqa: E402
from split_merge import Observed  # noqa: E402

from napari_cryohype.core.io.dataset import ParticleDataset  # noqa: E402
from napari_cryohype.core.simulate import bundled_structures, simulate_mixture  # noqa: E402


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """(observed images, true labels) of 5 bundled structures x 40 images at SNR 0.003: hard to tell apart."""
    out = tmp_path_factory.mktemp("noisy")
    simulate_mixture(out, bundled_structures(), 40, 32, 6.0, snr=0.003, shift_std=2.0, seed=0, threads=1)
    dataset = ParticleDataset(out / "particles.mrcs", out / "poses.pkl", out / "ctf.pkl", invert_data=None)
    return Observed(dataset), np.load(out / "labels.npy")


def test_an_image_inside_its_own_map_is_flattered(noisy):
    obs, truth = noisy
    inside = np.mean(assignment_bound.fold_scores(obs, truth, 5, held_out=False).argmax(1).numpy() == truth)
    held_out = np.mean(assignment_bound.fold_scores(obs, truth, 5, held_out=True).argmax(1).numpy() == truth)
    assert inside > held_out + 0.1 and held_out > 0.3   # chance: 0.2


def test_own_share_counts_the_images_of_each_groups_largest_structure():
    truth = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    groups = np.array([5, 5, 5, 5, 7, 7, 7, 7])   # group 5: 3 of 0, 1 of 1; group 7: 1 of 1, 3 of 2
    assert assignment_bound.own_share(groups, truth) == pytest.approx(6 / 8)
