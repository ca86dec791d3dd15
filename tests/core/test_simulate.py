"""The simulator: output files, cryoDRGN's projection/shift/CTF conventions, noise, seeds, refusals, CLI."""

import json
import math

import mrcfile
import numpy as np
import pytest
import torch

from napari_cryohype.cli import main
from napari_cryohype.core import fourier, lattice
from napari_cryohype.core.atoms import read_atoms
from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.mrc import read_volume
from napari_cryohype.core.io.pkl import load_ctf_pkl, load_poses_pkl
from napari_cryohype.core.simulate import bundled_structures, density_map, simulate_mixture

D, APIX, M = 32, 6.0, 6


def pick(*names):
    return [p for p in bundled_structures() if p.name.split(".")[0] in names]


SMALL = pick("2OOB", "3H2V", "1IRA")  # 864 to 1721 atoms, all inside a 192 Å box


def simulate(tmp_path, name="sim", structures=SMALL, **kw):
    kw.setdefault("seed", 1)
    return simulate_mixture(tmp_path / name, structures, kw.pop("M", M), kw.pop("D", D), kw.pop("apix", APIX), **kw)


def stack(result):
    with mrcfile.open(result.particles, permissive=True) as mrc:
        return np.array(mrc.data), float(mrc.voxel_size.x)


def test_bundled_structures_fit_a_32_px_6_A_box():
    paths = bundled_structures()
    assert 4 <= len(paths) <= 6 and sum(p.stat().st_size for p in paths) < 300_000
    for p in paths:
        assert 2 * read_atoms(p).radius <= 32 * 6.0


def test_outputs_read_back_with_shapes_dtypes_voxel_size_and_labels(tmp_path):
    calls = []
    r = simulate(tmp_path, shift_std=2.0, snr=1.0, progress=lambda done, total: calls.append((done, total)))
    n = len(SMALL) * M
    images, apix = stack(r)
    assert images.shape == (n, D, D) and images.dtype == np.float32 and apix == pytest.approx(APIX)
    poses = load_poses_pkl(r.poses)
    assert poses.rots.shape == (n, 3, 3) and poses.trans.shape == (n, 2)
    np.testing.assert_allclose(poses.rots @ poses.rots.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (n, 3, 3)),
                               atol=1e-5)
    ctf = load_ctf_pkl(r.ctf)
    assert ctf.shape == (n, 9)
    np.testing.assert_allclose(ctf[:, [0, 1, 5, 6, 7]], np.broadcast_to([D, APIX, 300, 2.7, 0.1], (n, 5)))
    assert (ctf[:, 2] >= ctf[:, 3]).all() and (9800 <= ctf[:, 3]).all() and (ctf[:, 2] <= 25200).all()
    labels = np.load(r.labels)
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [M] * len(SMALL)
    assert (labels != np.sort(labels)).any()  # shuffled
    assert [p.name for p in r.volumes] == ["000_1IRA.mrc", "001_2OOB.mrc", "002_3H2V.mrc"]
    for p in r.volumes:
        vol, vapix = read_volume(p)
        assert vol.shape == (D, D, D) and vapix == pytest.approx(APIX)
    summary = json.loads(r.summary.read_text())
    assert summary["n_images"] == n and summary["D"] == D and summary["snr"] == 1.0
    assert [s["name"] for s in summary["structures"]] == r.names == ["1IRA", "2OOB", "3H2V"]
    assert summary["structures"][0]["max_extent_A"] == pytest.approx(84.8, abs=0.1)
    assert summary["skipped_oversized"] == [] and summary["ctf"]["applied"]
    assert calls[-1] == (n, n)


def test_density_map_is_centred_and_holds_the_total_weight():
    m = read_atoms(pick("1IRA")[0])
    vol = density_map(m, D, APIX, 3 * APIX)
    assert vol.sum() == pytest.approx(m.weights.sum(), rel=1e-3)
    grid = np.arange(D) - D // 2
    for axis in range(3):  # axes (z, y, x) against coordinates (x, y, z)
        profile = vol.sum(axis=tuple(a for a in range(3) if a != axis))
        assert profile @ grid / profile.sum() == pytest.approx(0, abs=0.05)


