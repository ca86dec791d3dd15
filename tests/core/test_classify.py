"""3D classification with the poses fixed: seeded with labels half of which are wrong, it finds every image's
structure on a simulated mixture (noise, CTF, shifts), as least squares against the classes' maps."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import torch

from napari_cryohype.cli import main
from napari_cryohype.core import lattice
from napari_cryohype.core.analysis import adjusted_rand_index
from napari_cryohype.core.backproject import Backprojector, dataset_batches
from napari_cryohype.core.classify import ClassGrid, classify, scores
from napari_cryohype.core.io.dataset import ParticleDataset
from napari_cryohype.core.models.slices import soft_window
from napari_cryohype.core.simulate import bundled_structures

STRUCTURES = ("1CLV", "2OOB", "2W9E")


@pytest.fixture(scope="module")
def mixture(tmp_path_factory):
    """Three bundled structures, 80 noisy images each (SNR 0.1), 32 px at 6 Å, 2 px shifts, CTF:
    (dataset, true labels)."""
    out = tmp_path_factory.mktemp("classify") / "data"
    files = [str(p) for p in bundled_structures() if p.name.split(".")[0] in STRUCTURES]
    assert main(["simulate", str(out), "--structures", *files, "-M", "80", "-D", "32", "--apix", "6",
                 "--snr", "0.1", "--shift-std", "2", "--seed", "0", "--threads", "1"]) == 0
    data = ParticleDataset(out / "particles.mrcs", out / "poses.pkl", out / "ctf.pkl", invert_data=None)
    return data, np.load(out / "labels.npy")


def test_the_grid_scores_are_the_slices_least_squares(mixture):
    """Placing c y and c^2 in the grid and taking inner products with a map there is slicing the map at the
    image's pose: the cross term is sum c y t and the energy term sum c^2 (t^2 sliced), with t the map
    sampled at the image's points as the decoder samples a volume (``lattice.sample_volumes``), the images
    observed as the backprojector does (shift undone, CTF), windowed. A transposed rotation, a shift of the
    wrong sign or a dropped CTF in the grid breaks it."""
    data, _ = mixture
    D, radius = data.D, 5.0
    grid = ClassGrid(D, radius, torch.device("cpu"))
    idx, images, rots, trans, ctf = next(dataset_batches(data, np.arange(12), 12))
    a, b, energy = grid.place(images, rots, trans, ctf)
    maps = torch.randn(2, grid.n_voxels, generator=torch.Generator().manual_seed(0))
    s = grid.lift.size
    cube = torch.zeros(2, s**3)
    cube[:, grid.voxels] = maps
    volumes = torch.zeros(2, D, D, D)
    lo = D // 2 - (grid.lift.half + 1)
    volumes[:, lo:lo + s, lo:lo + s, lo:lo + s] = cube.reshape(2, s, s, s)
    bp = Backprojector(D)
    y, c = bp.observe(images * soft_window(D).numpy(), trans, ctf)
    points = bp.coords[bp.mask]
    keep = points[:, :2].pow(2).sum(-1) * D * D <= radius**2 + 1e-6
    y, c, points = y[:, keep], c[:, keep], points[keep]
    rots = torch.as_tensor(rots)
    t = torch.stack([lattice.sample_volumes(volumes, points @ r) for r in rots], 1)          # (2, B, P)
    t2 = torch.stack([lattice.sample_volumes(volumes**2, points @ r) for r in rots], 1)
    cross = torch.einsum("kbp,bp->bk", t, c * y)
    square = torch.einsum("kbp,bp->bk", t2, c * c)
    scale = float(cross.abs().max())
    torch.testing.assert_close(a @ maps.T, cross, rtol=0, atol=1e-4 * scale)
    torch.testing.assert_close(scores(a, b, maps), cross - square / 2, rtol=0, atol=1e-4 * scale)
    torch.testing.assert_close(energy, y.pow(2).sum(-1), rtol=1e-4, atol=0)
    assert (square > torch.einsum("kbp,bp->bk", t**2, c * c)).all()   # the squared map's slice, not the slice squared


def _half_wrong(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    seeds = labels.copy()
    wrong = rng.random(len(labels)) < 0.5
    seeds[wrong] = rng.integers(0, 3, wrong.sum())
    return seeds + 10   # the classes keep the seeds' ids, whatever they are


def test_seeded_half_wrong_it_finds_every_images_structure(mixture):
    data, labels = mixture
    seeds = _half_wrong(labels)
    assert adjusted_rand_index(seeds, labels) < 0.3
    out = classify(data, seeds, iterations=10)
    assert set(np.unique(out.labels)) <= {10, 11, 12}
    assert (out.labels - 10 == labels).mean() > 0.97
    assert out.changed[0] > 0.2 * len(labels) and out.changed[-1] <= 0.001 * len(labels)
    assert out.margin.shape == labels.shape and (out.margin >= 0).all()


@pytest.fixture(scope="module")
def five(tmp_path_factory):
    """The five bundled structures, 80 noisier images each (SNR 0.05), otherwise as ``mixture``."""
    out = tmp_path_factory.mktemp("classify5") / "data"
    files = [str(p) for p in bundled_structures()]
    assert main(["simulate", str(out), "--structures", *files, "-M", "80", "-D", "32", "--apix", "6",
                 "--snr", "0.05", "--shift-std", "2", "--seed", "0", "--threads", "1"]) == 0
    data = ParticleDataset(out / "particles.mrcs", out / "poses.pkl", out / "ctf.pkl", invert_data=None)
    return data, np.load(out / "labels.npy")


def test_soft_assignment_sorts_what_hard_assignment_leaves_mixed(five):
    """Seeds 80% at random: hard assignment settles with mixed classes (ARI 0.60); the default, adding each
    image to every class in proportion to its tempered posterior (power 0.5), gets nearer the structures
    (0.69). With the soft branch ignored both are the same; with every weight 1, worse than hard."""
    data, labels = five
    rng = np.random.default_rng(0)
    seeds = labels.copy()
    wrong = rng.random(len(labels)) < 0.8
    seeds[wrong] = rng.integers(0, 5, wrong.sum())
    hard = adjusted_rand_index(classify(data, seeds, soft=None).labels, labels)
    soft = adjusted_rand_index(classify(data, seeds).labels, labels)
    assert soft > 0.65 and soft > hard + 0.05


def test_a_sharp_posterior_is_hard_assignment(mixture):
    data, labels = mixture
    seeds = _half_wrong(labels)
    hard = classify(data, seeds, iterations=3, soft=None)
    sharp = classify(data, seeds, iterations=3, soft=1e6)
    np.testing.assert_array_equal(sharp.labels, hard.labels)
    assert sharp.changed == hard.changed
    with pytest.raises(ValueError, match="soft"):
        classify(data, seeds, soft=0)


def test_one_class_or_wrong_length_seeds(mixture):
    data, labels = mixture
    assert (classify(data, np.full(len(labels), 4)).labels == 4).all()
    with pytest.raises(ValueError, match="one class per image"):
        classify(data, labels[:-1])
    with pytest.raises(ValueError, match="radius"):
        classify(data, labels, radius=1.5)


class _Images:
    """The images ``idx`` of a dataset, times ``scale``: what :func:`classify` reads of a dataset."""

    def __init__(self, data: ParticleDataset, idx: np.ndarray, scale: float = 1.0):
        self.D, self.has_ctf = data.D, data.has_ctf
        self.particles = np.asarray(data.particles[idx]) * np.float32(scale)
        self.poses = SimpleNamespace(rots=data.poses.rots[idx], trans=data.poses.trans[idx])
        self.ctf = data.ctf[idx]

    def __len__(self) -> int:
        return len(self.particles)


def test_margins_are_log_likelihood_ratios_whatever_the_images_scale(mixture):
    """The margin is in nats, not in the images' squared units: images 10 times brighter give the same
    margins (raw score differences would grow 100 times). Images of distinct structures are surer of their
    class (median 48 nats) than the images of one structure split at random into two classes of 40 (median
    11 nats, not 0: each image is one fortieth of its own class's map)."""
    data, labels = mixture
    every = np.arange(len(labels))
    out = classify(_Images(data, every), labels, iterations=1)
    brighter = classify(_Images(data, every, 10.0), labels, iterations=1)
    np.testing.assert_allclose(brighter.margin, out.margin, rtol=1e-3, atol=1e-3)
    one = np.flatnonzero(labels == 0)
    halves = (np.random.default_rng(0).random(len(one)) < 0.5).astype(int)
    split = classify(_Images(data, one), halves, iterations=1)
    assert np.median(out.margin) > 2 * np.median(split.margin)
