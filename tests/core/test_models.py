"""The networks: shapes, hypernetwork modulation of every layer, the concat baseline, Hartley symmetry."""

import pytest
import torch

from napari_cryohype.core.models import CryoHypeModel, preset
from napari_cryohype.core.models.model import canonical
from napari_cryohype.core.rotation import random_rotations
from tests.core.mixture_data import TINY

D = 16


def tiny_cfg(**kw) -> dict:
    cfg = preset("small")["model"]
    cfg.update({k: v for k, v in TINY.items() if k in cfg}, **kw)
    return cfg


def rots(n, seed=0):
    import numpy as np
    return torch.from_numpy(random_rotations(n, np.random.default_rng(seed))).float()


@pytest.mark.parametrize("conditioning", ["hyper", "concat"])
@pytest.mark.parametrize("encoder", ["vit", "mlp", "unet"])
def test_shapes(conditioning, encoder):
    torch.manual_seed(0)
    m = CryoHypeModel(tiny_cfg(conditioning=conditioning, encoder=encoder), D)
    x = torch.randn(3, D, D)
    cond = m.encode(x)
    z = m.latents(cond)
    if conditioning == "concat":
        expected = 4                                # z
    elif encoder == "vit":
        expected = m.conditioning.n_tokens * 32     # every token
    else:
        expected = 32                               # one code f: tokens t_j + f
    assert z.shape == (3, expected)
    assert m.render(cond, torch.rand(3, 7, 3) - 0.5).shape == (3, 7)
    assert m.render_pairs(cond, rots(3)).shape == (3, 2 * m.geometry.n_half)
    loss = m(torch.randn(3, D, D), rots(3), torch.zeros(3, 2), None)
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_paper_preset_sizes():
    cfg = preset("paper")["model"]
    m = CryoHypeModel(cfg, 64)
    assert m.conditioning.n_tokens == 129
    assert [s[1] for s in m.inr.shapes] == [1024] * 4 + [2] and m.inr.shapes[0][0] == 384
    blk = m.encoder.blocks[0]
    assert len(m.encoder.blocks) == 6 and blk.heads == 12 and blk.fc1.out_features == 3072
    assert blk.qkv.in_features == 768 and m.encoder.patch == 16


def test_hypernetwork_modulates_every_layer():
    torch.manual_seed(0)
    m = CryoHypeModel(tiny_cfg(), D)
    cond = m.encode(torch.randn(2, D, D))
    assert len(cond.weights) == len(m.inr.shapes)
    for w, (i, o) in zip(cond.weights, m.inr.shapes):
        assert w.shape == (2, i, o)
        torch.testing.assert_close(w.norm(dim=1), torch.ones(2, o))  # L2-normalised over the fan-in
        assert not torch.allclose(w[0], w[1])                         # per image
    m.render_pairs(cond, rots(2)).pow(2).mean().backward()
    for j, head in enumerate(m.conditioning.heads):
        assert head[1].weight.grad.abs().sum() > 0, f"no gradient reaches the head of layer {j}"
    for j, w in enumerate(m.inr.weights):
        assert w.grad.abs().sum() > 0, f"no gradient reaches base weight {j}"


def test_each_token_group_only_changes_its_layer():
    torch.manual_seed(0)
    m = CryoHypeModel(tiny_cfg(), D)
    tokens = torch.randn(1, m.conditioning.n_tokens, 32)
    base = m.conditioning(tokens, list(m.inr.weights))
    g0 = m.conditioning.groups[0]
    t2 = tokens.clone()
    t2[:, :g0] += torch.randn(1, g0, 32)
    moved = m.conditioning(t2, list(m.inr.weights))
    assert not torch.allclose(moved[0], base[0])
    for a, b in zip(moved[1:], base[1:]):
        torch.testing.assert_close(a, b)


def test_concat_is_first_layer_only():
    torch.manual_seed(0)
    m = CryoHypeModel(tiny_cfg(conditioning="concat"), D)
    cond = m.encode(torch.randn(2, D, D))
    assert cond.weights is None and cond.first.shape == (2, 32) and cond.z.shape == (2, 4)
    coords = torch.rand(1, 5, 3).expand(2, -1, -1) - 0.5
    a = m.render(cond, coords)
    assert not torch.allclose(a[0], a[1])  # z changes the output...
    cond.first = cond.first[:1].expand(2, -1)
    b = m.render(cond, coords)
    torch.testing.assert_close(b[0], b[1])  # ...only through the first layer


def test_half_space_rendering_equals_full_evaluation():
    torch.manual_seed(0)
    m = CryoHypeModel(tiny_cfg(), D)
    cond = m.encode(torch.randn(4, D, D))
    R = torch.cat([torch.eye(3)[None], rots(3)])  # the identity puts every point on the kz = 0 plane
    pairs = m.render_pairs(cond, R)
    geo = m.geometry
    pts = torch.cat([geo.coords[geo.half_idx], geo.coords[geo.mirror_idx]])
    full = m.render(cond, pts @ R)
    torch.testing.assert_close(pairs, full)


def test_hartley_values_are_those_of_a_real_volume():
    """H(k) + H(-k) = 2 Re F(k), H(k) - H(-k) = -2 Im F(k): the pair comes from one (a, b)."""
    torch.manual_seed(0)
    m = CryoHypeModel(tiny_cfg(), D)
    cond = m.encode(torch.randn(1, D, D))
    k = torch.rand(1, 50, 3) - 0.5
    c, flip = canonical(k)
    assert (c[..., 2] <= 0).all()
    hk, hmk = m.render(cond, k), m.render(cond, -k)
    ab = m.evaluate(cond, c)
    a, b = ab[..., 0], torch.where(flip, -ab[..., 1], ab[..., 1])  # (Re, Im) of F at k
    torch.testing.assert_close(hk, a - b)
    torch.testing.assert_close(hmk, a + b)


