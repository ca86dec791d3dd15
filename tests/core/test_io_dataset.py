"""load_particles / load_poses / load_ctf dispatch and ParticleDataset validation."""

import pickle
import tracemalloc

import numpy as np
import pytest
import torch

from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.dataset import ParticleDataset, check_rotations, load_ctf, load_particles, load_poses
from napari_cryohype.core.io.mrc import write_mrc
from napari_cryohype.core.io.pkl import save_ctf_pkl, save_poses_pkl
from napari_cryohype.core.io.types import Poses
from napari_cryohype.core.rotation import random_rotations

N, D, APIX = 5, 16, 2.0


@pytest.fixture
def files(tmp_path, rng):
    """particles.mrcs, poses.pkl, ctf.pkl for N images; returns (paths, images, poses, ctf)."""
    images = rng.standard_normal((N, D, D)).astype(np.float32)
    poses = Poses(random_rotations(N, rng), rng.uniform(-0.1, 0.1, (N, 2)))
    ctf = np.column_stack([np.full(N, D), np.full(N, APIX), rng.uniform(1e4, 2e4, (N, 2)), np.zeros(N),
                           np.full(N, 300), np.full(N, 2.7), np.full(N, 0.1), np.zeros(N)]).astype(np.float32)
    write_mrc(tmp_path / "particles.mrcs", images, APIX)
    save_poses_pkl(tmp_path / "poses.pkl", poses)
    save_ctf_pkl(tmp_path / "ctf.pkl", ctf)
    paths = tmp_path / "particles.mrcs", tmp_path / "poses.pkl", tmp_path / "ctf.pkl"
    return paths, images, poses, ctf


def test_item_has_the_agreed_keys_shapes_and_pixel_shifts(files):
    (particles, poses_pkl, ctf_pkl), images, poses, ctf = files
    ds = ParticleDataset(particles, poses_pkl, ctf_pkl)
    assert (len(ds), ds.D, ds.apix, ds.has_ctf) == (N, D, APIX, True)
    item = ds[3]
    assert set(item) == {"image", "rot", "trans", "ctf", "index"}
    for key, shape in [("image", (D, D)), ("rot", (3, 3)), ("trans", (2,)), ("ctf", (9,))]:
        assert item[key].shape == shape and item[key].dtype == torch.float32
    assert item["index"].dtype == torch.int64 and int(item["index"]) == 3
    np.testing.assert_array_equal(item["image"].numpy(), images[3])
    np.testing.assert_allclose(item["trans"].numpy(), poses.trans[3] * D, rtol=1e-6)  # pixels
    np.testing.assert_allclose(item["ctf"].numpy(), ctf[3])


def test_loaded_objects_and_no_ctf(files):
    (particles, poses_pkl, _), images, poses, _ = files
    ds = ParticleDataset(load_particles(particles), poses)
    assert not ds.has_ctf and ds.ctf is None and ds.apix == APIX
    assert torch.count_nonzero(ds[0]["ctf"]) == 0


def test_dataloader_workers_get_a_picklable_dataset(files):
    (particles, poses_pkl, ctf_pkl), images, _, _ = files
    ds = ParticleDataset(particles, poses_pkl, ctf_pkl)
    ds[0]  # open the memory map in this process first
    clone = pickle.loads(pickle.dumps(ds))  # what a spawned worker receives
    np.testing.assert_array_equal(clone[2]["image"].numpy(), images[2])
    assert (clone.D, clone.apix, clone.has_ctf) == (ds.D, ds.apix, True)
    loader = torch.utils.data.DataLoader(ds, batch_size=N, num_workers=1)
    batch = next(iter(loader))
    assert batch["image"].shape == (N, D, D) and batch["rot"].shape == (N, 3, 3)
    np.testing.assert_array_equal(batch["image"].numpy(), images)
    assert batch["index"].tolist() == list(range(N))


@pytest.mark.parametrize("loader, name", [(load_particles, "x.png"), (load_poses, "x.npy"), (load_ctf, "x.csv")])
def test_unknown_suffix_names_supported_formats(tmp_path, loader, name):
    with pytest.raises(InputError, match=f"{name}.*unsupported.*supported: .*\\.star"):
        loader(tmp_path / name)


