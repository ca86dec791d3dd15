"""How the explorer draws a volume, without Qt: the Fourier-upsampled copy, the iso level, the contrast."""

import numpy as np
import pytest

from napari_cryohype.widgets.volume_display import (RENDERINGS, contrast_limits, display_copy, fourier_upsample,
                                                    iso_threshold, upsampling)


def band_limited(D: int, seed: int = 0) -> np.ndarray:
    """A random real volume (D, D, D) with no Fourier component at or beyond |k| = D/2 - 1."""
    rng = np.random.default_rng(seed)
    ft = np.fft.fftn(rng.standard_normal((D,) * 3))
    k = np.fft.fftfreq(D) * D
    radius = np.sqrt(k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2)
    ft[radius >= D / 2 - 1] = 0
    return np.fft.ifftn(ft).real.astype(np.float32)


def blurred_ball(D: int, radius: float, blur: float = 1.5) -> np.ndarray:
    """A ball of density 1 and ``radius`` voxels at the box centre, blurred by a Gaussian of ``blur`` voxels
    (a low-resolution map of a compact molecule)."""
    x = np.arange(D) - D // 2
    ball = (x[:, None, None] ** 2 + x[None, :, None] ** 2 + x[None, None, :] ** 2 <= radius**2).astype(np.float64)
    k = np.fft.fftfreq(D)
    gauss = np.exp(-2 * (np.pi * blur) ** 2 * (k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2))
    return np.fft.ifftn(np.fft.fftn(ball) * gauss).real.astype(np.float32)


@pytest.mark.parametrize("D, factor", [(16, 4), (24, 3), (32, 2), (48, 2), (64, 1), (128, 1)])
def test_small_boxes_are_drawn_at_least_64_voxels_across(D, factor):
    assert upsampling(D) == factor


@pytest.mark.parametrize("D, factor", [(16, 2), (15, 3), (24, 3)])
def test_the_upsampled_copy_passes_through_the_voxels_and_interpolates_between(D, factor):
    vol = band_limited(D)
    fine = fourier_upsample(vol, factor)
    assert fine.shape == (D * factor,) * 3 and fine.dtype == np.float32
    np.testing.assert_allclose(fine[::factor, ::factor, ::factor], vol, atol=1e-5 * np.abs(vol).max())
    # between the voxels: the band-limited function itself (along the row of voxels (0, 0, :))
    x = np.arange(D * factor) / factor
    k = np.fft.fftfreq(D) * D
    expected = (np.exp(2j * np.pi * np.outer(x, k) / D) @ np.fft.fft(vol[0, 0]) / D).real
    np.testing.assert_allclose(fine[0, 0], expected, atol=1e-4 * np.abs(vol).max())


def test_display_copy_keeps_a_large_box_as_it_is():
    vol = band_limited(64)
    shown, factor = display_copy(vol)
    assert factor == 1 and np.array_equal(shown, vol)


def test_volumes_are_iso_surfaces_by_default():
    assert RENDERINGS[0] == "iso" and set(RENDERINGS) == {"iso", "attenuated_mip", "mip"}


def test_iso_level_and_contrast_limits_come_from_the_map():
    vol = np.zeros((32,) * 3, np.float32)
    vol[12:20, 12:20, 12:20] = 10.0                    # a molecule filling 1.6 % of the box
    level = iso_threshold(vol)
    assert level == pytest.approx(10 / 3)              # a third of the way from the background to the peak
    assert contrast_limits(vol, "iso") == pytest.approx((0.0, 2 * level))   # the surface at mid-colour
    assert contrast_limits(vol, "mip") == contrast_limits(vol, "attenuated_mip") == pytest.approx((level / 2, 10.0))
    empty = np.zeros((8,) * 3, np.float32)              # the layer a first click fills: still valid limits
    assert contrast_limits(empty, "iso") == contrast_limits(empty, "mip") == (0.0, 1.0)


@pytest.mark.parametrize("radius", [5, 9, 14])        # the molecule fills 1 %, 9 % and 25 % of the box
def test_the_surface_encloses_the_molecule_however_much_of_the_box_it_fills(radius):
    vol = blurred_ball(48, radius)
    enclosed = (vol > iso_threshold(vol)).sum() / (4 / 3 * np.pi * radius**3)
    assert 0.8 < enclosed < 1.25                       # (at the mean + 3 SD: 1.8, 1.0 and 0.6 times)


def test_a_noisy_map_gets_the_surface_of_its_clean_map():
    clean = blurred_ball(48, 9)[::2, ::2, ::2]         # a 24 px map, drawn from its 72 px display copy
    noisy = clean + 0.05 * np.random.default_rng(0).standard_normal(clean.shape).astype(np.float32)
    truth, decoded = display_copy(clean)[0], display_copy(noisy)[0]
    inside_truth, inside_decoded = truth > iso_threshold(truth), decoded > iso_threshold(decoded)
    assert (inside_truth & inside_decoded).sum() / (inside_truth | inside_decoded).sum() > 0.9
    low, high = contrast_limits(decoded, "attenuated_mip")
    assert low > 3 * 0.05                              # the solvent's noise is drawn black in the projections
