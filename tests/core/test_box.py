"""Any box size trains: --box Fourier-crops (or pads) the images while they are read, the poses and CTF
follow; a box the model cannot take is refused before anything is written, naming boxes that work."""

import json

import numpy as np
import pytest
import torch

from napari_cryohype.cli import main
from napari_cryohype.core.boxes import box_problem, boxes_that_work, check_model_box
from napari_cryohype.core.errors import InputError
from napari_cryohype.core.fourier import resize_ht2
from napari_cryohype.core.io.dataset import ParticleDataset
from napari_cryohype.core.io.mrc import write_mrc
from napari_cryohype.core.io.pkl import save_ctf_pkl, save_poses_pkl
from napari_cryohype.core.io.types import Poses
from napari_cryohype.core.models import preset
from napari_cryohype.core.rotation import random_rotations
from tests.core.mixture_data import TINY_ARGS
from tests.core.test_io_cs import write_cs
from tests.core.test_io_star import APIX as STAR_APIX
from tests.core.test_io_star import D as STAR_D
from tests.core.test_io_star import write_relion30, write_relion31

N, APIX = 6, 2.0


def write_stack(folder, D: int, rng, apix: float = APIX) -> dict:
    """particles.mrcs (N, D, D), poses.pkl, ctf.pkl for them (made for D px at ``apix``)."""
    folder.mkdir(parents=True, exist_ok=True)
    images = rng.standard_normal((N, D, D)).astype(np.float32)
    write_mrc(folder / "particles.mrcs", images, apix)
    save_poses_pkl(folder / "poses.pkl", Poses(random_rotations(N, rng), rng.uniform(-0.1, 0.1, (N, 2))))
    ctf = np.column_stack([np.full(N, D), np.full(N, apix), rng.uniform(1e4, 2e4, (N, 2)), np.zeros(N),
                           np.full(N, 300), np.full(N, 2.7), np.full(N, 0.1), np.zeros(N)]).astype(np.float32)
    save_ctf_pkl(folder / "ctf.pkl", ctf)
    return {"images": images, "particles": folder / "particles.mrcs", "poses": folder / "poses.pkl",
            "ctf": folder / "ctf.pkl"}


def test_box_resizes_images_and_scales_pixel_size_keeping_shifts(tmp_path, rng):
    f = write_stack(tmp_path, 30, rng)
    full = ParticleDataset(f["particles"], f["poses"], f["ctf"])
    ds = ParticleDataset(f["particles"], f["poses"], f["ctf"], box=12)
    assert (ds.D, ds.particles.source_D) == (12, 30) and ds.apix == pytest.approx(APIX * 30 / 12)
    expected = resize_ht2(torch.from_numpy(f["images"]), 12).numpy()
    np.testing.assert_allclose(ds.particles[:], expected, rtol=1e-6)
    np.testing.assert_allclose(ds[4]["image"].numpy(), expected[4], rtol=1e-6)
    np.testing.assert_array_equal(ds.poses.trans, full.poses.trans)  # fractions of the box
    np.testing.assert_allclose(ds[4]["trans"].numpy(), full.poses.trans[4] * 12, rtol=1e-6)  # pixels of 12
    np.testing.assert_allclose(ds.ctf[:, :2], [[12, APIX * 30 / 12]] * N, rtol=1e-6)
    np.testing.assert_array_equal(ds.ctf[:, 2:], full.ctf[:, 2:])
    padded = ParticleDataset(f["particles"], f["poses"], f["ctf"], box=32)
    assert padded.D == 32 and padded.apix == pytest.approx(APIX * 30 / 32)