def test_count_mismatch_names_both_files_and_counts(files):
    (particles, _, ctf_pkl), _, poses, ctf = files
    short = particles.parent / "short_poses.pkl"
    save_poses_pkl(short, poses.subset(np.arange(4)))
    with pytest.raises(InputError, match="4 poses in .*short_poses.pkl but 5 images in .*particles.mrcs"):
        ParticleDataset(particles, short)
    save_ctf_pkl(particles.parent / "short_ctf.pkl", ctf[:3])
    with pytest.raises(InputError, match="3 CTF rows in .*short_ctf.pkl but 5 images in .*particles.mrcs"):
        ParticleDataset(particles, poses, particles.parent / "short_ctf.pkl")


def test_nan_in_poses_or_ctf(files):
    (particles, _, _), _, poses, ctf = files
    bad = Poses(poses.rots, poses.trans.copy())
    bad.trans[2, 0] = np.nan
    save_poses_pkl(particles.parent / "nan_poses.pkl", bad)
    with pytest.raises(InputError, match="nan_poses.pkl.*pose 2.*NaN"):
        ParticleDataset(particles, particles.parent / "nan_poses.pkl")
    ctf = ctf.copy()
    ctf[1, 2] = np.inf
    save_ctf_pkl(particles.parent / "inf_ctf.pkl", ctf)
    with pytest.raises(InputError, match="inf_ctf.pkl.*particle 1"):
        ParticleDataset(particles, poses, particles.parent / "inf_ctf.pkl")


@pytest.mark.parametrize("change, problem", [
    (lambda r: r * 1.1, "not orthonormal"),
    (lambda r: r * np.array([1, 1, -1]), "reflection"),
])
def test_matrices_that_are_not_rotations(files, change, problem):
    (particles, _, _), _, poses, _ = files
    rots = poses.rots.copy()
    rots[4] = change(rots[4])
    save_poses_pkl(particles.parent / "bad_rots.pkl", Poses(rots, poses.trans))
    with pytest.raises(InputError, match=f"bad_rots.pkl.*pose 4, is .*{problem}"):
        ParticleDataset(particles, particles.parent / "bad_rots.pkl")


def test_rotations_are_checked_in_chunks_with_the_same_answer(rng):
    rots = random_rotations(10, rng).astype(np.float32)
    check_rotations(rots, "ok", chunk=3)
    rots[[5, 9]] *= np.array([1, 1, -1], dtype=np.float32)
    with pytest.raises(InputError, match="2 pose matrices are not rotations; the first, pose 5, is a reflection"):
        check_rotations(rots, "bad", chunk=3)


def test_checking_a_million_rotations_needs_little_memory():
    """The float64 work arrays are one chunk's, not (N, 3, 3) copies (~250 MB at a million poses)."""
    rots = np.broadcast_to(np.eye(3, dtype=np.float32), (1_000_000, 3, 3))
    tracemalloc.start()
    check_rotations(rots, "many")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 40e6


def test_pixel_size_must_agree_with_the_stack_header(files):
    (particles, poses_pkl, _), _, _, ctf = files
    wrong = ctf.copy()
    wrong[:, 1] = 3.0
    save_ctf_pkl(particles.parent / "wrong_apix.pkl", wrong)
    with pytest.raises(InputError, match="wrong_apix.pkl.*CTF gives 3 Å/px.*particles.mrcs says 2 Å/px"):
        ParticleDataset(particles, poses_pkl, particles.parent / "wrong_apix.pkl")


def test_header_pixel_size_of_one_counts_as_unset(files, tmp_path):
    (particles, poses_pkl, ctf_pkl), images, _, _ = files
    write_mrc(tmp_path / "apix1.mrcs", images, 1.0)
    assert ParticleDataset(tmp_path / "apix1.mrcs", poses_pkl, ctf_pkl).apix == APIX


