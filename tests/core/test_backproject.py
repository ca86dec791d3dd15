"""Backprojection reproduces a map from its noise-free projections (shifted, with CTF)."""

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from napari_cryohype.core import fourier, lattice, metrics
from napari_cryohype.core.backproject import Backprojector, backproject, backproject_labels
from napari_cryohype.core.ctf import ctf_from_table
from napari_cryohype.core.io.types import Poses
from napari_cryohype.core.rotation import random_rotations
from tests.conftest import asymmetric_volume

D, N = 24, 120


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def ctf_table(n: int, rng: np.random.Generator) -> np.ndarray:
    ctf = np.zeros((n, 9), np.float32)
    ctf[:, 0], ctf[:, 1] = D, 3.0
    ctf[:, 2] = rng.uniform(10000, 25000, n)
    ctf[:, 3] = ctf[:, 2] + rng.uniform(-500, 500, n)
    ctf[:, 4] = rng.uniform(0, 180, n)
    ctf[:, 5], ctf[:, 6], ctf[:, 7] = 300, 2.7, 0.1
    return ctf


def simulate(vol: torch.Tensor, rots: torch.Tensor, shifts: torch.Tensor, ctf: np.ndarray) -> np.ndarray:
    """Positive-contrast images: projection moved by ``shifts`` pixels, times the CTF."""
    freqs = lattice.slice_coords(D)[:, :2]
    ht = fourier.symmetrize_ht(fourier.ht2_center(lattice.project_volume(vol, rots))).reshape(len(rots), -1)
    ht = lattice.translate_ht(ht, freqs, shifts) * ctf_from_table(torch.from_numpy(ctf), freqs)
    return fourier.iht2_center(ht.reshape(-1, D + 1, D + 1)[:, :-1, :-1]).numpy()


@dataclass
class ArrayDataset:
    """In-memory stand-in with the attributes of a ParticleDataset that backproject() reads."""

    particles: np.ndarray
    poses: Poses
    ctf: np.ndarray
    has_ctf: bool = True

    D = D

    def __len__(self) -> int:
        return len(self.particles)


@pytest.fixture(scope="module")
def stack():
    """Two maps, N images each, moved by up to 4 pixels and multiplied by their CTF."""
    rng = np.random.default_rng(1)
    maps = [asymmetric_volume(D, sigma=2.0).float(), asymmetric_volume(D, sigma=2.0).flip(0, 2).float()]
    rots = random_rotations(2 * N, rng).astype(np.float32)
    shifts = rng.uniform(-4, 4, (2 * N, 2)).astype(np.float32)
    ctf = ctf_table(2 * N, rng)
    images = np.concatenate([simulate(m, torch.from_numpy(rots[i * N:(i + 1) * N]),
                                      torch.from_numpy(shifts[i * N:(i + 1) * N]), ctf[i * N:(i + 1) * N])
                             for i, m in enumerate(maps)])
    dataset = ArrayDataset(images, Poses(rots=rots, trans=-shifts / D), ctf)
    return SimpleNamespace(maps=[m.numpy() for m in maps], dataset=dataset, labels=np.repeat([0, 1], N))


def test_noise_free_projections_give_back_the_map():
    rng = np.random.default_rng(0)
    vol = asymmetric_volume(D, sigma=2.0).float()
    rots = torch.from_numpy(random_rotations(N, rng)).float()
    for interpolation in ("trilinear", "nearest"):
        bp = Backprojector(D, interpolation=interpolation)
        bp.add(lattice.project_volume(vol, rots), rots)
        out = bp.volume()
        assert out.shape == (D, D, D) and out.dtype == np.float32
        assert correlation(out, vol.numpy()) > 0.98
        assert metrics.fsc_auc(vol.numpy(), out) > 0.6
        assert out.sum() == pytest.approx(vol.sum().item(), rel=0.1)  # the projections' scale is kept


