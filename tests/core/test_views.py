"""Synthetic views for the encoder (core/models/views.py): each image's own map, at a random pose, under another
image's CTF, with noise of the asked variance; a loss that only the encoder learns from; off before its start."""

import torch

from napari_cryohype.core.models import CryoHypeModel, preset
from napari_cryohype.core.models.views import latent_mismatch, random_rotations

D = 16


def _ctf_rows(defoci: list[float]) -> torch.Tensor:
    """CTF table rows (B, 9): D, Å/px, defocus u and v (Å), angle, kV, Cs (mm), amplitude contrast, phase."""
    return torch.tensor([[D, 6.0, d, d, 0.0, 300.0, 2.7, 0.1, 0.0] for d in defoci])


def _model() -> CryoHypeModel:
    torch.manual_seed(0)
    return CryoHypeModel(preset("many")["model"], D)


def test_rotations_are_proper_and_uniform():
    r = random_rotations(20_000, "cpu")
    torch.testing.assert_close(r @ r.transpose(1, 2), torch.eye(3).expand(20_000, 3, 3), atol=1e-5, rtol=0)
    assert torch.allclose(torch.linalg.det(r), torch.ones(20_000), atol=1e-5)
    assert r.mean(0).abs().max() < 0.02     # the mean of uniform rotations is the zero matrix


def test_mismatch_is_zero_for_the_targets_two_for_unrelated_codes_and_blind_to_scale():
    g = torch.Generator().manual_seed(0)
    target, other = torch.randn(4096, 32, generator=g), torch.randn(4096, 32, generator=g)
    assert float(latent_mismatch(target, target)) == 0
    assert abs(float(latent_mismatch(other, target)) - 2) < 0.05
    torch.testing.assert_close(latent_mismatch(3 * other, 3 * target), latent_mismatch(other, target))


def test_a_view_is_the_images_own_map_at_the_returned_pose_under_the_next_images_ctf():
    """Without noise and split, the encoder image at each half point is |CTF of the batch's previous image|
    times the image's own map rendered at the returned pose (phase-flipped: the CTF's sign taken off)."""
    model = _model()
    geo = model.geometry
    images, rots = torch.randn(3, D, D), random_rotations(3, "cpu")
    x, _, _ = model.encoder_input(images, None, _ctf_rows([10_000, 15_000, 20_000]))
    cond = model.encode(x, rots)
    ctf_half = geo.ctf_half(_ctf_rows([10_000, 15_000, 20_000]))
    views, view_rots = model.synthetic_views(cond, ctf_half, torch.zeros(3), None)
    with torch.no_grad():
        slices = model.render_pairs(cond, view_rots)[:, :geo.n_half]
    on_grid = views.flatten(1)[:, geo.grid_pairs[:, 0].clamp(max=D * D - 1)]
    inside = geo.grid_pairs[:, 0] < D * D
    expected = ctf_half.roll(1, dims=0).abs() * slices
    torch.testing.assert_close(on_grid[:, inside], expected[:, inside], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(view_rots, rots)


def test_views_carry_the_asked_noise_and_the_splits_share_of_points():
    model = _model()
    geo = model.geometry
    x = torch.randn(64, D, D)
    cond = model.encode(x, random_rotations(64, "cpu"))
    ctf_half = torch.ones(64, geo.n_half)
    torch.manual_seed(1)
    clean, r0 = model.synthetic_views(cond, ctf_half, torch.zeros(64), None)
    torch.manual_seed(1)
    noisy, r1 = model.synthetic_views(cond, ctf_half, torch.full((64,), 4.0), None)
    torch.testing.assert_close(r0, r1)
    noise = (noisy - clean).flatten(1)[:, geo.grid_pairs[:, 0].clamp(max=D * D - 1)]
    assert abs(float(noise.std()) - 2.0) < 0.1
    hidden = geo.n_half // 2
    torch.manual_seed(1)
    split, r2 = model.synthetic_views(cond, ctf_half, torch.zeros(64), hidden)
    torch.testing.assert_close(r2, r0)
    kept = split != 0
    n_kept = kept.flatten(1).sum(1)
    assert (n_kept <= 2 * (geo.n_half - hidden) + 1).all() and (n_kept >= 2 * (geo.n_half - hidden) - 8).all()
    scale = geo.n_half / (geo.n_half - hidden)   # as hide_points scales a real image's kept points
    torch.testing.assert_close(split[kept], scale * clean[kept], atol=1e-5, rtol=1e-4)


def test_only_the_encoder_learns_from_the_views():
    """The views' loss (forward with views less forward without, same random draws before it) reaches the
    encoder's weights and nothing of the decoder: its map and the real image's latent are fixed targets."""
    model = _model()
    images, rots = torch.randn(8, D, D), random_rotations(8, "cpu")
    ctf = _ctf_rows([12_000] * 8)
    x, _, ctf_half = model.encoder_input(images, None, ctf)
    cond = model.encode(x, rots)
    views, view_rots = model.synthetic_views(cond, ctf_half, torch.ones(8), None)
    loss = latent_mismatch(model.token_latents(model.encoder(views, view_rots)), model.latents(cond))
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().max() > 0 for p in model.encoder.parameters())
    assert all(p.grad is None for p in [*model.inr.parameters(), *model.conditioning.parameters()])


def test_the_trainer_starts_the_views_at_their_share_of_the_epochs(tmp_path, monkeypatch):
    """synthetic_views_start 0.5 of 2 epochs: the first epoch's steps render no view, the second's do."""
    from napari_cryohype.cli import main
    from napari_cryohype.core.run import Run
    from napari_cryohype.core.simulate import bundled_structures
    from napari_cryohype.core.train import Trainer, train_config

    data = tmp_path / "data"
    assert main(["simulate", str(data), "--structures", str(bundled_structures()[0]), "-M", "32", "-D", str(D),
                 "--apix", "6", "--snr", "1", "--seed", "0", "--threads", "1"]) == 0
    cfg = train_config(particles=str(data / "particles.mrcs"), poses=str(data / "poses.pkl"),
                       ctf=str(data / "ctf.pkl"), epochs=2, batch_size=16, threads=1,
                       synthetic_views=0.1, synthetic_views_start=0.5)
    trainer = Trainer(Run.create(tmp_path / "run", cfg))
    calls = []
    real = trainer.model.synthetic_views
    monkeypatch.setattr(trainer.model, "synthetic_views",
                        lambda *a: (calls.append(trainer.epoch), real(*a))[1])
    for _ in trainer.run():
        pass
    assert calls == [1, 1]
