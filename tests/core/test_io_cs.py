"""cryoSPARC .cs: poses (transposed axis-angle), shifts, CTF units, image references, bad input."""

import math

import numpy as np
import pytest

from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.cs import cs_ctf, cs_particles, cs_poses
from napari_cryohype.core.io.mrc import write_mrc

D, APIX = 16, 1.5


def write_cs(path, fields: dict) -> None:
    n = len(next(iter(fields.values())))
    dtype = [(k, np.asarray(v).dtype, np.asarray(v).shape[1:]) for k, v in fields.items()]
    arr = np.zeros(n, dtype=dtype)
    for k, v in fields.items():
        arr[k] = v
    with open(path, "wb") as f:  # np.save(path) would append .npy
        np.save(f, arr)


def full_fields(n=2) -> dict:
    return {
        "blob/path": np.array([b">J1/imported/stack.mrcs"] * n),
        "blob/idx": np.array([3, 0][:n], dtype=np.uint32),
        "blob/shape": np.full((n, 2), D, dtype=np.uint32),
        "blob/psize_A": np.full(n, APIX, dtype=np.float32),
        "alignments3D/pose": np.array([[0, 0, math.pi / 2], [math.pi / 2, 0, 0]][:n], dtype=np.float32),
        "alignments3D/shift": np.array([[2.0, -1.0], [0.5, 0.0]][:n], dtype=np.float32),
        "alignments3D/psize_A": np.full(n, APIX, dtype=np.float32),
        "ctf/df1_A": np.array([15000, 12000][:n], dtype=np.float32),
        "ctf/df2_A": np.array([14000, 11000][:n], dtype=np.float32),
        "ctf/df_angle_rad": np.array([math.pi / 4, 0][:n], dtype=np.float32),
        "ctf/accel_kv": np.full(n, 300, dtype=np.float32),
        "ctf/cs_mm": np.full(n, 2.7, dtype=np.float32),
        "ctf/amp_contrast": np.full(n, 0.1, dtype=np.float32),
        "ctf/phase_shift_rad": np.array([math.pi / 2, 0][:n], dtype=np.float32),
    }


def test_rotation_vector_is_transposed_like_cryodrgn(tmp_path):
    """Axis-angle (0, 0, pi/2) is Rodrigues' [[0,-1,0],[1,0,0],[0,0,1]]; cryoDRGN uses its transpose.
    (pi/2, 0, 0) is [[1,0,0],[0,0,-1],[0,1,0]], transposed [[1,0,0],[0,0,1],[0,-1,0]]."""
    write_cs(tmp_path / "p.cs", full_fields())
    rots = cs_poses(tmp_path / "p.cs").rots
    np.testing.assert_allclose(rots[0], [[0, 1, 0], [-1, 0, 0], [0, 0, 1]], atol=1e-6)
    np.testing.assert_allclose(rots[1], [[1, 0, 0], [0, 0, 1], [0, -1, 0]], atol=1e-6)


def test_shift_in_pixels_becomes_fraction_of_box(tmp_path):
    write_cs(tmp_path / "p.cs", full_fields())
    np.testing.assert_allclose(cs_poses(tmp_path / "p.cs").trans, [[2 / D, -1 / D], [0.5 / D, 0]], atol=1e-7)


def test_shift_at_coarser_alignment_pixel_size_is_rescaled(tmp_path):
    """Heterogeneous refinement aligns at half the box: its shifts count double (cryoDRGN's --hetrefine)."""
    fields = full_fields()
    fields["alignments3D/psize_A"] = np.full(2, 2 * APIX, dtype=np.float32)
    write_cs(tmp_path / "p.cs", fields)
    np.testing.assert_allclose(cs_poses(tmp_path / "p.cs").trans[0], [4 / D, -2 / D], atol=1e-7)


def test_ctf_fields_and_units(tmp_path):
    write_cs(tmp_path / "p.cs", full_fields())
    ctf = cs_ctf(tmp_path / "p.cs")
    assert ctf.shape == (2, 9) and ctf.dtype == np.float32
    np.testing.assert_allclose(ctf[0], [D, APIX, 15000, 14000, 45, 300, 2.7, 0.1, 90], rtol=1e-6)
    np.testing.assert_allclose(ctf[1, 4], 0, atol=1e-6)


