"""The model's forward path against the simulator and an analytic volume, with negative controls.

A structure of a few Gaussian atoms has an exact Fourier transform, ``F(k) = sum_j w_j exp(-2 pi^2 s^2 |k|^2)
exp(-2 pi i k.q_j)``. Its particles are made by the simulator (:func:`project_atoms`: real-space line integrals,
shifted by ``-trans``), with a CTF written here from cryoDRGN's formula (not :mod:`core.ctf`). A model whose
INR is replaced by that exact transform must then reproduce the training targets: the shift, the CTF in the
loss, the rotation convention and the Hartley bookkeeping all have to be right. The controls (wrong shift
sign, no CTF, transposed poses, wrong amplitude-contrast sign) show how far each error moves the loss, so a
break in the code (e.g. the CTF dropped from ``image_losses``) fails these tests, not only the controls.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_cryohype.core.atoms import AtomicModel
from napari_cryohype.core.fourier import fft2_center, ifft2_center, iht2_center
from napari_cryohype.core.models import CryoHypeModel
from napari_cryohype.core.rotation import random_rotations
from napari_cryohype.core.simulate import gaussian_sigma, project_atoms, random_ctf
from tests.core.test_models import tiny_cfg

D, APIX, RES, B = 32, 6.0, 18.0, 8
ATOMS_A = np.array([[20.0, 0, 0], [-12, 15, 6], [3, -22, 14], [-8, -4, -25]])
WEIGHTS = np.array([6.0, 12, 8, 16])


def hand_ctf(table: np.ndarray, kx: np.ndarray, ky: np.ndarray) -> np.ndarray:
    """cryoDRGN's CTF written out independently of core.ctf: table (B, 9), kx, ky (N,) cycles/pixel -> (B, N).

    gamma = 2 pi (-df lambda s^2 / 2 + Cs lambda^3 s^4 / 4) - phase; CTF = sqrt(1 - w^2) sin(gamma) - w cos(gamma)."""
    out = []
    for _, apix, dfu, dfv, ang, kv, cs, w, phase in table.astype(np.float64):
        x, y = kx / apix, ky / apix
        volts = kv * 1e3
        lam = 12.2639 / math.sqrt(volts + 0.97845e-6 * volts**2)
        df = 0.5 * (dfu + dfv + (dfu - dfv) * np.cos(2 * (np.arctan2(y, x) - math.radians(ang))))
        s2 = x**2 + y**2
        gamma = 2 * math.pi * (-0.5 * df * lam * s2 + 0.25 * cs * 1e7 * lam**3 * s2**2) - math.radians(phase)
        out.append(math.sqrt(1 - w**2) * np.sin(gamma) - w * np.cos(gamma))
    return np.stack(out)


def grid_ctf(table: np.ndarray) -> torch.Tensor:
    """:func:`hand_ctf` on the centred D x D grid: (B, D, D)."""
    k = (np.arange(D) - D // 2) / D
    ky, kx = np.meshgrid(k, k, indexing="ij")
    return torch.from_numpy(hand_ctf(table, kx.ravel(), ky.ravel()).reshape(-1, D, D))


class Particles:
    """B simulated particles of the atomic structure: shifted (std 3 px), CTF-modulated, noise-free."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        atoms = ATOMS_A - (ATOMS_A * WEIGHTS[:, None]).sum(0) / WEIGHTS.sum()
        self.q_px = torch.from_numpy(atoms / APIX)
        self.sigma_px = gaussian_sigma(RES) / APIX
        structure = AtomicModel("t", Path("t"), atoms, WEIGHTS, float(np.linalg.norm(atoms, axis=1).max()), 0.0)
        self.rots = torch.from_numpy(random_rotations(B, rng).astype(np.float32))
        self.trans = torch.from_numpy(np.clip(rng.normal(0, 3.0, (B, 2)), -7, 7).astype(np.float32))
        self.ctf = torch.from_numpy(random_ctf(B, D, APIX, (10000.0, 25000.0), rng))
        self.clean = torch.from_numpy(project_atoms(structure, self.rots.numpy(), -self.trans.numpy(), D, APIX, RES))
        self.ctf_grid = grid_ctf(self.ctf.numpy())
        self.images = ifft2_center(fft2_center(self.clean.double()) * self.ctf_grid).real.float()

    def transform(self, coords: torch.Tensor) -> torch.Tensor:
        """The exact (Re F, Im F) of the structure at coords (..., 3) cycles/pixel -> (..., 2)."""
        c = coords.double()
        envelope = torch.exp(-2 * math.pi**2 * self.sigma_px**2 * c.pow(2).sum(-1))
        phase = -2 * math.pi * (c @ self.q_px.T)
        w = torch.from_numpy(WEIGHTS)
        return torch.stack([(w * torch.cos(phase)).sum(-1) * envelope,
                            (w * torch.sin(phase)).sum(-1) * envelope], -1).float()


