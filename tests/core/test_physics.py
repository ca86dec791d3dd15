"""The physics conventions: Fourier slice theorem, shifts, Hartley transforms, CTF."""

import math

import numpy as np
import torch

from napari_cryohype.core import fourier, lattice
from napari_cryohype.core.rotation import random_rotations
from tests.conftest import asymmetric_volume


def rot_z(deg: float) -> torch.Tensor:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return torch.tensor([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def test_projection_of_identity_is_sum_over_z():
    vol = asymmetric_volume(16)
    img = lattice.project_volume(vol, torch.eye(3, dtype=torch.float64)[None])[0]
    torch.testing.assert_close(img, vol.sum(0))


def test_known_rotation_moves_a_blob_where_p_at_R_says():
    """img[y, x] = sum_z vol(p @ R): a blob at vol position q appears where p @ R = q, i.e. p = q @ R.T."""
    D = 32
    r = torch.arange(D, dtype=torch.float64) - D // 2
    z, y, x = torch.meshgrid(r, r, r, indexing="ij")
    vol = torch.exp(-((x - 6) ** 2 + y**2 + z**2) / 2)  # blob at q = (6, 0, 0)
    R = rot_z(90)
    img = lattice.project_volume(vol, R[None])[0]
    p = torch.tensor([6.0, 0.0, 0.0], dtype=torch.float64) @ R.T  # expected (x, y) of the blob
    iy, ix = np.unravel_index(int(img.argmax()), img.shape)
    assert (ix - D // 2, iy - D // 2) == (round(float(p[0])), round(float(p[1])))
    assert (round(float(p[0])), round(float(p[1]))) == (0, -6)  # by hand: q @ R.T = 6 * R[:, 0]


def test_central_slice_equals_projection_for_random_poses(rng):
    """Fourier slice theorem in our convention: 20 random poses, correlation > 0.99 in the band."""
    D = 32
    vol = asymmetric_volume(D)
    rots = torch.from_numpy(random_rotations(20, rng))
    # zero-pad 2x so that trilinear interpolation of the transform is accurate; frequencies in
    # cycles/voxel are unchanged by padding, only sampled twice as finely
    vol_pad = torch.nn.functional.pad(vol, (D // 2,) * 6)
    slices = lattice.sample_volume(fourier.htn_center(vol_pad), lattice.slice_coords(D).double() @ rots)
    imgs_from_slices = fourier.iht2_center(slices.reshape(20, D + 1, D + 1)[:, :-1, :-1])
    imgs_real = lattice.project_volume(vol, rots)
    band = lattice.circular_mask(D, ignore_dc=False).reshape(D + 1, D + 1)[:-1, :-1]
    for a, b in zip(imgs_from_slices, imgs_real):
        fa, fb = fourier.ht2_center(a)[band], fourier.ht2_center(b)[band]
        assert torch.corrcoef(torch.stack([fa, fb]))[0, 1] > 0.99
        torch.testing.assert_close(a.sum(), b.sum(), rtol=1e-3, atol=0)
