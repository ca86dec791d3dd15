"""RELION .star: conventions pinned by hand, 3.0 vs 3.1 layouts, images, subsets, bad input."""

import math

import numpy as np
import pytest

from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.mrc import write_mrc
from napari_cryohype.core.io.star import (read_star, relion_to_rotation, rotation_to_relion, star_ctf,
                                          star_particles, star_poses, write_star_subset)
from napari_cryohype.core.rotation import random_rotations

D, APIX = 16, 2.0
ANGLES = [(90.0, 0.0, 0.0), (10.0, 20.0, 30.0), (-120.0, 135.0, 75.0)]
ORIGINS_PX = [(1.5, -0.5), (0.0, 2.0), (-3.0, 0.25)]
DEFOCUS = [(15000, 14000, 30.0), (16000, 15500, 45.0), (21000, 20000, -10.0)]


def star_text(rows: list[list], columns: list[str], block: str) -> str:
    head = [f"data_{block}", "", "loop_"] + [f"_{c} #{i + 1}" for i, c in enumerate(columns)]
    return "\n".join(head + [" ".join(str(v) for v in r) for r in rows]) + "\n\n"


def write_relion30(path) -> None:
    """RELION 3.0: one table, origins in pixels, pixel size from detector pixel size / magnification."""
    cols = ["rlnImageName", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnOriginX", "rlnOriginY",
            "rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle", "rlnVoltage", "rlnSphericalAberration",
            "rlnAmplitudeContrast", "rlnPhaseShift", "rlnDetectorPixelSize", "rlnMagnification"]
    rows = [[f"{i + 1:06d}@stack.mrcs", *ANGLES[i], *ORIGINS_PX[i], *DEFOCUS[i], 300, 2.7, 0.1, 0, 5.0, 25000]
            for i in range(3)]
    path.write_text(star_text(rows, cols, ""))


def write_relion31(path, groups=(1, 1, 1)) -> None:
    """RELION 3.1: optics table + particles, origins in Å."""
    optics = star_text([["opticsGroup1", 1, 300, 2.7, 0.1, APIX, D, 2],
                        ["opticsGroup2", 2, 200, 2.0, 0.07, APIX, D, 2]][:max(groups)],
                       ["rlnOpticsGroupName", "rlnOpticsGroup", "rlnVoltage", "rlnSphericalAberration",
                        "rlnAmplitudeContrast", "rlnImagePixelSize", "rlnImageSize", "rlnImageDimensionality"],
                       "optics")
    cols = ["rlnImageName", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnOriginXAngst",
            "rlnOriginYAngst", "rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle", "rlnOpticsGroup"]
    rows = [[f"{i + 1:06d}@stack.mrcs", *ANGLES[i], *(o * APIX for o in ORIGINS_PX[i]), *DEFOCUS[i], groups[i]]
            for i in range(3)]
    path.write_text("# version 30001\n\n" + optics + star_text(rows, cols, "particles"))


@pytest.fixture
def stack(tmp_path, rng):
    images = rng.standard_normal((3, D, D)).astype(np.float32)
    write_mrc(tmp_path / "stack.mrcs", images, APIX)
    return images


def relion_matrix(rot, tilt, psi):
    """RELION's Euler_angles2matrix (src/euler.cpp), written out from its published formula."""
    a, b, g = (math.radians(v) for v in (rot, tilt, psi))
    ca, sa, cb, sb, cg, sg = math.cos(a), math.sin(a), math.cos(b), math.sin(b), math.cos(g), math.sin(g)
    cc, cs, sc, ss = cb * ca, cb * sa, sb * ca, sb * sa
    return np.array([[cg * cc - sg * sa, cg * cs + sg * ca, -cg * sb],
                     [-sg * cc - cg * sa, -sg * cs + cg * ca, sg * sb],
                     [sc, ss, cb]])


def test_rot_90_gives_the_matrix_derived_by_hand():
    """cryoDRGN: R = F * (Rz(psi) Ry(tilt) Rz(rot)) with Rz(90) = [[0,-1,0],[1,0,0],[0,0,1]];
    F flips (0,1) and (1,0): R = [[0,1,0],[-1,0,0],[0,0,1]]."""
    R = relion_to_rotation(np.array([90.0]), np.array([0.0]), np.array([0.0]))[0]
    np.testing.assert_allclose(R, [[0, 1, 0], [-1, 0, 0], [0, 0, 1]], atol=1e-12)