@pytest.fixture(scope="module")
def particles() -> Particles:
    return Particles()


def exact_model(p: Particles) -> CryoHypeModel:
    """A model whose INR is the structure's exact transform (the encoder is run but not used)."""
    torch.manual_seed(0)
    model = CryoHypeModel(tiny_cfg(), D)
    model.evaluate = lambda cond, coords, feats=None: p.transform(coords)
    return model


def relative_loss(model: CryoHypeModel, images, trans, ctf, rots) -> np.ndarray:
    """Per-image training loss divided by the target's power: (B,)."""
    x, target, ctf_half = model.encoder_input(images, trans, ctf)
    loss = model.image_losses(model.encode(x), rots, target, ctf_half)
    return (loss / target.pow(2).mean(1)).detach().numpy()


def test_shifts_are_realistic(particles):
    assert particles.trans.std() >= 2.5 and particles.trans.abs().max() > 4


def test_targets_equal_the_rendering_of_the_true_structure(particles):
    """Shift, CTF, pose and Hartley pairs all right: the loss is 0.2-0.4 % of the target's power (the rest is
    the real-space window and the CTF's wrap-around on the D grid)."""
    p = particles
    rel = relative_loss(exact_model(p), p.images, p.trans, p.ctf, p.rots)
    assert rel.max() < 0.01, rel


@pytest.mark.parametrize("error", ["shift sign", "no CTF", "transposed poses", "amplitude contrast sign"])
def test_each_wrong_convention_is_seen_by_the_loss(particles, error):
    """Negative controls: each error costs 3 % (w sign) to several times (the others) of the target's power."""
    p = particles
    trans, ctf, rots = p.trans, p.ctf, p.rots
    if error == "shift sign":
        trans = -trans
    elif error == "no CTF":
        ctf = None
    elif error == "transposed poses":
        rots = rots.transpose(1, 2)
    else:
        ctf = ctf.clone()
        ctf[:, 7] = -ctf[:, 7]
    rel = relative_loss(exact_model(p), p.images, trans, ctf, rots)
    assert rel.min() > (0.02 if error == "amplitude contrast sign" else 0.5), rel


def centred_truth(p: Particles, model: CryoHypeModel, ctf: bool = True) -> torch.Tensor:
    """The exact Hartley transform of each centred slice times |CTF| (or not), on the (D+1)**2 lattice:
    (B, (D+1)**2)."""
    coords = model.geometry.coords
    ab = p.transform(coords @ p.rots)
    if not ctf:
        return ab[..., 0] - ab[..., 1]
    c = hand_ctf(p.ctf.numpy(), coords[:, 0].numpy(), coords[:, 1].numpy())
    return (ab[..., 0] - ab[..., 1]) * torch.from_numpy(np.abs(c)).float()


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.flatten().double(), b.flatten().double()]))[0, 1])


def test_encoder_input_is_the_centred_phase_flipped_transform(particles):
    """The encoder sees each particle centred and with the CTF's sign undone: its Hartley input equals
    |CTF| x the centred particle's transform (correlation > 0.99 per image over the training disk), which
    the CTF-modulated transform itself does not (the control: below 0.5)."""
    p = particles
    model = exact_model(p)
    geo = model.geometry
    x, _, _ = model.encoder_input(p.images, p.trans, p.ctf)
    truth = centred_truth(p, model)
    points = torch.cat([geo.half_idx, geo.mirror_idx])
    flat = torch.zeros(B, (D + 1) ** 2)
    flat.view(B, D + 1, D + 1)[:, :-1, :-1] = x * model.norm_std
    unflipped = geo.targets(p.images, p.trans)
    for i in range(B):
        assert correlation(flat[i, points], truth[i, points]) > 0.99
        assert correlation(unflipped[i, points], truth[i, points]) < 0.5


def test_real_encoder_input_is_the_centred_ctf_corrected_image(particles):
    """``encoder_input="real"``: the inverse of the phase-flipped transform, a centred positive image."""
    p = particles
    torch.manual_seed(0)
    model = CryoHypeModel(tiny_cfg(encoder_input="real"), D)
    x, _, _ = model.encoder_input(p.images, p.trans, p.ctf)
    disk = model.geometry.disk

    def image(flat):
        return iht2_center(flat.reshape(B, D + 1, D + 1)[:, :-1, :-1] * disk)

    expected, clean = image(centred_truth(p, model)), image(centred_truth(p, model, ctf=False))
    for i in range(B):
        assert correlation(x[i], expected[i]) > 0.99
        assert correlation(x[i], clean[i]) > 0.5  # the centred projection itself, without any CTF: positive