def test_ctf_for_a_larger_box_is_rescaled_like_cryodrgn(files):
    """A stack downsampled from 32 to 16 px keeps its original CTF table (D=32, 1 Å/px): 2 Å/px at 16 px."""
    (particles, poses_pkl, _), _, _, ctf = files
    original = ctf.copy()
    original[:, 0], original[:, 1] = 32, 1.0
    ds = ParticleDataset(particles, poses_pkl, original)
    assert ds.apix == pytest.approx(2.0)
    np.testing.assert_allclose(ds.ctf[:, :2], [[D, 2.0]] * N)
    np.testing.assert_allclose(ds.ctf[:, 2:], ctf[:, 2:])


def test_odd_box_is_rejected(tmp_path, rng):
    write_mrc(tmp_path / "odd.mrcs", np.zeros((2, 15, 15)), 1.0)
    with pytest.raises(InputError, match="odd.mrcs.*even"):
        ParticleDataset(tmp_path / "odd.mrcs", Poses(np.eye(3)[None].repeat(2, 0), np.zeros((2, 2))))


def test_star_dataset_end_to_end(tmp_path, rng):
    images = rng.standard_normal((2, D, D)).astype(np.float32)
    write_mrc(tmp_path / "stack.mrcs", images, APIX)
    (tmp_path / "p.star").write_text(
        "data_optics\n\nloop_\n_rlnOpticsGroup\n_rlnVoltage\n_rlnSphericalAberration\n_rlnAmplitudeContrast\n"
        f"_rlnImagePixelSize\n_rlnImageSize\n1 300 2.7 0.1 {APIX} {D}\n\n"
        "data_particles\n\nloop_\n_rlnImageName\n_rlnAngleRot\n_rlnAngleTilt\n_rlnAnglePsi\n_rlnOriginXAngst\n"
        "_rlnOriginYAngst\n_rlnDefocusU\n_rlnDefocusV\n_rlnDefocusAngle\n_rlnOpticsGroup\n"
        "2@stack.mrcs 90 0 0 4.0 -2.0 15000 14000 0 1\n1@stack.mrcs 0 0 0 0 0 16000 15000 0 1\n")
    star = tmp_path / "p.star"
    ds = ParticleDataset(star, star, star)
    item = ds[0]
    np.testing.assert_array_equal(item["image"].numpy(), images[1])
    np.testing.assert_allclose(item["trans"].numpy(), [2.0, -1.0])  # 4 Å / 2 Å/px, in pixels
    np.testing.assert_allclose(item["rot"].numpy(), [[0, 1, 0], [-1, 0, 0], [0, 0, 1]], atol=1e-7)
    assert ds.apix == APIX and float(item["ctf"][2]) == 15000


def test_header_pixel_size_of_one_means_unset_everywhere(files, tmp_path):
    """One rule: a stack header's 1.0 (or 0) is never a real pixel size; --Apix fills it, and is said."""
    (particles, poses_pkl, ctf_pkl), images, _, _ = files
    write_mrc(tmp_path / "apix1.mrcs", images, 1.0)
    assert ParticleDataset(tmp_path / "apix1.mrcs", poses_pkl).apix == 1.0  # the fallback label, not a claim
    ds = ParticleDataset(tmp_path / "apix1.mrcs", poses_pkl, ctf_defaults={"apix": 2.5})
    assert ds.apix == 2.5 and ds.ctf_notes == [f"--Apix 2.5 used: {tmp_path / 'apix1.mrcs'} has no pixel size in "
                                               "its header (0 or 1.0 mean unset)"]
    ds = ParticleDataset(particles, poses_pkl, ctf_defaults={"apix": 2.5})  # a real header wins
    assert ds.apix == APIX and ds.ctf_notes == ["--Apix 2.5 not used: the files give their own value"]


def test_ctf_defaults_need_a_ctf_file(files):
    (particles, poses_pkl, _), _, _, _ = files
    with pytest.raises(InputError, match="no CTF file is given"):
        ParticleDataset(particles, poses_pkl, ctf_defaults={"w": 0.1})