def test_shifts_and_ctf_are_undone_per_label(stack):
    vols = backproject_labels(stack.dataset, stack.labels)
    assert sorted(vols) == [0, 1]
    for label, truth in enumerate(stack.maps):
        assert correlation(vols[label], truth) > 0.95
        assert correlation(vols[label], stack.maps[1 - label]) < 0.8  # the labels were kept apart
    # ignoring the shifts or the CTF breaks it: the test can tell
    trans = stack.dataset.poses.trans.copy()
    stack.dataset.poses.trans[:] = 0
    try:
        assert correlation(backproject(stack.dataset, np.arange(N)), stack.maps[0]) < 0.95
    finally:
        stack.dataset.poses.trans[:] = trans
    stack.dataset.has_ctf = False
    try:
        assert correlation(backproject(stack.dataset, np.arange(N)), stack.maps[0]) < 0.95
    finally:
        stack.dataset.has_ctf = True


def test_progress_counts_images_and_batches_do_not_matter(stack):
    seen = []
    whole = backproject(stack.dataset, np.arange(N), batch_size=N)
    batched = backproject(stack.dataset, np.arange(N), batch_size=7, progress=lambda k, n: seen.append((k, n)))
    np.testing.assert_allclose(batched, whole, atol=1e-5 * np.abs(whole).max())
    assert seen[-1] == (N, N) and len(seen) == -(-N // 7)


def test_bad_input_is_refused(stack):
    with pytest.raises(ValueError, match="one label per image"):
        backproject_labels(stack.dataset, stack.labels[:-1])
    with pytest.raises(ValueError, match="images"):
        Backprojector(D).add(np.zeros((2, D + 2, D + 2)), np.eye(3)[None].repeat(2, 0))


def test_simulated_mixture_is_reconstructed_per_label(tmp_path):
    """The simulator's noise-free stack (shifts, CTF) backprojected with the true labels gives its maps."""
    from napari_cryohype.core.io.dataset import ParticleDataset
    from napari_cryohype.core.io.mrc import read_volume
    from napari_cryohype.core.simulate import bundled_structures, simulate_mixture

    simulate_mixture(tmp_path, bundled_structures()[:2], 80, 32, 4.0, shift_std=2.0, seed=0)
    dataset = ParticleDataset(tmp_path / "particles.mrcs", tmp_path / "poses.pkl", tmp_path / "ctf.pkl")
    vols = backproject_labels(dataset, np.load(tmp_path / "labels.npy"))
    for path in sorted((tmp_path / "volumes").glob("*.mrc")):
        truth, apix = read_volume(path)
        label = int(path.name[:3])
        assert correlation(vols[label], truth) > 0.95
        assert metrics.fsc_auc(truth, vols[label]) > 0.9
        assert metrics.volume_iou(truth, vols[label]) > 0.85


def test_samples_on_the_nyquist_sphere_wrap_around():
    """A sample at frequency +1/2 (grid position D, or a hair beyond) lands on -1/2 (index 0)."""
    for interpolation in ("trilinear", "nearest"):
        bp = Backprojector(4, interpolation=interpolation)
        bp._splat(torch.tensor([[[4.0 + 1e-6, 2.0, 2.0], [2.0, 2.0, 2.0]]]), torch.tensor([3.0, 5.0]),
                  torch.ones(2))
        grid = bp._fold(bp.num)[0]
        assert grid[2, 2, 0] == pytest.approx(3.0) and grid[2, 2, 2] == pytest.approx(5.0)
        assert grid.sum() == pytest.approx(8.0)


def test_cli_takes_the_ctf_values_a_star_lacks_as_train_does(tmp_path, rng, capsys):
    """A RELION 3.0 file without _rlnAmplitudeContrast: the error says to give -w, and -w is accepted (with
    the rest of train's CTF options, from the one shared definition) and said when used."""
    from napari_cryohype.cli import build_parser, main
    from napari_cryohype.core.io.mrc import read_volume, write_mrc
    from tests.core.test_io_star import D as STAR_D
    from tests.core.test_io_star import write_without_amplitude_contrast

    write_mrc(tmp_path / "stack.mrcs", rng.standard_normal((3, STAR_D, STAR_D)).astype(np.float32), 2.0)
    star = tmp_path / "p.star"
    write_without_amplitude_contrast(star)
    base = ["backproject", str(tmp_path / "bp"), "--particles", str(star), "--poses", str(star), "--ctf", str(star)]
    assert main(base) == 2
    assert "_rlnAmplitudeContrast (or give -w/--amp-contrast)" in capsys.readouterr().err
    assert main([*base, "-w", "1.5"]) == 2 and "-w 1.5 is not a valid value" in capsys.readouterr().err
    assert main([*base, "-w", "0.1", "--kv", "200"]) == 0
    err = capsys.readouterr().err
    assert f"-w/--amp-contrast 0.1 used: {star} has no _rlnAmplitudeContrast" in err and "--kv 200 not used" in err
    volume, apix = read_volume(tmp_path / "bp" / "backproject" / "volume.mrc")
    assert volume.shape == (STAR_D,) * 3 and np.isfinite(volume).all() and apix == pytest.approx(2.0)

    subcommands = build_parser()._subparsers._group_actions[0].choices
    ctf_options = {cmd: {opt for a in subcommands[cmd]._actions if a.dest in ("kv", "cs", "w", "ps", "apix")
                         for opt in a.option_strings} for cmd in ("train", "backproject")}
    assert ctf_options["train"] == ctf_options["backproject"] == {"--kv", "--cs", "-w", "--amp-contrast", "--ps",
                                                                   "--Apix"}


def test_maps_of_several_classes_are_each_the_backprojection_of_their_own_images(rng):
    """One Backprojector with ``n_maps`` gives, per map, exactly the map of a Backprojector fed that map's
    images alone (offsets into the shared accumulator go to the right map)."""
    D, n = 8, 12
    images = rng.standard_normal((n, D, D)).astype(np.float32)
    rots = np.stack([np.linalg.qr(rng.standard_normal((3, 3)))[0] for _ in range(n)]).astype(np.float32)
    maps = np.arange(n) % 3
    many = Backprojector(D, n_maps=3)
    many.add(images, rots, maps=maps)
    for m in range(3):
        one = Backprojector(D)
        one.add(images[maps == m], rots[maps == m])
        np.testing.assert_allclose(many.volumes()[m], one.volume(), atol=1e-6)
    with pytest.raises(ValueError, match="below 3"):
        many.add(images[:2], rots[:2], maps=np.array([0, 3]))


def test_an_image_added_with_a_weight_counts_that_share_of_it(rng):
    """Weighted observations (a class's posterior share of each image) scale both sums: an image added at
    weights 0.25 and 0.75 is the image added once; at weight 0.5 its sums are halved."""
    D, n = 8, 6
    images = rng.standard_normal((n, D, D)).astype(np.float32)
    rots = torch.as_tensor(np.stack([np.linalg.qr(rng.standard_normal((3, 3)))[0] for _ in range(n)]),
                           dtype=torch.float32)
    once, parts, half = Backprojector(D), Backprojector(D), Backprojector(D)
    once.add(images, rots)
    y, _ = once.observe(images)
    freqs = once.coords[once.mask] @ rots
    for w in (0.25, 0.75):
        parts.add_observed(freqs, y, torch.ones_like(y), weights=torch.full((n,), w))
    half.add_observed(freqs, y, torch.ones_like(y), weights=torch.full((n,), 0.5))
    for a, b in zip(parts.sums(), once.sums()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    for a, b in zip(half.sums(), once.sums()):
        torch.testing.assert_close(2 * a, b, rtol=1e-5, atol=1e-5)
