"""The split gain of benchmarks/studies/split_gain.py: a class that holds two structures gains more from being
split in two than a class of one."""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "studies"))
import split_gain  # noqa: E402


def test_a_mixed_class_gains_more_from_a_split_than_a_pure_one():
    """Lifted images of three structures (each image sees a random third of the grid, white noise of
    variance c^2 per value): class 0 holds structure 0, class 1 structures 1 and 2 (4.1 nats per image
    against 1.6: splitting a pure class also fits some noise). With every structure its own class the gains
    are alike."""
    g = torch.Generator().manual_seed(0)
    v, n = 300, 200
    maps = torch.randn(v, generator=g) + 0.5 * torch.randn(3, v, generator=g)
    truth = np.repeat(np.arange(3), n)
    seen = (torch.rand(len(truth), v, generator=g) < 1 / 3).float()
    b = seen * (0.2 + torch.rand(len(truth), v, generator=g))
    a = b * maps[truth] + b.sqrt() * torch.randn(len(truth), v, generator=g)
    classes = np.minimum(truth, 1)
    gains = split_gain.split_gains(a, b, classes, split_gain.own_scores(a, b, classes), noise_var=1.0)
    assert gains[1] > 2 * gains[0] and gains[1] - gains[0] > 1.5
    np.testing.assert_allclose(split_gain.purity(classes, truth), [1.0, 0.5])
    pure = split_gain.split_gains(a, b, truth, split_gain.own_scores(a, b, truth), noise_var=1.0)
    assert pure.max() < 1.3 * pure.min()
