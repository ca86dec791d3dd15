"""3D classification in the lift encoder's grid (benchmarks/studies/lift_classes.py)."""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "studies"))
import lift_classes  # noqa: E402
from assignment_bound import own_share  # noqa: E402


def _lifted(n_per: int = 150, k: int = 5, v: int = 400, seed: int = 0):
    """Lifted images of k alike structures (templates (k, v)): each image sees a random third of the grid
    (lift(c^2) = its CTF squared there), lift(c y) = c^2 T + white noise of variance c^2."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(v, generator=g)
    maps = base + 0.35 * torch.randn(k, v, generator=g)
    truth = np.repeat(np.arange(k), n_per)
    seen = (torch.rand(len(truth), v, generator=g) < 1 / 3).float()
    b = seen * (0.2 + torch.rand(len(truth), v, generator=g))
    a = b * maps[truth] + b.sqrt() * torch.randn(len(truth), v, generator=g)
    return a, b, truth


def test_classes_from_the_truth_stay_and_soft_assignment_repairs_random_seeds():
    a, b, truth = _lifted()
    kept, _ = lift_classes.classify_lifted(a, b, truth, None, 20)
    assert own_share(kept, truth) > 0.95
    rng = np.random.default_rng(0)
    seeds = np.where(rng.random(len(truth)) < 0.6, rng.integers(0, 5, len(truth)), truth)
    assert own_share(seeds, truth) < 0.6
    soft, made = lift_classes.classify_lifted(a, b, seeds, 0.5, 20)
    assert made == 20 and own_share(soft, truth) > 0.9
    top, _ = lift_classes.classify_lifted(a, b, seeds, 0.5, 20, spread=2)   # each image's two likeliest only
    assert own_share(top, truth) > 0.9


def test_stages_run_one_after_another_and_are_recorded_once(tmp_path):
    a, b, truth = _lifted(n_per=40, k=3, v=200)
    seeds = {"truth": truth, "clusters": truth[::-1].copy()}
    r = lift_classes.study(a, b, seeds, truth, "mix", "m", "truth", "0.5>hard", 3)
    assert r["passes_made"] >= 4 and r["seeds"]["ari"] == 1.0 and r["classes"]["ari"] > 0.7
    assert "soft, power 0.5, then hard" in lift_classes.markdown([r])


def test_the_sliced_square_is_the_square_of_the_sampled_map():
    """``--energy slice``: sum c^2 t^2 with t the map sampled at the image's points. A constant map samples to
    that constant everywhere inside the grid, so the term is sum c^2 times its square, as the grid's; for any
    other map it is at most the grid's (the square of a weighted mean is at most the mean square)."""
    from napari_cryohype.core.models.lift import SliceLift
    lift = SliceLift(16, 4.0)
    g = torch.Generator().manual_seed(0)
    rots = torch.linalg.qr(torch.randn(6, 3, 3, generator=g)).Q
    c2 = torch.rand(6, len(lift.pixels), generator=g)
    sliced = lift_classes.SlicedSquare(lift, c2, rots)
    b = lift.place(c2, rots)
    const = torch.full((1, lift.n_voxels), 2.0)
    torch.testing.assert_close(sliced(const, torch.arange(6)), 4 * c2.sum(1, keepdim=True))
    maps = torch.randn(3, lift.n_voxels, generator=g)
    assert (sliced(maps, torch.arange(6)) < b @ (maps * maps).T).all()
