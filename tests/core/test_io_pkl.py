"""cryoDRGN pickles: poses, CTF, indices — round trips, accepted variants, bad input."""

import pickle

import numpy as np
import pytest

from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.pkl import (load_ctf_pkl, load_indices_pkl, load_poses_pkl, save_ctf_pkl,
                                         save_indices_pkl, save_poses_pkl)
from napari_cryohype.core.io.types import Poses
from napari_cryohype.core.rotation import random_rotations


@pytest.fixture
def poses(rng) -> Poses:
    return Poses(random_rotations(5, rng), rng.uniform(-0.1, 0.1, (5, 2)))


def _dump(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def test_poses_round_trip_is_a_cryodrgn_tuple(tmp_path, poses):
    path = tmp_path / "poses.pkl"
    save_poses_pkl(path, poses)
    with open(path, "rb") as f:
        raw = pickle.load(f)
    assert isinstance(raw, tuple) and len(raw) == 2  # what cryoDRGN reads
    assert raw[0].shape == (5, 3, 3) and raw[1].shape == (5, 2)
    back = load_poses_pkl(path)
    assert back.rots.dtype == np.float32 and back.trans.dtype == np.float32
    np.testing.assert_allclose(back.rots, poses.rots)
    np.testing.assert_allclose(back.trans, poses.trans)


@pytest.mark.parametrize("variant", ["tuple1", "bare", "list2"])
def test_poses_variants_cryodrgn_accepts(tmp_path, poses, variant):
    rots64 = poses.rots.astype(np.float64)
    obj = {"tuple1": (rots64,), "bare": rots64, "list2": [rots64, poses.trans.astype(np.float64)]}[variant]
    path = tmp_path / "poses.pkl"
    _dump(path, obj)
    back = load_poses_pkl(path)
    np.testing.assert_allclose(back.rots, poses.rots, atol=1e-7)
    expected = poses.trans if variant == "list2" else np.zeros((5, 2))
    np.testing.assert_allclose(back.trans, expected, atol=1e-7)


def test_poses_in_pixels_are_rejected(tmp_path, poses):
    path = tmp_path / "old.pkl"
    _dump(path, (poses.rots, poses.trans * 64 + 5))
    with pytest.raises(InputError, match="old.pkl.*fractions of the box"):
        load_poses_pkl(path)


@pytest.mark.parametrize("obj, problem", [
    (np.zeros((4, 3)), "rotations of shape"),
    ((np.zeros((4, 3, 3)), np.zeros((3, 2))), "translations of shape"),
    ("a string", "rotations"),
])
def test_malformed_poses(tmp_path, obj, problem):
    path = tmp_path / "poses.pkl"
    _dump(path, obj)
    with pytest.raises(InputError, match=f"poses.pkl.*{problem}"):
        load_poses_pkl(path)


def test_missing_and_corrupt_pickles(tmp_path):
    with pytest.raises(InputError, match="nope.pkl.*not found"):
        load_poses_pkl(tmp_path / "nope.pkl")
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"\x00\x01garbage")
    for load in (load_poses_pkl, load_ctf_pkl, load_indices_pkl):
        with pytest.raises(InputError, match="bad.pkl.*pickle"):
            load(bad)


def test_ctf_round_trip_and_shape_check(tmp_path, rng):
    ctf = rng.uniform(0, 1, (6, 9))
    path = tmp_path / "ctf.pkl"
    save_ctf_pkl(path, ctf)
    back = load_ctf_pkl(path)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, ctf.astype(np.float32))
    _dump(tmp_path / "short.pkl", np.zeros((6, 8)))
    with pytest.raises(InputError, match="short.pkl.*\\(N, 9\\)"):
        load_ctf_pkl(tmp_path / "short.pkl")


def test_indices_round_trip(tmp_path):
    path = tmp_path / "indices.pkl"
    save_indices_pkl(path, np.array([4, 0, 7], dtype=np.int32))
    back = load_indices_pkl(path)
    assert back.dtype == np.int64 and back.tolist() == [4, 0, 7]
    with pytest.raises(ValueError):
        save_indices_pkl(tmp_path / "f.pkl", np.array([0.5, 1.0]))
    _dump(tmp_path / "floats.pkl", np.array([0.5]))
    with pytest.raises(InputError, match="floats.pkl"):
        load_indices_pkl(tmp_path / "floats.pkl")


def test_savers_refuse_to_overwrite_unless_told(tmp_path, poses):
    path = tmp_path / "poses.pkl"
    save_poses_pkl(path, poses)
    with pytest.raises(InputError, match="poses.pkl.*exists"):
        save_poses_pkl(path, poses)
    save_poses_pkl(path, poses.subset(np.arange(2)), overwrite=True)
    assert len(load_poses_pkl(path)) == 2
