"""The encoder's in-plane rotation (core/models/augment.py) and its place in training."""

import math

import torch

from napari_cryohype.core.models import CryoHypeModel, preset
from napari_cryohype.core.models.augment import random_angles, rotate_in_plane


def test_quarter_turn_moves_each_pixel_where_the_rotation_says():
    """A quarter turn is exact on the grid: out[c + y, c + x] = in[c - x, c + y] about c = D//2."""
    D, c = 32, 16
    img = torch.randn(2, D, D, generator=torch.Generator().manual_seed(0))
    out = rotate_in_plane(img, torch.full((2,), math.pi / 2))
    r = torch.arange(-15, 16)
    y, x = torch.meshgrid(r, r, indexing="ij")
    torch.testing.assert_close(out[:, c + y, c + x], img[:, c - x, c + y], atol=1e-5, rtol=0)


def test_no_turn_is_the_identity_and_the_centre_stays():
    img = torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(rotate_in_plane(img, torch.zeros(3)), img, atol=1e-6, rtol=0)
    spot = torch.zeros(1, 32, 32)
    spot[0, 16, 16] = 1.0
    assert abs(float(rotate_in_plane(spot, torch.tensor([1.234]))[0, 16, 16]) - 1.0) < 1e-6


def test_angles_cover_the_circle():
    a = random_angles(10_000, "cpu")
    assert 0 <= float(a.min()) < 0.01 and 2 * math.pi - 0.01 < float(a.max()) < 2 * math.pi


def test_only_the_encoder_view_turns_when_training_with_rotation(monkeypatch):
    """forward(rotate_encoder=True) gives the encoder a turned image and leaves the loss's target alone:
    with the encoder's input captured, the turned input differs from the plain one, and the loss of a
    model whose encoder ignores its input is the same either way."""
    torch.manual_seed(0)
    cfg = preset("small")["model"] | {"encoder": "mlp"}
    model = CryoHypeModel(cfg, 16)
    seen = []
    real_encoder = model.encoder.forward
    monkeypatch.setattr(model.encoder, "forward",
                        lambda x, rots=None: (seen.append(x.clone()), real_encoder(x * 0))[1])
    images, rots = torch.randn(4, 16, 16), torch.eye(3).expand(4, 3, 3)
    plain = model(images, rots, None, None)
    turned = model(images, rots, None, None, rotate_encoder=True)
    assert not torch.allclose(seen[0], seen[1])
    torch.testing.assert_close(plain, turned)