def test_rot_90_tilt_90_by_hand():
    """Ry(90) Rz(90) = [[0,0,-1],[0,1,0],[1,0,0]] @ [[0,-1,0],[1,0,0],[0,0,1]] = [[0,0,-1],[1,0,0],[0,-1,0]];
    flipping (1,0) and (2,1) gives [[0,0,-1],[-1,0,0],[0,1,0]]."""
    R = relion_to_rotation(np.array([90.0]), np.array([90.0]), np.array([0.0]))[0]
    np.testing.assert_allclose(R, [[0, 0, -1], [-1, 0, 0], [0, 1, 0]], atol=1e-12)


def test_matches_relions_own_euler_matrix():
    for angles in ANGLES + [(33.0, 71.0, -160.0)]:
        R = relion_to_rotation(*(np.array([v]) for v in angles))[0]
        np.testing.assert_allclose(R, relion_matrix(*angles), atol=1e-12)


def test_euler_round_trip(rng):
    rots = random_rotations(50, rng)
    np.testing.assert_allclose(relion_to_rotation(*rotation_to_relion(rots).T), rots, atol=1e-10)


def test_origin_in_angstrom_becomes_fraction_of_box_with_same_sign(tmp_path, stack):
    write_relion31(tmp_path / "p.star")
    poses = star_poses(tmp_path / "p.star")
    # rlnOriginXAngst = 3.0 Å, 2 Å/px, 16 px box: +3 / 2 / 16 = +0.09375; Y: -1 / 2 / 16 = -0.03125
    np.testing.assert_allclose(poses.trans[0], [0.09375, -0.03125])
    assert poses.rots.dtype == np.float32 and poses.trans.dtype == np.float32


def test_relion_30_and_31_give_identical_poses_and_ctf(tmp_path, stack):
    write_relion30(tmp_path / "p30.star")
    write_relion31(tmp_path / "p31.star")
    p30, p31 = star_poses(tmp_path / "p30.star"), star_poses(tmp_path / "p31.star")
    np.testing.assert_allclose(p30.rots, p31.rots, atol=1e-7)
    np.testing.assert_allclose(p30.trans, p31.trans, atol=1e-7)
    np.testing.assert_allclose(p30.trans * D, ORIGINS_PX, atol=1e-6)
    c30, c31 = star_ctf(tmp_path / "p30.star"), star_ctf(tmp_path / "p31.star")
    np.testing.assert_allclose(c30, c31)
    # D from the stack header (3.0) / rlnImageSize (3.1); 5 µm / 25000 = 2 Å
    np.testing.assert_allclose(c31[1], [D, APIX, 16000, 15500, 45, 300, 2.7, 0.1, 0], rtol=1e-6)


def test_optics_groups_are_merged_per_particle(tmp_path, stack):
    write_relion31(tmp_path / "p.star", groups=(1, 2, 1))
    ctf = star_ctf(tmp_path / "p.star")
    np.testing.assert_allclose(ctf[:, 5], [300, 200, 300])
    np.testing.assert_allclose(ctf[:, 7], [0.1, 0.07, 0.1], rtol=1e-6)
    assert read_star(tmp_path / "p.star").optics is not None


def test_images_are_the_one_based_references(tmp_path, stack):
    text = star_text([["3@stack.mrcs"], ["1@stack.mrcs"]], ["rlnImageName"], "particles")
    (tmp_path / "p.star").write_text(text)
    particles = star_particles(tmp_path / "p.star")
    np.testing.assert_array_equal(particles[:], stack[[2, 0]])
    assert particles.D == D and particles.apix == APIX


def test_images_resolve_against_datadir(tmp_path, stack):
    (tmp_path / "meta").mkdir()
    text = star_text([["2@Extract/job1/stack.mrcs"]], ["rlnImageName"], "particles")
    (tmp_path / "meta" / "p.star").write_text(text)
    with pytest.raises(InputError, match="p.star.*stack.mrcs.*not found"):
        star_particles(tmp_path / "meta" / "p.star")
    np.testing.assert_array_equal(star_particles(tmp_path / "meta" / "p.star", datadir=tmp_path)[0], stack[1])


