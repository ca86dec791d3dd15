"""``cryohype downsample``: the resized stack equals resizing while reading, streamed a chunk at a time."""

import json

import mrcfile
import numpy as np
import pytest
import torch

from napari_cryohype.cli import main
from napari_cryohype.core.downsample import downsample_stack
from napari_cryohype.core.fourier import resize_ht2
from napari_cryohype.core.io.contrast import POSITIVE_STATEMENT, SIDECAR
from napari_cryohype.core.io.dataset import ParticleDataset
from napari_cryohype.core.io.mrc import write_mrc
from napari_cryohype.core.io.particles import ParticleStack
from tests.core.test_box import APIX, N, write_stack
from tests.core.test_io_star import APIX as STAR_APIX
from tests.core.test_io_star import D as STAR_D
from tests.core.test_io_star import star_text, write_relion31


def test_cli_writes_the_resized_stack_with_its_pixel_size(tmp_path, rng, capsys):
    f = write_stack(tmp_path, 30, rng)
    out = tmp_path / "small.mrcs"
    assert main(["downsample", str(f["particles"]), str(out), "--box", "12", "--chunk", "4"]) == 0
    assert f"{N} images of 12 px (from 30 px), {APIX * 30 / 12:g} Å/px" in capsys.readouterr().out
    with mrcfile.open(out, permissive=True) as mrc:
        data, apix = np.array(mrc.data), float(mrc.voxel_size.x)
    assert data.shape == (N, 12, 12) and apix == pytest.approx(APIX * 30 / 12)
    np.testing.assert_allclose(data, resize_ht2(torch.from_numpy(f["images"]), 12).numpy(), rtol=1e-6)
    # the file trains with the original poses and CTF, and reads as --box does while reading
    written = ParticleDataset(out, f["poses"], f["ctf"])
    lazy = ParticleDataset(f["particles"], f["poses"], f["ctf"], box=12)
    assert written.apix == pytest.approx(lazy.apix) and written.D == lazy.D == 12
    np.testing.assert_allclose(written.ctf, lazy.ctf, rtol=1e-6)
    np.testing.assert_allclose(written[3]["image"].numpy(), lazy[3]["image"].numpy(), rtol=1e-6)


def test_the_stack_is_read_a_chunk_at_a_time(tmp_path, rng, monkeypatch):
    """Memory is that of one chunk: no read asks for more than --chunk images, and the memory maps of
    the input are closed after every chunk."""
    f = write_stack(tmp_path, 16, rng)
    reads, closes = [], []
    read, close = ParticleStack.__getitem__, ParticleStack.close
    monkeypatch.setattr(ParticleStack, "__getitem__", lambda self, key: reads.append(key) or read(self, key))
    monkeypatch.setattr(ParticleStack, "close", lambda self: closes.append(1) or close(self))
    downsample_stack(ParticleStack.from_mrc(f["particles"]), tmp_path / "out.mrcs", 8, chunk=4)
    assert reads == [slice(0, 4), slice(4, 8)] and len(closes) >= 2  # N = 6: chunks of 4 and 2
    one_pass = resize_ht2(torch.from_numpy(f["images"]), 8).numpy()
    np.testing.assert_allclose(read(ParticleStack.from_mrc(tmp_path / "out.mrcs"), slice(None)), one_pass,
                               rtol=1e-6)


def test_star_input_takes_the_optics_pixel_size_and_notes_positive_contrast(tmp_path, rng, capsys):
    """The stack's header says 1.0 (unset); the .star's optics table says 2 Å: the output carries 2 x 16 / 8."""
    write_mrc(tmp_path / "stack.mrcs", rng.standard_normal((3, STAR_D, STAR_D)).astype(np.float32), 1.0)
    write_relion31(tmp_path / "p.star")
    (tmp_path / SIDECAR).write_text(json.dumps({"contrast": POSITIVE_STATEMENT}))
    out = tmp_path / "out" / "p8.mrcs"
    assert main(["downsample", str(tmp_path / "p.star"), str(out), "--box", "8"]) == 0
    text = capsys.readouterr().out
    assert f"3 images of 8 px (from 16 px), {STAR_APIX * 2:g} Å/px" in text and "--uninvert-data" in text
    with mrcfile.open(out, permissive=True) as mrc:
        assert mrc.data.shape == (3, 8, 8) and float(mrc.voxel_size.x) == pytest.approx(STAR_APIX * 2)
    # the output's header and the .star's own pixel size, rescaled, agree: the dataset reads both
    assert ParticleDataset(out, tmp_path / "p.star", tmp_path / "p.star").apix == pytest.approx(STAR_APIX * 2)


