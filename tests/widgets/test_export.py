"""Export functions: .star subsets, volumes with voxel size, and the overwrite question."""

import mrcfile
import numpy as np
import pandas as pd
import pytest
import starfile

from napari_cryohype.widgets import export


def test_star_subset_keeps_the_selected_rows(tmp_path):
    src = tmp_path / "particles.star"
    table = pd.DataFrame({"rlnImageName": [f"{i + 1:06d}@stack.mrcs" for i in range(10)],
                          "rlnDefocusU": np.arange(10, dtype=float) * 100})
    starfile.write({"particles": table}, src)
    out = tmp_path / "subset.star"
    assert export.export_star(np.array([1, 4, 7]), src, out) == [out]
    got = starfile.read(out)
    got = got["particles"] if isinstance(got, dict) else got
    assert list(got["rlnImageName"]) == ["000002@stack.mrcs", "000005@stack.mrcs", "000008@stack.mrcs"]


def test_volumes_keep_voxel_size_and_ask_before_replacing(tmp_path, monkeypatch):
    vol = np.random.default_rng(0).normal(size=(8, 8, 8)).astype(np.float32)
    paths = export.export_volumes({"decoded_volume_3": (vol, 2.0)}, tmp_path)
    with mrcfile.open(paths[0]) as mrc:
        np.testing.assert_allclose(mrc.data, vol)
        assert float(mrc.voxel_size.x) == pytest.approx(2.0)
    asked = []
    monkeypatch.setattr(export, "confirm_overwrite", lambda p, parent=None: asked.append(p) or False)
    assert export.export_volumes({"decoded_volume_3": (vol * 0, 2.0)}, tmp_path) == []
    assert asked == [[paths[0]]]
    with mrcfile.open(paths[0]) as mrc:
        np.testing.assert_allclose(mrc.data, vol)  # untouched


def test_indices_and_inverse(tmp_path):
    import pickle

    paths = export.export_indices(np.array([0, 2]), 5, tmp_path / "sel.pkl")
    assert [p.name for p in paths] == ["sel.pkl", "sel_inverse.pkl"]
    with open(paths[0], "rb") as f:
        assert pickle.load(f).tolist() == [0, 2]
    with open(paths[1], "rb") as f:
        assert pickle.load(f).tolist() == [1, 3, 4]