def test_missing_columns_are_listed(tmp_path):
    cols = ["rlnImageName", "rlnAngleRot", "rlnDefocusU"]
    (tmp_path / "p.star").write_text(star_text([["1@s.mrcs", 0, 1]], cols, "particles"))
    with pytest.raises(InputError, match="p.star.*_rlnAngleTilt, _rlnAnglePsi"):
        star_poses(tmp_path / "p.star", D=16)
    with pytest.raises(InputError, match="p.star.*_rlnDefocusV.*_rlnAmplitudeContrast"):
        star_ctf(tmp_path / "p.star", D=16, apix=1.0)


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(InputError, match="none.star.*not found"):
        read_star(tmp_path / "none.star")
    (tmp_path / "bad.star").write_text("this is not a star file\n")
    with pytest.raises(InputError, match="bad.star"):
        read_star(tmp_path / "bad.star")


def test_pixel_size_needed_for_angstrom_origins(tmp_path):
    cols = ["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnOriginXAngst", "rlnOriginYAngst"]
    (tmp_path / "p.star").write_text(star_text([[0, 0, 0, 4.0, 0]], cols, "particles"))
    with pytest.raises(InputError, match="p.star.*pixel size"):
        star_poses(tmp_path / "p.star", D=16)
    np.testing.assert_allclose(star_poses(tmp_path / "p.star", D=16, apix=2.0).trans, [[4 / 2 / 16, 0]])


def test_write_subset_keeps_optics_and_order(tmp_path, stack):
    write_relion31(tmp_path / "p.star")
    write_star_subset(tmp_path / "p.star", np.array([2, 0]), tmp_path / "sub.star")
    sub, full = read_star(tmp_path / "sub.star"), read_star(tmp_path / "p.star")
    assert sub.optics is not None and len(sub.optics) == 1
    assert sub.particles["rlnImageName"].tolist() == ["000003@stack.mrcs", "000001@stack.mrcs"]
    np.testing.assert_allclose(star_poses(sub).rots, star_poses(full).rots[[2, 0]], atol=1e-6)
    np.testing.assert_allclose(star_ctf(sub), star_ctf(full)[[2, 0]])
    np.testing.assert_array_equal(star_particles(tmp_path / "sub.star")[:], stack[[2, 0]])
    with pytest.raises(InputError, match="sub.star.*exists"):
        write_star_subset(tmp_path / "p.star", np.array([0]), tmp_path / "sub.star")
    with pytest.raises(InputError, match="p.star.*particle 7"):
        write_star_subset(tmp_path / "p.star", np.array([7]), tmp_path / "other.star")


