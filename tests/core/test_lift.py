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