def test_images_are_projections_of_the_ground_truth_map_at_the_stored_pose(tmp_path):
    r = simulate(tmp_path, ctf=False)
    images, _ = stack(r)
    poses, labels = load_poses_pkl(r.poses), np.load(r.labels)
    assert (poses.trans == 0).all() and images.min() > -1e-3  # positive contrast without CTF
    for label, path in enumerate(r.volumes):
        vol = torch.from_numpy(read_volume(path)[0]).double()
        rows = np.flatnonzero(labels == label)
        ref = lattice.project_volume(vol, torch.from_numpy(poses.rots[rows]).double()).numpy()
        for a, b in zip(images[rows], ref):
            assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99
            assert a.sum() == pytest.approx(b.sum(), rel=0.02)


def centre_by_translate_ht(images, trans_px):
    """What cryoDRGN's training does: translate the image's Hartley transform by +trans pixels."""
    n = len(images)
    ht = fourier.symmetrize_ht(fourier.ht2_center(torch.from_numpy(images).double())).reshape(n, -1)
    moved = lattice.translate_ht(ht, lattice.slice_coords(D).double()[:, :2], torch.from_numpy(trans_px).double())
    return fourier.iht2_center(moved.reshape(n, D + 1, D + 1)[:, :-1, :-1]).numpy()


def test_shifted_image_is_the_centred_one_moved_by_minus_trans(tmp_path):
    centred, _ = stack(simulate(tmp_path, "a", ctf=False))
    r = simulate(tmp_path, "b", ctf=False, shift_std=3.0)
    shifted, _ = stack(r)
    trans_px = load_poses_pkl(r.poses).trans.astype(np.float64) * D
    assert np.abs(trans_px).max() > 2  # the shifts are not trivial
    assert np.abs(shifted - centred).max() > 0.3 * centred.max()
    recentred = centre_by_translate_ht(shifted, trans_px)
    for a, b in zip(recentred, centred):
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99
    # an integer shift is exact in real space: the stored image is the centred one rolled by -trans
    i = 0
    k = np.round(trans_px[i]).astype(int)
    moved = np.roll(centred[i], (-k[1], -k[0]), axis=(0, 1))
    assert np.corrcoef(moved.ravel(), shifted[i].ravel())[0, 1] > 0.8


def test_ctf_sign_and_seeded_reproducibility(tmp_path):
    plain, _ = stack(simulate(tmp_path, "plain", ctf=False))
    a = simulate(tmp_path, "a")
    with_ctf, _ = stack(a)
    again, _ = stack(simulate(tmp_path, "again", threads=1))  # the same whatever the parallelism
    other, _ = stack(simulate(tmp_path, "other", seed=2))
    np.testing.assert_array_equal(with_ctf, again)
    assert not np.allclose(with_ctf, other)
    # cryoDRGN's CTF is -w = -0.1 at zero frequency: the image mean is -0.1 times the projection's
    np.testing.assert_allclose(with_ctf.mean((1, 2)), -0.1 * plain.mean((1, 2)), rtol=1e-3)


def test_realized_snr(tmp_path):
    clean, _ = stack(simulate(tmp_path, "clean"))
    r = simulate(tmp_path, "noisy", snr=0.5)
    noisy, _ = stack(r)
    noise = noisy - clean
    assert clean.var() / noise.var() == pytest.approx(0.5, rel=0.05)
    assert noise.std() == pytest.approx(r.noise_std, rel=0.05)
    assert abs(noise.mean()) < 0.05 * noise.std()


def test_no_ctf_writes_no_ctf_table(tmp_path):
    r = simulate(tmp_path, ctf=False)
    assert r.ctf is None and not (r.outdir / "ctf.pkl").exists()
    assert json.loads(r.summary.read_text())["ctf"] == {"applied": False}