def test_metadata_pixel_size_follows_a_stack_resized_since(tmp_path, rng, capsys):
    """A .star written for 32 px images (rlnImageSize 32, 1 Å) whose stack now holds 16 px images: 2 Å at 16 px."""
    write_mrc(tmp_path / "stack.mrcs", rng.standard_normal((3, STAR_D, STAR_D)).astype(np.float32), 0.0)
    write_relion31(tmp_path / "p.star")
    text = (tmp_path / "p.star").read_text().replace(f" {STAR_APIX} {STAR_D} 2", f" {STAR_APIX / 2} {STAR_D * 2} 2")
    assert f" {STAR_APIX / 2} {STAR_D * 2} 2" in text
    (tmp_path / "p.star").write_text(text)
    assert main(["downsample", str(tmp_path / "p.star"), str(tmp_path / "p8.mrcs"), "--box", "8"]) == 0
    assert f"{STAR_APIX * 2:g} Å/px" in capsys.readouterr().out


def test_cs_input_takes_blob_psize(tmp_path, rng, capsys):
    from tests.core.test_io_cs import APIX as CS_APIX
    from tests.core.test_io_cs import D as CS_D
    from tests.core.test_io_cs import full_fields, write_cs
    stack = tmp_path / "J1" / "imported" / "stack.mrcs"
    write_mrc(stack, rng.standard_normal((4, CS_D, CS_D)).astype(np.float32), 1.0)
    (tmp_path / "J2").mkdir()
    write_cs(tmp_path / "J2" / "p.cs", full_fields())
    assert main(["downsample", str(tmp_path / "J2" / "p.cs"), str(tmp_path / "p8.mrcs"), "--box", "8"]) == 0
    assert f"2 images of 8 px (from {CS_D} px), {CS_APIX * CS_D / 8:g} Å/px" in capsys.readouterr().out


def test_no_pixel_size_anywhere_is_written_unset(tmp_path, rng, capsys):
    write_mrc(tmp_path / "stack.mrcs", rng.standard_normal((3, STAR_D, STAR_D)).astype(np.float32), 1.0)
    cols = ["rlnImageName", "rlnAngleRot"]
    (tmp_path / "p.star").write_text(star_text([[f"{i + 1}@stack.mrcs", 0] for i in range(3)], cols, "particles"))
    assert main(["downsample", str(tmp_path / "p.star"), str(tmp_path / "p8.mrcs"), "--box", "8"]) == 0
    assert "3 images of 8 px (from 16 px), pixel size unset" in capsys.readouterr().out
    with mrcfile.open(tmp_path / "p8.mrcs", permissive=True) as mrc:
        assert float(mrc.voxel_size.x) == 0


@pytest.mark.parametrize("args, message", [
    (["out.png", "--box", "8"], "must be an .mrcs"),
    (["out.mrcs", "--box", "7"], "--box must be an even number"),
    (["out.mrcs", "--box", "8", "--chunk", "0"], "--chunk must be at least 1"),
    (["particles.mrcs", "--box", "8", "--force"], "would overwrite an input stack"),
])
def test_bad_requests_are_one_line_errors(tmp_path, rng, capsys, monkeypatch, args, message):
    write_stack(tmp_path, 16, rng)
    monkeypatch.chdir(tmp_path)
    assert main(["downsample", "particles.mrcs", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out.mrcs").exists()


def test_an_existing_output_needs_force(tmp_path, rng, capsys):
    f = write_stack(tmp_path, 16, rng)
    out = tmp_path / "out.mrcs"
    out.write_text("mine")
    assert main(["downsample", str(f["particles"]), str(out), "--box", "8"]) == 2
    assert "use --force" in capsys.readouterr().err and out.read_text() == "mine"
    assert main(["downsample", str(f["particles"]), str(out), "--box", "8", "--force"]) == 0