@pytest.mark.parametrize("writer", [write_relion30, write_relion31])
def test_relion_shifts_stay_right_after_resizing(tmp_path, rng, writer):
    """RELION origins (pixels in 3.0, Å in 3.1) are read for the stack's own box and pixel size."""
    write_mrc(tmp_path / "stack.mrcs", rng.standard_normal((3, STAR_D, STAR_D)).astype(np.float32), STAR_APIX)
    writer(tmp_path / "p.star")
    full = ParticleDataset(tmp_path / "p.star", tmp_path / "p.star", tmp_path / "p.star")
    half = ParticleDataset(tmp_path / "p.star", tmp_path / "p.star", tmp_path / "p.star", box=STAR_D // 2)
    np.testing.assert_array_equal(half.poses.trans, full.poses.trans)
    np.testing.assert_allclose(half[1]["trans"].numpy() * 2, full[1]["trans"].numpy(), rtol=1e-6)
    assert half.apix == pytest.approx(2 * full.apix) and half.ctf[0, 0] == STAR_D // 2


def test_pixel_shifts_of_a_cs_without_its_box_size_are_read_for_the_stacks_box(tmp_path, rng):
    """A .cs without blob/shape gives shifts in the stack's pixels: fractions of its own box, not --box's."""
    f = write_stack(tmp_path, 20, rng)
    shift = rng.uniform(-3, 3, (N, 2)).astype(np.float32)
    write_cs(tmp_path / "poses.cs", {"alignments3D/pose": rng.uniform(-1, 1, (N, 3)).astype(np.float32),
                                     "alignments3D/shift": shift})
    ds = ParticleDataset(f["particles"], tmp_path / "poses.cs", box=10)
    np.testing.assert_allclose(ds.poses.trans, shift / 20, rtol=1e-6)
    np.testing.assert_allclose(ds[0]["trans"].numpy(), shift[0] / 2, rtol=1e-6)


def test_pixel_size_only_in_the_header_or_from_apix_is_scaled_too(tmp_path, rng):
    f = write_stack(tmp_path / "h", 20, rng, apix=1.5)
    assert ParticleDataset(f["particles"], f["poses"], box=10).apix == pytest.approx(3.0)
    g = write_stack(tmp_path / "u", 20, rng, apix=1.0)  # a header's 1.0 means unset
    assert ParticleDataset(g["particles"], g["poses"], box=10, ctf_defaults={"apix": 1.5}).apix == pytest.approx(3.0)


def test_odd_stacks_need_a_box_and_boxes_must_be_even(tmp_path, rng):
    f = write_stack(tmp_path, 31, rng)
    with pytest.raises(InputError, match="box size must be even, got 31 pixels .*--box 30"):
        ParticleDataset(f["particles"], f["poses"])
    assert ParticleDataset(f["particles"], f["poses"], box=30).D == 30
    for bad in (15, 2, 0):
        with pytest.raises(InputError, match=f"--box must be an even number of pixels >= 4, got {bad}"):
            ParticleDataset(f["particles"], f["poses"], box=bad)


def test_box_problem_is_the_encoders_own_rule():
    vit = preset("small")["model"]
    assert box_problem(vit, 32) is None and "multiple of the patch size 8" in box_problem(vit, 30)
    assert "even" in box_problem(vit, 33)
    assert boxes_that_work(vit, 30) == [32, 24] and boxes_that_work(vit, 300) == [296, 304]
    assert box_problem({**vit, "encoder": "mlp"}, 30) is None
    with pytest.raises(InputError, match=r"^p.mrcs: the vit encoder cannot take 300 px images .* 296 or 304\. "
                                         r"Give --box 296"):
        check_model_box(vit, 300, "p.mrcs")


def test_cli_refuses_a_box_the_encoder_cannot_take_before_writing_anything(tmp_path, rng, capsys):
    f = write_stack(tmp_path / "data", 30, rng)
    base = ["--particles", str(f["particles"]), "--poses", str(f["poses"]), "--ctf", str(f["ctf"])]
    out = tmp_path / "run"
    assert main(["train", str(out), *base, "--epochs", "1", "--preset", "small"]) == 2   # the ViT's patches
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot take 30 px images" in err and "--box 32" in err, err
    assert not out.exists()
    assert main(["train", str(out), *base, "--epochs", "1", "--box", "31"]) == 2
    assert "--box must be an even number" in capsys.readouterr().err and not out.exists()

    assert main(["train", str(out), *base, "--box", "32", "--epochs", "1", *TINY_ARGS,
                 "--set", "patch=8"]) == 0
    assert "Fourier-padded from 30 to 32 px while read" in capsys.readouterr().err
    data = json.loads((out / "config.json").read_text())["data"]
    assert (data["box"], data["D"], data["source_D"]) == (32, 32, 30)
    assert data["apix"] == pytest.approx(APIX * 30 / 32)
    assert main(["train", str(out), "--resume", "--box", "16"]) == 2
    # --force over it with a box the model cannot take: refused before the old run is removed
    assert main(["train", str(out), *base, "--epochs", "1", "--force", "--preset", "small"]) == 2
    assert json.loads((out / "config.json").read_text())["data"]["box"] == 32
