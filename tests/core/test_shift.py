"""core.lattice.translate_ht / translate_ft: a shift by +t pixels moves the image content by +t."""

import numpy as np
import pytest
import torch

from napari_cryohype.core import fourier, lattice

D = 32


def grid_freqs(D: int) -> torch.Tensor:
    """(D*D, 2) frequencies (kx, ky) in cycles/pixel of the centred D x D transform, kx fastest."""
    k = (torch.arange(D, dtype=torch.float64) - D // 2) / D
    ky, kx = torch.meshgrid(k, k, indexing="ij")
    return torch.stack([kx.ravel(), ky.ravel()], -1)


def shift_ft(img: torch.Tensor, t) -> torch.Tensor:
    ft = fourier.fft2_center(img).reshape(1, -1)
    out = lattice.translate_ft(ft, grid_freqs(D), torch.tensor([t], dtype=torch.float64))
    return fourier.ifft2_center(out.reshape(D, D)).real


def shift_ht(img: torch.Tensor, t) -> torch.Tensor:
    ht = fourier.symmetrize_ht(fourier.ht2_center(img)).reshape(1, -1)
    freqs = lattice.slice_coords(D).double()[:, :2]
    out = lattice.translate_ht(ht, freqs, torch.tensor([t], dtype=torch.float64))
    return fourier.iht2_center(out.reshape(D + 1, D + 1)[:-1, :-1])


def gaussian(cx: float, cy: float, sigma: float = 2.0) -> torch.Tensor:
    """A blob centred at (cx, cy) pixels from the image centre: its spectrum at Nyquist is ~3e-9 of DC."""
    r = torch.arange(D, dtype=torch.float64) - D // 2
    y, x = torch.meshgrid(r, r, indexing="ij")
    return torch.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))


@pytest.mark.parametrize("t", [(3, 0), (0, -2), (5, 7), (-4, 1)])
@pytest.mark.parametrize("shift", [shift_ft, shift_ht])
def test_integer_shift_equals_np_roll(rng, shift, t):
    img = torch.from_numpy(rng.standard_normal((D, D)))
    expected = np.roll(img.numpy(), (t[1], t[0]), axis=(0, 1))  # x moves along columns, y along rows
    np.testing.assert_allclose(shift(img, t).numpy(), expected, atol=1e-10)


@pytest.mark.parametrize("shift", [shift_ft, shift_ht])
def test_fractional_shift_moves_a_band_limited_blob(shift):
    moved = shift(gaussian(-3.0, 2.0), (2.5, -1.25))
    torch.testing.assert_close(moved, gaussian(-0.5, 0.75), atol=1e-6, rtol=0)


def test_ht_and_ft_agree_on_the_symmetric_lattice(rng):
    imgs = torch.from_numpy(rng.standard_normal((3, D, D)))
    t = torch.tensor([[0.3, -1.7], [2.25, 0.5], [-4.0, 3.1]], dtype=torch.float64)
    freqs = lattice.slice_coords(D).double()[:, :2]
    ht = fourier.symmetrize_ht(fourier.ht2_center(imgs)).reshape(3, -1)
    ft = fourier.symmetrize_ht(fourier.fft2_center(imgs)).reshape(3, -1)
    via_ft = lattice.translate_ft(ft, freqs, t)
    torch.testing.assert_close(lattice.translate_ht(ht, freqs, t), via_ft.real - via_ft.imag)


def test_ht_shift_on_a_symmetric_mask_equals_the_full_lattice(rng):
    img = torch.from_numpy(rng.standard_normal((1, D, D)))
    freqs = lattice.slice_coords(D).double()[:, :2]
    mask = lattice.circular_mask(D)
    ht = fourier.symmetrize_ht(fourier.ht2_center(img)).reshape(1, -1)
    t = torch.tensor([[1.5, -2.3]], dtype=torch.float64)
    full = lattice.translate_ht(ht, freqs, t)[:, mask]
    torch.testing.assert_close(lattice.translate_ht(ht[:, mask], freqs[mask], t), full)


def test_shifts_compose_and_invert(rng):
    img = gaussian(1.0, -2.0)
    back = shift_ht(shift_ht(img, (2.5, 1.5)), (-2.5, -1.5))
    torch.testing.assert_close(back, img, atol=1e-6, rtol=0)