def test_images_resolve_against_the_project_folder(tmp_path, rng):
    images = rng.standard_normal((4, D, D)).astype(np.float32)
    (tmp_path / "J1" / "imported").mkdir(parents=True)
    (tmp_path / "J2").mkdir()
    write_mrc(tmp_path / "J1" / "imported" / "stack.mrcs", images, APIX)
    write_cs(tmp_path / "J2" / "p.cs", full_fields())  # project/J2/p.cs refers to J1/... (project-relative)
    particles = cs_particles(tmp_path / "J2" / "p.cs")
    np.testing.assert_array_equal(particles[:], images[[3, 0]])
    other = tmp_path / "copies" / "elsewhere"  # neither it nor its parent is the project folder
    other.mkdir(parents=True)
    write_cs(other / "p.cs", full_fields())
    with pytest.raises(InputError, match="p.cs.*stack.mrcs.*not found"):
        cs_particles(other / "p.cs")
    np.testing.assert_array_equal(cs_particles(other / "p.cs", datadir=tmp_path)[0], images[3])


def test_missing_fields_are_listed(tmp_path):
    fields = full_fields()
    del fields["alignments3D/shift"], fields["ctf/cs_mm"], fields["ctf/amp_contrast"]
    write_cs(tmp_path / "p.cs", fields)
    with pytest.raises(InputError, match="p.cs.*alignments3D/shift"):
        cs_poses(tmp_path / "p.cs")
    with pytest.raises(InputError, match="p.cs.*ctf/cs_mm, ctf/amp_contrast"):
        cs_ctf(tmp_path / "p.cs")


def test_not_a_cs_file(tmp_path):
    (tmp_path / "x.cs").write_text("hello")
    with pytest.raises(InputError, match="x.cs.*cryoSPARC"):
        cs_poses(tmp_path / "x.cs")
    with pytest.raises(InputError, match="y.cs.*not found"):
        cs_ctf(tmp_path / "y.cs")


def test_nan_pose_is_reported(tmp_path):
    fields = full_fields()
    fields["alignments3D/pose"][1, 0] = np.nan
    write_cs(tmp_path / "p.cs", fields)
    with pytest.raises(InputError, match="p.cs.*pose of particle 1"):
        cs_poses(tmp_path / "p.cs")


def test_an_empty_table_is_refused_as_poses_ctf_and_particles(tmp_path):
    write_cs(tmp_path / "p.cs", {k: v[:0] for k, v in full_fields().items()})
    for read in (cs_poses, cs_ctf, cs_particles):
        with pytest.raises(InputError, match=r"p.cs: the table holds no particles \(0 rows\)"):
            read(tmp_path / "p.cs")


def test_a_text_file_named_cs_is_refused_plainly(tmp_path):
    (tmp_path / "p.cs").write_text("uid,blob/path\n1,a.mrcs\n")
    with pytest.raises(InputError, match=r"p.cs: not a cryoSPARC .cs file: a .cs file is a NumPy array .* "
                                         r"starts with b'uid,bl'"):
        cs_poses(tmp_path / "p.cs")
    (tmp_path / "e.cs").write_bytes(b"")
    with pytest.raises(InputError, match="e.cs: not a cryoSPARC .cs file.*is empty"):
        cs_ctf(tmp_path / "e.cs")


def test_ctf_defaults_fill_missing_fields_only(tmp_path):
    from napari_cryohype.core.io.types import CtfDefaults
    fields = full_fields()
    del fields["ctf/amp_contrast"], fields["ctf/phase_shift_rad"]
    write_cs(tmp_path / "p.cs", fields)
    with pytest.raises(InputError, match=r"p.cs: .*missing field\(s\) ctf/amp_contrast \(or give -w/--amp-contrast\)"):
        cs_ctf(tmp_path / "p.cs")
    defaults = CtfDefaults(w=0.07, cs=0.01)
    ctf = cs_ctf(tmp_path / "p.cs", defaults=defaults)
    np.testing.assert_allclose(ctf[:, 6:], np.broadcast_to([2.7, 0.07, 0.0], (2, 3)), rtol=1e-6)
    assert list(defaults.used) == ["w"] and defaults.unused() == ["--cs 0.01 not used: the files give their own value"]
