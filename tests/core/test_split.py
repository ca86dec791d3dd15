"""Splitting each image's Fourier points between the encoder and the loss (``train.encoder_split``)."""

import pytest
import torch

from napari_cryohype.core.models.model import CryoHypeModel
from napari_cryohype.core.models.presets import check_train, preset
from napari_cryohype.core.models.slices import SliceGeometry
from tests.core.test_models import D, rots, tiny_cfg


def _grid_index(model, lattice_idx):
    """Flat (D+1)**2 lattice indices -> (row, col) on the D x D encoder grid."""
    return lattice_idx // (D + 1), lattice_idx % (D + 1)


def test_hidden_points_are_the_chosen_ones_and_their_mirrors():
    model = CryoHypeModel(tiny_cfg(encoder="mlp"), D)
    geo = model.geometry
    x = torch.randn(2, D, D)
    points = model.sample_points(2, geo.n_half // 2, "cpu")
    out = geo.hide_points(x, points)
    hidden = torch.zeros(2, D, D, dtype=torch.bool)
    for b in range(2):
        for idx in (geo.half_idx[points[b]], geo.mirror_idx[points[b]]):
            row, col = _grid_index(model, idx)
            inside = (row < D) & (col < D)
            hidden[b, row[inside], col[inside]] = True
    assert (out[hidden] == 0).all()
    scale = geo.n_half / (geo.n_half - points.shape[1])
    torch.testing.assert_close(out[~hidden], x[~hidden] * scale)
    assert hidden.sum() > 0.4 * geo.n_half * 2


@pytest.mark.parametrize("conditioning", ["hyper", "concat"])
def test_with_split_the_encoder_never_sees_a_value_the_loss_compares(monkeypatch, conditioning):
    """The encoder's input is zero at every point (and mirror) the step's loss uses; without the split it is
    not. A split that hid other points, or none, fails. The same for both conditionings (the benchmark's
    ``many_concat`` ablation trains concat with the split)."""
    torch.manual_seed(0)
    model = CryoHypeModel(tiny_cfg(encoder="mlp", conditioning=conditioning), D)
    geo = model.geometry
    points = model.sample_points(3, geo.n_half // 2, "cpu")
    monkeypatch.setattr(model, "sample_points", lambda *a: points)
    seen = []
    model.encoder.register_forward_hook(lambda mod, args, out: seen.append(args[0].detach().clone()))
    images = torch.randn(3, D, D)
    for split in (True, False):
        model(images, rots(3), torch.zeros(3, 2), None, n_points=points.shape[1], split=split)
    for b in range(3):
        row, col = _grid_index(model, geo.half_idx[points[b]])
        inside = (row < D) & (col < D)
        assert (seen[0][b, row[inside], col[inside]] == 0).all()
        assert (seen[1][b, row[inside], col[inside]] != 0).any()
    with pytest.raises(ValueError, match="point fraction"):
        model(images, rots(3), torch.zeros(3, 2), None, split=True)


def test_split_needs_a_point_fraction_below_one():
    train = preset("small")["train"]
    train["encoder_split"] = True
    with pytest.raises(ValueError, match="point-fraction"):
        check_train(train)
    train["point_fraction"] = 0.5
    check_train(train)


def test_the_many_preset_is_the_lift_encoder_with_the_split():
    """The preset that the 10- to 200-structure benchmark measured (``many_lift_split``)."""
    many = preset("many")
    assert many["model"]["encoder"] == "lift" and many["model"]["tokens_per_layer"] == 32
    assert many["train"]["encoder_split"] and many["train"]["point_fraction"] == 0.5
    check_train(many["train"])
    assert not preset("small")["train"]["encoder_split"]


def test_the_window_correlates_neighbouring_fourier_points_noise():
    """The split hides the loss's points from the encoder, but not their neighbours, and the real-space
    window (``soft_window``) correlates neighbouring Fourier points' noise: white noise images (D = 32) through
    the encoder-input pipeline (window, centred Hartley transform) give a correlation of 0.28 between a
    point's value and its kx + 1 neighbour's (mean over the disk's pairs, 4000 draws; 0.28 at ky + 1 too,
    -0.11 at kx + 2), and 0 without the window (what docs/model.md says)."""
    D, n = 32, 4000
    geo = SliceGeometry(D)
    noise = torch.randn(n, D, D, generator=torch.Generator().manual_seed(0))
    pairs = (geo.disk[:, :-1] * geo.disk[:, 1:]).bool()

    def neighbour_correlation() -> float:
        x = geo.encoder_input(geo.targets(noise, None), torch.ones(n, geo.n_half), "hartley")
        a, b = x[:, :, :-1] - x[:, :, :-1].mean(0), x[:, :, 1:] - x[:, :, 1:].mean(0)
        r = (a * b).mean(0) / (a.std(0, correction=0) * b.std(0, correction=0))
        return float(r[pairs].mean())

    assert 0.25 < neighbour_correlation() < 0.31
    geo.window.fill_(1.0)
    assert abs(neighbour_correlation()) < 0.02