def test_vit_shortcuts_equal_a_plain_transformer_pass():
    """The first block's shared weight-token projections and the last block's pruning change no output
    and no gradient: compare with every token through every block in full."""
    import torch.nn.functional as F
    torch.manual_seed(0)
    enc = CryoHypeModel(tiny_cfg(encoder="vit"), D).encoder
    img = torch.randn(3, D, D)

    def plain(blk, x):
        B, T, W = x.shape
        q, k, v = blk.qkv(blk.ln1(x)).view(B, T, 3, blk.heads, W // blk.heads).permute(2, 0, 3, 1, 4)
        x = x + blk.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, T, W))
        return x + blk.fc2(F.gelu(blk.fc1(blk.ln2(x))))

    p = enc.patch
    x = enc.embed(img.reshape(3, D // p, p, D // p, p).transpose(2, 3).reshape(3, -1, p * p)) + enc.pos
    x = torch.cat([x, enc.tokens.expand(3, -1, -1)], dim=1)
    for blk in enc.blocks:
        x = plain(blk, x)
    ref = x[:, -len(enc.tokens):]
    ref_grad = torch.autograd.grad(ref.square().sum(), enc.tokens)[0]
    out = enc(img)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.autograd.grad(out.square().sum(), enc.tokens)[0], ref_grad,
                               rtol=1e-4, atol=1e-5)


def test_a_subset_of_points_gives_those_points_and_their_mirrors():
    """Point sampling (training speed): the subset's predictions, targets and CTF are those of the full
    slice at the same points, so with every point (in any order) the loss is the full loss."""
    torch.manual_seed(0)
    m = CryoHypeModel(tiny_cfg(), D)
    B, M = 3, m.geometry.n_half
    images, R = torch.randn(B, D, D), rots(B)
    ctf = torch.zeros(B, 9)
    ctf[:, :8] = torch.tensor([D, 4.0, 15000.0, 14000.0, 0.3, 300.0, 2.7, 0.1])
    x, target, ctf_half = m.encoder_input(images, torch.randn(B, 2), ctf)
    cond = m.encode(x)
    full = m.render_pairs(cond, R)
    pts = torch.stack([torch.randperm(M) for _ in range(B)])
    sub = m.render_pairs(cond, R, pts[:, :7])
    torch.testing.assert_close(sub, torch.cat([full[:, :M].gather(1, pts[:, :7]),
                                               full[:, M:].gather(1, pts[:, :7])], 1))
    torch.testing.assert_close(m.image_losses(cond, R, target, ctf_half, pts),
                               m.image_losses(cond, R, target, ctf_half))
    part = m.image_losses(cond, R, target, ctf_half, pts[:, :M // 2])
    assert not torch.allclose(part, m.image_losses(cond, R, target, ctf_half))


def test_sampled_points_are_distinct_and_all_of_them_means_none():
    m = CryoHypeModel(tiny_cfg(), D)
    M = m.geometry.n_half
    pts = m.sample_points(4, M // 3, torch.device("cpu"))
    assert pts.shape == (4, M // 3) and all(len(set(row.tolist())) == M // 3 for row in pts)
    assert int(pts.max()) < M and m.sample_points(4, M, torch.device("cpu")) is None


@pytest.mark.parametrize("encoder", ["vit", "mlp"])
def test_latent_noise_scales_latents_and_adds_noise_only_in_training(encoder):
    torch.manual_seed(0)
    m = CryoHypeModel(tiny_cfg(encoder=encoder, latent_noise=0.5), D).requires_grad_(False)
    x = torch.randn(3, D, D)
    z = m.latents(m.encode(x))
    assert torch.allclose(z.square().mean(1), torch.ones(3), atol=1e-4)       # unit RMS
    assert torch.equal(z, m.latents(m.encode(x)))                             # no noise outside training
    noisy = m.latents(m.encode(x, noisy=True)) - z
    assert 0.4 < float(noisy.std()) < 0.6                                     # noise of the set std
    # the per-image weights are those of the latents: decoding from saved latents gives the same INR
    tokens = m.encoder.from_latent(z)
    assert torch.allclose(m.conditioning(tokens, list(m.inr.weights))[0], m.encode(x).weights[0], atol=1e-6)
    r = rots(3)
    assert m(x, r, torch.zeros(3, 2), None) != m(x, r, torch.zeros(3, 2), None)  # the training loss is noisy


def test_latent_noise_is_off_by_default_and_checked():
    torch.manual_seed(0)
    m = CryoHypeModel(tiny_cfg(encoder="mlp"), D)
    x = torch.randn(3, D, D)
    assert torch.equal(m.latents(m.encode(x, noisy=True)), m.latents(m.encode(x)))
    r = rots(3)
    assert m(x, r, torch.zeros(3, 2), None) == m(x, r, torch.zeros(3, 2), None)
    with pytest.raises(ValueError, match="latent_noise"):
        CryoHypeModel(tiny_cfg(latent_noise=-1), D)


def test_the_live_map_gets_the_latents_without_the_training_noise():
    torch.manual_seed(0)
    m = CryoHypeModel(tiny_cfg(encoder="mlp", latent_noise=1.0), D)
    x, r = torch.randn(3, D, D), rots(3)
    m.keep_latents = True
    m(x, r, torch.zeros(3, 2), None)
    clean, _, _ = m.encoder_input(x, torch.zeros(3, 2), None)
    assert torch.allclose(m.last_latents, m.latents(m.encode(clean, r)))
