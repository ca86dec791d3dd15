"""Map metrics on cases with known answers."""

import numpy as np
import pytest

from napari_cryohype.core import metrics
from tests.conftest import asymmetric_volume

D = 24


@pytest.fixture
def blobs() -> np.ndarray:
    return asymmetric_volume(D).numpy()


def cube(shift: int = 0, L: int = 6) -> np.ndarray:
    vol = np.zeros((D, D, D))
    vol[8:8 + L, 8:8 + L, 8 + shift:8 + L + shift] = 1.0
    return vol


def test_identical_maps_score_perfectly(blobs):
    freq, curve = metrics.fsc(blobs, blobs)
    assert freq.shape == curve.shape == (D // 2 + 1,)
    assert freq[0] == 0 and freq[-1] == pytest.approx(0.5)
    np.testing.assert_allclose(curve, 1.0, atol=1e-9)
    assert metrics.fsc_auc(blobs, blobs) == pytest.approx(1.0)
    assert metrics.chamfer_distance(blobs, blobs, apix=3.0) == 0.0
    assert metrics.volume_iou(blobs, blobs) == 1.0


def test_scale_and_offset_do_not_matter(blobs):
    other = 2.5 * blobs + 0.3
    assert metrics.fsc_auc(blobs, other) == pytest.approx(1.0)
    assert metrics.volume_iou(blobs, other) == 1.0


def test_noise_has_low_auc(blobs, rng):
    noise = rng.standard_normal(blobs.shape)
    assert abs(metrics.fsc_auc(blobs, noise)) < 0.15
    # a noisy copy is correlated at low frequency and not at high: the curve falls
    _, curve = metrics.fsc(blobs, blobs + 0.05 * noise)
    assert curve[1] > 0.9 and curve[-1] < 0.5


def test_shifted_cube_matches_hand_computed_chamfer_and_iou():
    """A cube of side L moved by s voxels along x: the s uncovered layers of each cube sit 1..s voxels
    from the other, so the mean distance is s (s + 1) / (2 L) voxels both ways; IoU = (L - s) / (L + s)."""
    L, s, apix = 6, 2, 1.5
    a, b = cube(0, L), cube(s, L)
    assert metrics.chamfer_distance(a, b, apix) == pytest.approx(s * (s + 1) / (2 * L) * apix)
    assert metrics.volume_iou(a, b) == pytest.approx((L - s) / (L + s))


def test_masks_match_the_reference_volume(blobs):
    ref, other = metrics.surface_masks(blobs, 10 * blobs[::-1])
    assert ref.sum() == other.sum() > 0
    assert not np.array_equal(ref, other)


def test_resolution_at_interpolates_the_crossing():
    freq = np.array([0.0, 0.1, 0.2, 0.3])
    curve = np.array([1.0, 0.9, 0.3, 0.1])
    # crosses 0.5 a third of the way from 0.1 to 0.2 -> f = 0.1 + (0.4 / 0.6) * 0.1
    assert metrics.resolution_at(freq, curve, apix=2.0) == pytest.approx(2.0 / (0.1 + 0.4 / 0.6 * 0.1))
    assert metrics.resolution_at(freq, np.ones(4), apix=2.0) == 4.0


def test_bad_shapes_and_empty_reference_are_refused(blobs):
    with pytest.raises(ValueError, match="same shape"):
        metrics.fsc(blobs, blobs[:-1])
    with pytest.raises(ValueError, match="positive density"):
        metrics.volume_iou(-blobs, blobs)


def test_mask_hides_differences_outside_it(blobs, rng):
    other = blobs.copy()
    other[:3] += rng.standard_normal(other[:3].shape)  # differs only in the first z-planes
    mask = np.ones_like(blobs)
    mask[:3] = 0
    assert metrics.fsc_auc(blobs, other) < 0.9
    assert metrics.fsc_auc(blobs, other, mask) == pytest.approx(1.0)


def test_support_mask_covers_the_molecule_and_leaves_out_the_solvent(rng):
    vol = cube(L=6)
    mask = metrics.support_mask(vol, dilate_px=2, soft_px=1.0)
    assert mask.shape == vol.shape and mask.dtype == np.float32 and 0 <= mask.min() and mask.max() <= 1
    assert mask[vol > 0].min() > 0.85         # every voxel of the molecule is inside
    assert mask[:3].max() < 1e-3 and mask[-3:].max() < 1e-3   # far solvent is outside
    # noise in the solvent costs the unmasked FSC, not the masked one
    noisy = vol + 0.3 * rng.standard_normal(vol.shape) * (mask < 1e-3)
    assert metrics.fsc_auc(vol, noisy) < 0.8
    assert metrics.fsc_auc(vol, noisy, mask) == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ValueError, match="no positive density"):
        metrics.support_mask(np.zeros((4, 4, 4)))


@pytest.mark.parametrize("D", [16, 15])
def test_the_fsc_auc_matrix_equals_each_pair_s_fsc_auc(D, rng):
    """Every map against every reference at once (even and odd boxes: the Nyquist plane counts once)."""
    maps = [rng.standard_normal((D, D, D)) for _ in range(3)]
    refs = [maps[1] + 0.5 * rng.standard_normal((D, D, D)), rng.standard_normal((D, D, D))]
    want = np.array([[metrics.fsc_auc(r, m) for r in refs] for m in maps])
    assert metrics.fsc_auc_matrix(maps, refs) == pytest.approx(want, abs=1e-10)
