"""The lift encoder: an image's transform placed in 3D where its central slice lies."""

import numpy as np
import pytest
import torch

from napari_cryohype.core.models.lift import SliceLift
from napari_cryohype.core.models.model import CryoHypeModel
from napari_cryohype.core.models.presets import preset
from napari_cryohype.core.rotation import random_rotations


def _voxel_field(lift: SliceLift, a: torch.Tensor) -> torch.Tensor:
    """A linear function of the frequency on the lift grid, f(k) = a . k + 1 with k = (kx, ky, kz) pixels,
    laid out [kz, ky, kx] like the lifted slice (B, size**3)."""
    r = torch.arange(lift.size, dtype=torch.float64) - (lift.half + 1)
    kz, ky, kx = torch.meshgrid(r, r, r, indexing="ij")
    return (a[0] * kx + a[1] * ky + a[2] * kz + 1).flatten()


@pytest.mark.parametrize("D,radius", [(16, 4), (32, 8), (32, 5.5)])
def test_lifted_slice_lies_at_k_times_R(D, radius):
    """Placing is the adjoint of trilinear sampling, exact for a linear field: <lift(x, R), f> equals the
    sum over the image's disk of x(k) f(k @ R). Transposed rotations or swapped axes break it."""
    torch.manual_seed(0)
    lift = SliceLift(D, radius).double()
    rots = torch.as_tensor(random_rotations(5, np.random.default_rng(1)), dtype=torch.float64)
    x = torch.randn(5, D, D, dtype=torch.float64)
    a = torch.tensor([0.7, -1.3, 2.1], dtype=torch.float64)
    lifted = lift(x, rots)
    got = lifted @ _voxel_field(lift, a)
    k = lift.coords.double()
    want = (x.flatten(1)[:, lift.pixels] * ((k @ rots) @ a + 1)).sum(1)
    torch.testing.assert_close(got, want)
    wrong = (x.flatten(1)[:, lift.pixels] * ((k @ rots.transpose(1, 2)) @ a + 1)).sum(1)
    assert (got - wrong).abs().max() > 1e-3 * want.abs().max()


def test_lift_keeps_every_pixel_of_the_disk_and_only_those():
    D, radius = 32, 8
    lift = SliceLift(D, radius)
    k = torch.arange(D) - D // 2
    ky, kx = torch.meshgrid(k, k, indexing="ij")
    inside = (kx**2 + ky**2 <= radius**2).flatten()
    assert torch.equal(lift.pixels, inside.nonzero()[:, 0])
    x = torch.randn(3, D, D)
    out = lift(x, torch.eye(3).expand(3, 3, 3))
    torch.testing.assert_close(out.sum(1), x.flatten(1)[:, inside].sum(1))
    with pytest.raises(ValueError, match="lift radius"):
        SliceLift(D, D)


def _lift_model(D=16):
    cfg = preset("many")["model"]
    cfg.update(encoder="lift", lift_radius=4, encoder_hidden=64, inr_width=32, n_freqs=8, tokens_per_layer=4)
    return CryoHypeModel(cfg, D)


def test_lift_encoder_reads_the_pose():
    torch.manual_seed(0)
    model = _lift_model()
    assert model.needs_pose
    x = torch.randn(2, 16, 16)
    rots = torch.as_tensor(random_rotations(2, np.random.default_rng(2)), dtype=torch.float32)
    a = model.latents(model.encode(x, rots))
    b = model.latents(model.encode(x, rots.flip(0)))
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="pose"):
        model.encode(x)


def test_lift_encoder_needs_the_hartley_input():
    cfg = preset("many")["model"]
    cfg.update(encoder="lift", encoder_input="real")
    with pytest.raises(ValueError, match="hartley"):
        CryoHypeModel(cfg, 16)


def test_a_lift_run_trains_analyses_and_decodes_by_index(tmp_path):
    """Every path that encodes images hands the encoder their poses: training, latents with losses,
    decoding by index, the rendered projection; raw images without a pose get a clear error."""
    from napari_cryohype.core.decode import decode_images, render_projection
    from napari_cryohype.core.latents import latents_and_losses
    from tests.core.mixture_data import trained_run

    run = trained_run(tmp_path, encoder="lift", lift_radius=4, epochs=1)
    z, losses = latents_and_losses(run)
    assert z.shape[0] == 16 and np.isfinite(z).all() and np.isfinite(losses).all()
    v = decode_images(run, 3)
    assert v.shape == (16, 16, 16) and np.isfinite(v).all() and v.std() > 0
    assert np.isfinite(render_projection(run, 2)).all()
    with pytest.raises(ValueError, match="index"):
        decode_images(run, np.zeros((16, 16), np.float32))


