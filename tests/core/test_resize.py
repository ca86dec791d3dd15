"""Fourier cropping and padding of images (``fourier.resize_ht2``), as cryoDRGN's ``downsample``."""

import numpy as np
import pytest
import torch

from napari_cryohype.core.fourier import ht2_center, iht2_center, resize_ht2


def cryodrgn_downsample(imgs: np.ndarray, D: int) -> np.ndarray:
    """cryoDRGN's definition (commands/downsample.py with fft.ht2_center / iht2_center), for even boxes:
    the centred Hartley transform's central D x D, inverse-transformed with the 1 / D**2 of the new box."""
    D0 = imgs.shape[-1]
    start, stop = int(D0 / 2 - D / 2), int(D0 / 2 + D / 2)

    def ht2(x):
        f = np.fft.fftshift(np.fft.fft2(np.fft.fftshift(x, axes=(-2, -1))), axes=(-2, -1))
        return f.real - f.imag

    return ht2(ht2(imgs)[:, start:stop, start:stop]) / (D * D)


def band_limited(rng, n: int, D0: int, radius: float) -> np.ndarray:
    """Random real images (n, D0, D0) whose transform is 0 at |k| >= radius (cycles per box)."""
    ht = torch.from_numpy(rng.standard_normal((n, D0, D0)))
    k = torch.arange(D0) - D0 // 2
    ht[:, (k[:, None] ** 2 + k[None, :] ** 2) >= radius**2] = 0
    return iht2_center(ht).numpy()


@pytest.mark.parametrize("D0, D", [(32, 16), (30, 24), (300, 128), (64, 62)])
def test_crop_equals_cryodrgns_downsample(rng, D0, D):
    imgs = rng.standard_normal((3, D0, D0))
    np.testing.assert_allclose(resize_ht2(torch.from_numpy(imgs), D).numpy(), cryodrgn_downsample(imgs, D),
                               rtol=1e-9, atol=1e-9 * np.abs(imgs).max() * (D0 / D) ** 2)


def test_known_images_keep_their_sum_and_frequency():
    """A constant c becomes c (D0/D)**2 (each new pixel sums the old ones it covers); a cosine of k cycles
    per box stays k cycles per box, sampled at the new pixels."""
    D0, D, k = 64, 16, 3
    const = torch.full((1, D0, D0), 2.5, dtype=torch.float64)
    np.testing.assert_allclose(resize_ht2(const, D).numpy(), 2.5 * (D0 / D) ** 2)
    x0, x = torch.arange(D0) - D0 // 2, torch.arange(D) - D // 2
    wave = torch.cos(2 * np.pi * k * x0.double() / D0)[None, None, :].expand(1, D0, D0)
    expected = np.cos(2 * np.pi * k * x.numpy() / D)[None, None, :] * (D0 / D) ** 2
    np.testing.assert_allclose(resize_ht2(wave, D).numpy(), np.broadcast_to(expected, (1, D, D)), atol=1e-9)


@pytest.mark.parametrize("D0, D", [(64, 32), (300, 128), (31, 16), (30, 32)])
def test_band_limited_image_cropped_then_padded_back_is_unchanged(rng, D0, D):
    """Nothing is lost below the small box's Nyquist frequency (odd source boxes too)."""
    imgs = band_limited(rng, 2, D0, radius=min(D0, D) / 2 - 1)
    back = resize_ht2(resize_ht2(torch.from_numpy(imgs), D), D0).numpy()
    np.testing.assert_allclose(back, imgs, atol=1e-9 * np.abs(imgs).max())


def test_pad_then_crop_returns_any_image(rng):
    imgs = rng.standard_normal((2, 30, 30))
    np.testing.assert_allclose(resize_ht2(resize_ht2(torch.from_numpy(imgs), 48), 30).numpy(), imgs, atol=1e-9)


def test_same_box_is_the_image_and_float32_stays_float32(rng):
    imgs = torch.from_numpy(rng.standard_normal((2, 16, 16)).astype(np.float32))
    assert resize_ht2(imgs, 16) is imgs
    out = resize_ht2(imgs, 8)
    assert out.dtype == torch.float32 and out.shape == (2, 8, 8)
    np.testing.assert_allclose(ht2_center(out).numpy(), ht2_center(imgs)[:, 4:12, 4:12].numpy(), atol=1e-4)