def test_write_subset_keeps_key_value_blocks(tmp_path):
    (tmp_path / "p.star").write_text("data_general\n\n_rlnMicrographName mic.mrc\n\n" + star_text(
        [["1@s.mrcs", 0, 0, 0], ["2@s.mrcs", 5, 0, 0]],
        ["rlnImageName", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"], "particles"))
    write_star_subset(tmp_path / "p.star", np.array([1]), tmp_path / "sub.star")
    text = (tmp_path / "sub.star").read_text()
    assert "data_general" in text and "mic.mrc" in text
    assert read_star(tmp_path / "sub.star").particles["rlnImageName"].tolist() == ["2@s.mrcs"]


def test_box_of_a_star_without_its_stacks_follows_the_pixel_size(tmp_path):
    """A RELION 3.0 file at 1 Å/px whose stacks are absent, used with images of 16 px at 2 Å/px (downsampled):
    its pixel origins refer to a 32 px box, so an origin of 2 px is 2 / 32 of the box."""
    cols = ["rlnImageName", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnOriginX", "rlnOriginY",
            "rlnDetectorPixelSize", "rlnMagnification"]
    (tmp_path / "p.star").write_text(star_text([["1@absent.mrcs", 0, 0, 0, 2.0, 0, 5.0, 50000]], cols, ""))
    np.testing.assert_allclose(star_poses(tmp_path / "p.star", D=16, apix=2.0).trans, [[2 / 32, 0]])
    np.testing.assert_allclose(star_poses(tmp_path / "p.star", D=16).trans, [[2 / 16, 0]])  # no apix: same box
    with pytest.raises(InputError, match="p.star.*box size"):
        star_poses(tmp_path / "p.star")


# -- inputs that used to crash, and the CTF values a file lacks ------------------------------------------

CTF_30 = ["rlnImageName", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnDefocusU", "rlnDefocusV",
          "rlnDefocusAngle", "rlnVoltage", "rlnSphericalAberration", "rlnDetectorPixelSize", "rlnMagnification"]


def test_a_header_without_rows_is_refused(tmp_path):
    (tmp_path / "p.star").write_text(star_text([], CTF_30, "particles"))
    for read in (read_star, lambda p: star_poses(p, D=16), lambda p: star_particles(p)):
        with pytest.raises(InputError, match="p.star: the particle table .* header but no rows"):
            read(tmp_path / "p.star")


def test_a_truncated_row_is_named(tmp_path):
    rows = [["1@s.mrcs", 0, 0, 0, 15000, 15000, 0, 300, 2.7, 5.0, 25000], ["2@s.mrcs", 0, 0, 0, 15000]]
    (tmp_path / "p.star").write_text(star_text(rows, CTF_30, "particles"))
    with pytest.raises(InputError, match=r"p.star: row 2 of data_particles has 5 of 11 values .*truncated"):
        read_star(tmp_path / "p.star")


@pytest.mark.parametrize("present", ["rlnOriginX", "rlnOriginY", "rlnOriginXAngst", "rlnOriginYAngst"])
def test_one_origin_column_without_the_other_is_refused(tmp_path, present):
    cols = ["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", present, "rlnImagePixelSize"]
    (tmp_path / "p.star").write_text(star_text([[0, 0, 0, 3.0, 2.0]], cols, "particles"))
    with pytest.raises(InputError, match=f"p.star: _{present} is given but _rlnOrigin.* is not"):
        star_poses(tmp_path / "p.star", D=16)


def test_an_undefined_optics_group_is_named_plainly(tmp_path, stack):
    write_relion31(tmp_path / "p.star", groups=(1, 7, 1))
    with pytest.raises(InputError) as err:
        read_star(tmp_path / "p.star")
    assert str(err.value).endswith("p.star: particles refer to optics group(s) 7 that data_optics does not define "
                                   "(it defines 1, 2)")


def write_without_amplitude_contrast(path) -> None:
    """Like cryoDRGN's RELION 3.0 example (FinalRefinement-OriginalParticles-PfCRT.star): no
    _rlnAmplitudeContrast, no _rlnPhaseShift."""
    rows = [[f"{i + 1}@stack.mrcs", *ANGLES[i], *DEFOCUS[i], 300, 2.7, 5.0, 25000] for i in range(3)]
    path.write_text(star_text(rows, CTF_30, ""))


def test_ctf_defaults_fill_only_what_the_file_lacks(tmp_path, stack):
    from napari_cryohype.core.io.types import CtfDefaults
    write_without_amplitude_contrast(tmp_path / "p.star")
    with pytest.raises(InputError, match=r"p.star: .*missing column\(s\) _rlnAmplitudeContrast \(or give "
                                         r"-w/--amp-contrast\)"):
        star_ctf(tmp_path / "p.star")
    defaults = CtfDefaults(w=0.07, kv=200.0, ps=10.0)
    ctf = star_ctf(tmp_path / "p.star", defaults=defaults)
    np.testing.assert_allclose(ctf[:, 5:], np.broadcast_to([300, 2.7, 0.07, 10.0], (3, 4)), rtol=1e-6)  # kv: file's
    assert sorted(defaults.used) == ["ps", "w"] and "p.star has no _rlnAmplitudeContrast" in defaults.used["w"]
    assert defaults.unused() == ["--kv 200 not used: the files give their own value"]


def test_a_header_pixel_size_of_one_is_unset_and_apix_fills_it(tmp_path):
    """Å origins, no pixel-size column, a stack header saying 1.0 (cryoDRGN's default): not taken as real."""
    from napari_cryohype.core.io.types import CtfDefaults
    write_mrc(tmp_path / "stack.mrcs", np.zeros((1, D, D), np.float32), 1.0)
    cols = ["rlnImageName", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnOriginXAngst", "rlnOriginYAngst"]
    (tmp_path / "p.star").write_text(star_text([["1@stack.mrcs", 0, 0, 0, 4.0, 0]], cols, "particles"))
    with pytest.raises(InputError, match=r"p.star: cannot tell the pixel size.*\(--Apix\)"):
        star_poses(tmp_path / "p.star", D=D)
    defaults = CtfDefaults(apix=2.0)
    np.testing.assert_allclose(star_poses(tmp_path / "p.star", D=D, defaults=defaults).trans, [[4 / 2 / D, 0]])
    assert "--Apix 2 used" in defaults.used["apix"]