def test_one_code_encoders_give_their_code_as_the_latent(tmp_path):
    """The mlp encoder's tokens are t_j + f: its latent is f (width values), which decodes to the image's
    own volume, as do the tokens flattened (the latents of analyses written before)."""
    from napari_cryohype.core.decode import decode_images, decode_latents
    from napari_cryohype.core.latents import compute_latents
    from tests.core.mixture_data import TINY, trained_run

    run = trained_run(tmp_path, encoder="mlp", epochs=1)
    z = compute_latents(run)
    assert z.shape == (16, TINY["width"])
    model = run.load_model()
    flat = (model.encoder.tokens.detach().numpy() + z[:, None, :]).reshape(16, -1)
    for latents in (z[[3, 5]], flat[[3, 5]]):
        vols = decode_latents(run, latents)
        for v, i in zip(vols, (3, 5)):
            np.testing.assert_allclose(v, decode_images(run, i), rtol=1e-4, atol=1e-5 * np.abs(v).max())


def test_ctf_input_is_the_transform_times_the_ctf_beside_the_ctf_squared():
    """``encoder_input="ctf"``: channel 0 is the transform times the CTF (the phase-flipped one times |c|), channel 1
    the CTF squared at the same points: the two sums of a backprojection."""
    from napari_cryohype.core.models.slices import SliceGeometry

    torch.manual_seed(0)
    D, B = 16, 3
    geo = SliceGeometry(D)
    full = torch.randn(B, (D + 1) ** 2)
    c = torch.rand(B, geo.n_half) * 2 - 1
    flipped = geo.encoder_input(full, c, "hartley")
    x = geo.encoder_input(full, c, "ctf")
    assert x.shape == (B, 2, D, D)
    on_grid = geo.grid_pairs[:, 0] < D * D
    at = geo.grid_pairs[on_grid, 0]
    torch.testing.assert_close(x[:, 1].flatten(1)[:, at], c[:, on_grid] ** 2)
    torch.testing.assert_close(x[:, 0], flipped * x[:, 1].sqrt())   # DC (no CTF): weight 1 in both


def test_the_split_hides_both_channels_of_the_ctf_input():
    from napari_cryohype.core.models.slices import SliceGeometry

    torch.manual_seed(0)
    D, B = 16, 2
    geo = SliceGeometry(D)
    x = geo.encoder_input(torch.randn(B, (D + 1) ** 2), torch.rand(B, geo.n_half) + 0.5, "ctf")
    points = torch.stack([torch.randperm(geo.n_half)[:20] for _ in range(B)])
    hidden = geo.hide_points(x, points)
    for b in range(B):
        where = geo.grid_pairs[points[b]].flatten()
        where = where[where < D * D]
        assert (hidden[b].flatten(1)[:, where] == 0).all()
        kept = torch.ones(D * D, dtype=torch.bool)
        kept[where] = False
        scale = geo.n_half / (geo.n_half - 20)
        torch.testing.assert_close(hidden[b].flatten(1)[:, kept], x[b].flatten(1)[:, kept] * scale)


def test_the_lift_encoder_reads_both_channels_of_the_ctf_input():
    """Each channel is lifted at the image's pose: changing either changes the latent; other encoders refuse it."""
    torch.manual_seed(0)
    cfg = preset("many")["model"]
    cfg.update(encoder="lift", encoder_input="ctf", lift_radius=4, encoder_hidden=64, inr_width=32, n_freqs=8,
               tokens_per_layer=4)
    model = CryoHypeModel(cfg, 16)
    assert model.encoder.inp.in_features == 2 * model.encoder.lift.n_voxels
    x = torch.randn(2, 2, 16, 16)
    rots = torch.as_tensor(random_rotations(2, np.random.default_rng(2)), dtype=torch.float32)
    base = model.latents(model.encode(x, rots))
    for ch in (0, 1):
        other = x.clone()
        other[:, ch] += torch.randn(2, 16, 16)
        assert not torch.allclose(model.latents(model.encode(other, rots)), base)
    assert not torch.allclose(model.latents(model.encode(x, rots.flip(0))), base)
    cfg.update(encoder="mlp")
    with pytest.raises(ValueError, match="lift encoder only"):
        CryoHypeModel(cfg, 16)


def test_a_run_with_the_ctf_input_trains_with_the_split_and_decodes(tmp_path):
    from napari_cryohype.core.decode import decode_images
    from napari_cryohype.core.latents import latents_and_losses
    from tests.core.mixture_data import trained_run

    run = trained_run(tmp_path, encoder="lift", encoder_input="ctf", lift_radius=4, epochs=1, point_fraction=0.5,
                      encoder_split=True)
    z, losses = latents_and_losses(run)
    assert z.shape[0] == 16 and np.isfinite(z).all() and np.isfinite(losses).all()
    assert np.isfinite(decode_images(run, 3)).all()