def test_oversized_structure_is_an_error_or_skipped_and_reported(tmp_path):
    structures = pick("2OOB", "1IRA")  # rotation-safe boxes 55 Å and 105 Å; the box is 16 x 6 = 96 Å
    with pytest.raises(InputError, match=r"1IRA.*max extent 84\.8 Å, needs 104\.9 Å") as err:
        simulate(tmp_path, structures=structures, D=16)
    assert "96.0 Å" in str(err.value) and not (tmp_path / "sim").exists()
    with pytest.warns(UserWarning, match="1IRA"):
        r = simulate(tmp_path, structures=structures, D=16, skip_oversized=True)
    summary = json.loads(r.summary.read_text())
    assert r.skipped == ["1IRA"] and [s["name"] for s in summary["skipped_oversized"]] == ["1IRA"]
    assert not summary["skipped_oversized"][0]["fits_box"]
    assert r.names == ["2OOB"] and set(np.load(r.labels)) == {0}


def test_non_empty_outdir_needs_force(tmp_path):
    out = tmp_path / "sim"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        simulate(tmp_path)
    r = simulate(tmp_path, force=True)
    assert r.particles.exists() and (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("kw", [dict(D=15), dict(apix=0.0), dict(M=0), dict(resolution=5.0), dict(snr=0.0),
                                dict(defocus_range=(2e4, 1e4)), dict(shift_std=-1.0),
                                dict(threads=0)])
def test_bad_settings_are_input_errors(tmp_path, kw):
    with pytest.raises(InputError):
        simulate(tmp_path, **kw)


def test_missing_structure_is_an_input_error_naming_it(tmp_path):
    with pytest.raises(InputError, match="nope.pdb"):
        simulate(tmp_path, structures=[tmp_path / "nope.pdb"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="empty"):
        simulate(tmp_path, structures=[empty])


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["simulate", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--images-per-structure", "--box", "--apix", "--snr", "--no-ctf", "--defocus-range",
                 "--shift-std", "--skip-oversized", "--force", "labels.npy"):
        assert flag in out


def test_cli_run_and_its_errors(tmp_path, capsys):
    structures_dir = tmp_path / "models"
    structures_dir.mkdir()
    for p in pick("2OOB", "1IRA"):
        (structures_dir / p.name).write_bytes(p.read_bytes())
    args = ["simulate", str(tmp_path / "out"), "--structures", str(structures_dir), "-M", "4", "--box", "16",
            "--apix", "6", "--snr", "inf", "--shift-std", "1", "--threads", "2"]
    assert main(args) == 2  # 1IRA does not fit 96 Å
    assert "1IRA" in capsys.readouterr().err
    assert main(args + ["--skip-oversized"]) == 0
    assert "left out 1 structure(s) larger than the box: 1IRA" in capsys.readouterr().out
    assert len(np.load(tmp_path / "out" / "labels.npy")) == 4
    assert main(args + ["--skip-oversized"]) == 2  # not empty now
    assert main(args + ["--skip-oversized", "--force", "--no-ctf"]) == 0
    assert not (tmp_path / "out" / "ctf.pkl").exists()
    assert math.isinf(float(json.loads((tmp_path / "out" / "simulation.json").read_text())["snr"]))


def test_apply_ctf_equals_the_product_on_the_centred_transform(rng):
    from napari_cryohype.core.ctf import ctf_from_table
    from napari_cryohype.core.simulate import apply_ctf, random_ctf

    images = rng.random((4, D, D)).astype(np.float32)
    table = random_ctf(4, D, APIX, (1e4, 2.5e4), rng)
    k = (torch.arange(D, dtype=torch.float32) - D // 2) / D
    ky, kx = torch.meshgrid(k, k, indexing="ij")
    c = ctf_from_table(torch.from_numpy(table), torch.stack([kx.ravel(), ky.ravel()], -1)).reshape(-1, D, D)
    expected = fourier.ifft2_center(fourier.fft2_center(torch.from_numpy(images)) * c).real.numpy()
    np.testing.assert_allclose(apply_ctf(images, table), expected, atol=1e-5)
