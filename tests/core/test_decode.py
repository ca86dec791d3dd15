"""Decoding volumes and projections from a trained run, and ``cryohype decode``."""

import mrcfile
import numpy as np
import pytest
import torch

from napari_cryohype.cli import main
from napari_cryohype.core.decode import (decode_images, decode_latents, decode_selection, render_projection,
                                         volume_transforms)
from napari_cryohype.core.latents import compute_latents
from napari_cryohype.core.fourier import ht2_center, symmetrize_ht
from napari_cryohype.core.models import CryoHypeModel
from tests.core.mixture_data import trained_run
from tests.core.test_models import tiny_cfg


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return trained_run(tmp_path_factory.mktemp("dec"), epochs=1)


def test_decode_one_image_and_a_selection(run):
    v = decode_images(run, 3)
    assert v.shape == (16, 16, 16) and v.dtype == np.float32 and np.isfinite(v).all() and v.std() > 0
    np.testing.assert_allclose(decode_images(run, [3, 5]), v, rtol=1e-5, atol=1e-6)  # the first index
    sel = decode_selection(run, np.array([3, 5]), batch_size=1)
    mean = (v + decode_images(run, 5)) / 2
    np.testing.assert_allclose(sel, mean, rtol=1e-4, atol=1e-5 * np.abs(mean).max())
    assert decode_images(run, 3, 8).shape == (8, 8, 8)


def test_a_latent_decodes_to_its_image_volume_and_a_mean_latent_decodes(run):
    """An image's latent (the flattened weight tokens) decodes to that image's volume; the mean of two
    latents is a volume of its own (not the mean of the two volumes: the INR is not linear in its tokens)."""
    z = compute_latents(run)
    vols = decode_latents(run, z[[3, 5]])
    assert vols.shape == (2, 16, 16, 16)
    for v, i in zip(vols, (3, 5)):
        np.testing.assert_allclose(v, decode_images(run, i), rtol=1e-4, atol=1e-5 * np.abs(v).max())
    centre = decode_latents(run, z[[3, 5]].mean(0, keepdims=True))[0]
    assert np.isfinite(centre).all() and not np.allclose(centre, vols.mean(0), atol=1e-4 * np.abs(centre).max())


def test_volume_lattice_matches_rendering(run):
    """The half-lattice evaluation with mirroring equals rendering every point of the sphere."""
    model = run.load_model()
    ds = run.dataset()
    from napari_cryohype.core.decode import _encode_indices
    cond = _encode_indices(model, ds, [0], "cpu")
    D = 16
    ht = volume_transforms(model, cond, D)[0]
    k = torch.linspace(-0.5, 0.5, D + 1)
    kz, ky, kx = torch.meshgrid(k, k, k, indexing="ij")
    coords = torch.stack([kx, ky, kz], -1).reshape(-1, 3)
    inside = coords.pow(2).sum(-1) <= 0.25 + 1e-6
    with torch.no_grad():
        full = model.render(cond, coords[inside][None])[0]
    torch.testing.assert_close(ht[inside], full, rtol=1e-4, atol=1e-5)
    assert (ht[~inside] == 0).all()


def test_render_projection_and_latents(run):
    img = render_projection(run, 2)
    assert img.shape == (16, 16) and np.isfinite(img).all()
    losses = np.empty(16, np.float32)
    z = compute_latents(run, batch_size=5, losses=losses)
    assert z.shape[0] == 16 and z.dtype == np.float32 and np.isfinite(z).all()
    assert not np.allclose(z[0], z[1])
    np.testing.assert_allclose(compute_latents(run, batch_size=16), z, rtol=1e-4, atol=1e-5)

    # the per-image losses are the training loss image by image: their mean is the model's batch loss
    model, ds = run.load_model("cpu"), run.dataset()
    items = [ds[i] for i in range(16)]
    b = {k: torch.stack([torch.as_tensor(it[k]) for it in items]) for k in ("image", "rot", "trans", "ctf")}
    with torch.no_grad():
        batch_loss = float(model(b["image"], b["rot"], b["trans"], b["ctf"]))
    assert losses.min() > 0 and losses.std() > 0
    assert float(losses.mean()) == pytest.approx(batch_loss, rel=1e-5)
    with pytest.raises(ValueError, match="losses must be"):
        compute_latents(run, losses=np.empty(3, np.float32))


def test_cli_decode_writes_mrc_with_voxel_size(run, tmp_path, capsys):
    out = tmp_path / "v.mrc"
    assert main(["decode", str(run.path), "--index", "1", "-o", str(out)]) == 0
    with mrcfile.open(out) as m:
        assert m.data.shape == (16, 16, 16)
        assert float(m.voxel_size.x) == pytest.approx(6.0)
    assert main(["decode", str(run.path), "--index", "1", "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    idx = tmp_path / "sel.txt"
    idx.write_text("0 4 7\n")
    assert main(["decode", str(run.path), "--indices", str(idx), "-o", str(out), "--box", "8", "--force"]) == 0
    with mrcfile.open(out) as m:
        assert m.data.shape == (8, 8, 8) and float(m.voxel_size.x) == pytest.approx(12.0)
    assert main(["decode", str(run.path), "--index", "99", "-o", str(tmp_path / "x.mrc")]) == 2


def test_cli_decode_takes_threads_as_train_does(run, tmp_path, capsys, monkeypatch):
    """--threads: auto (the default: one core left free), 0 (torch's default) or a number, set before decoding."""
    from napari_cryohype.core import threads

    used = []
    monkeypatch.setattr(torch, "set_num_threads", used.append)
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    monkeypatch.setattr(threads, "TORCH_DEFAULT", 4)
    base = ["decode", str(run.path), "--index", "1", "--force", "-o", str(tmp_path / "v.mrc")]
    for extra in ([], ["--threads", "2"], ["--threads", "0"], ["--threads", "auto"]):
        assert main([*base, *extra]) == 0
    assert used == [3, 2, 4, 3]
    with pytest.raises(SystemExit):
        main([*base, "--threads", "-1"])
    assert "--threads" in capsys.readouterr().err


@pytest.mark.parametrize("axis", ["z", "x"])
def test_decoded_volume_projects_to_the_rendered_slice(axis):
    """Axis order and scale of decoding: summing the decoded volume along an axis gives an image whose
    transform is the model's central slice for the matching pose (Fourier slice theorem, exact on the grid)."""
    torch.manual_seed(0)
    D = 16
    model = CryoHypeModel(tiny_cfg(), D).eval()
    model.norm_std.fill_(2.5)
    img = torch.randn(1, D, D)
    vol = torch.from_numpy(decode_images(model, img.numpy()))
    if axis == "z":
        R, proj = torch.eye(3), vol.sum(0)
    else:  # p @ R = (-z, y, x): the image sums the volume over its x axis, transposed
        R, proj = torch.tensor([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]]), vol.sum(2).T
    geo = model.geometry
    with torch.no_grad():
        x, _, _ = model.encoder_input(img, None, None)
        pred = model.render_pairs(model.encode(x), R[None])[0] * 2.5
    got = geo.split(symmetrize_ht(ht2_center(proj)).reshape(1, -1))[0]
    inner = geo.split(geo.coords[None, :, :2].norm(dim=-1))[0] < 0.5 - 1e-3  # away from Nyquist
    torch.testing.assert_close(got[inner], pred[inner], rtol=1e-3, atol=1e-3 * pred.abs().max().item())
