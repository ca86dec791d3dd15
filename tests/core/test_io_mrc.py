"""MRC maps and streamed stacks: round trips, headers, atomic writes, bad input."""

import tracemalloc

import mrcfile
import numpy as np
import pytest

from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.mrc import MrcStackWriter, read_volume, write_mrc


def test_volume_round_trip_keeps_data_voxel_size_and_zero_origin(tmp_path, rng):
    vol = rng.standard_normal((16, 16, 16)).astype(np.float32)
    path = tmp_path / "vol.mrc"
    write_mrc(path, vol, 2.5)
    back, apix = read_volume(path)
    np.testing.assert_array_equal(back, vol)
    assert back.dtype == np.float32 and apix == pytest.approx(2.5)
    with mrcfile.open(path) as mrc:
        assert tuple(mrc.header.origin.item()) == (0.0, 0.0, 0.0)
        assert (mrc.header.nxstart, mrc.header.nystart, mrc.header.nzstart) == (0, 0, 0)
    assert [p.name for p in tmp_path.iterdir()] == ["vol.mrc"]  # no temporary file left


def test_write_mrc_refuses_to_overwrite_unless_told(tmp_path):
    path = tmp_path / "vol.mrc"
    write_mrc(path, np.zeros((8, 8, 8)), 1.0)
    with pytest.raises(InputError, match="vol.mrc.*exists"):
        write_mrc(path, np.ones((8, 8, 8)), 1.0)
    write_mrc(path, np.ones((8, 8, 8)), 1.0, overwrite=True)
    assert read_volume(path)[0].min() == 1.0


@pytest.mark.parametrize("data, problem", [
    (np.zeros((8, 8, 6), np.float32), "cubic"),
    (np.full((8, 8, 8), np.nan, np.float32), "NaN"),
])
def test_read_volume_rejects_bad_maps(tmp_path, data, problem):
    path = tmp_path / "bad.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(data)
    with pytest.raises(InputError, match=f"bad.mrc.*{problem}"):
        read_volume(path)


def test_read_volume_missing_or_not_mrc(tmp_path):
    with pytest.raises(InputError, match="nothere.mrc.*not found"):
        read_volume(tmp_path / "nothere.mrc")
    junk = tmp_path / "junk.mrc"
    junk.write_bytes(b"not an mrc file")
    with pytest.raises(InputError, match="junk.mrc"):
        read_volume(junk)


def test_stack_writer_streams_chunks_and_appears_only_on_close(tmp_path, rng):
    imgs = rng.standard_normal((10, 16, 16)).astype(np.float32)
    path = tmp_path / "particles.mrcs"
    with MrcStackWriter(path, 10, 16, 1.7) as w:
        w.write(0, imgs[:4])
        w.write(4, imgs[4:9])
        w.write(9, imgs[9])  # a single (D, D) image
        assert not path.exists()  # still under its temporary name
    with mrcfile.open(path) as mrc:
        np.testing.assert_array_equal(mrc.data, imgs)
        assert mrc.voxel_size.x == pytest.approx(1.7)
        assert mrc.is_image_stack()
        assert mrc.header.dmax == pytest.approx(imgs.max())
        assert mrc.header.dmin == pytest.approx(imgs.min())
        assert mrc.header.dmean == pytest.approx(imgs.mean(), abs=1e-6)
        assert mrc.header.rms == pytest.approx(imgs.std(), rel=1e-5)
    assert [p.name for p in tmp_path.iterdir()] == ["particles.mrcs"]


def test_stack_writer_copies_nothing_it_is_given(tmp_path, rng):
    """Writing an 8 MB float32 chunk allocates < 1 MB: no bytes copy, no float64 copy for the statistics."""
    imgs = rng.standard_normal((500, 64, 64), dtype=np.float32)
    with MrcStackWriter(tmp_path / "p.mrcs", 500, 64, 1.0) as w:
        tracemalloc.start()
        w.write(0, imgs)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 1e6


def test_stack_writer_removes_partial_file_on_exception(tmp_path):
    path = tmp_path / "particles.mrcs"
    with pytest.raises(RuntimeError, match="boom"):
        with MrcStackWriter(path, 4, 8, 1.0) as w:
            w.write(0, np.ones((2, 8, 8)))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_stack_writer_rejects_bad_rows_and_existing_files(tmp_path):
    path = tmp_path / "particles.mrcs"
    with MrcStackWriter(path, 4, 8, 1.0) as w:
        with pytest.raises(ValueError):
            w.write(3, np.ones((2, 8, 8)))  # past the end
        with pytest.raises(ValueError):
            w.write(0, np.ones((1, 8, 6)))  # wrong image size
    with pytest.raises(InputError, match="particles.mrcs.*exists"):
        MrcStackWriter(path, 4, 8, 1.0)
    w = MrcStackWriter(path, 2, 8, 1.0, overwrite=True)
    w.write(0, np.full((2, 8, 8), 3.0))
    w.close()
    with mrcfile.open(path) as mrc:
        assert mrc.data.shape == (2, 8, 8) and mrc.data.min() == 3.0


def without_map_id(path):
    """Blank the 'MAP ' ID string (bytes 208-211), as in cryoDRGN's relion31.mrcs and older programs' files."""
    raw = bytearray(path.read_bytes())
    assert raw[208:212] == b"MAP "
    raw[208:212] = b"\0\0\0\0"
    path.write_bytes(bytes(raw))
    return path


def test_a_missing_map_id_is_said_once_in_one_line_naming_the_file(tmp_path, rng):
    """mrcfile warns every time the file is opened; here it is said once per file, and the file is read."""
    import warnings

    from napari_cryohype.core.io.mrc_warnings import UnusualMrcFile
    from napari_cryohype.core.io.particles import ParticleStack, read_stack_header

    images = rng.standard_normal((3, 8, 8)).astype(np.float32)
    write_mrc(tmp_path / "old.mrcs", images, 2.0)
    write_mrc(tmp_path / "old.mrc", np.ones((4, 4, 4), np.float32), 2.0)
    without_map_id(tmp_path / "old.mrcs")
    without_map_id(tmp_path / "old.mrc")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            assert read_stack_header(tmp_path / "old.mrcs").n == 3
            np.testing.assert_array_equal(ParticleStack.from_mrc(tmp_path / "old.mrcs")[:], images)
            assert read_volume(tmp_path / "old.mrc")[1] == pytest.approx(2.0)
    said = [str(w.message) for w in caught]
    assert said == [f"{tmp_path / 'old.mrcs'}: unusual MRC header, read anyway: no 'MAP ' ID string (not MRC 2014; "
                    "older programs write such files)",
                    f"{tmp_path / 'old.mrc'}: unusual MRC header, read anyway: no 'MAP ' ID string (not MRC 2014; "
                    "older programs write such files)"]
    assert all(w.category is UnusualMrcFile for w in caught)


def test_a_file_that_is_not_mrc_gives_the_error_alone(tmp_path):
    import warnings

    from napari_cryohype.core.io.particles import read_stack_header

    (tmp_path / "junk.mrcs").write_bytes(b"\x89PNG" + bytes(2000))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(InputError, match="junk.mrcs"):
            read_stack_header(tmp_path / "junk.mrcs")
    assert caught == []


def test_the_command_line_says_it_in_one_line(tmp_path, rng, capsys):
    """cryohype downsample of a .star whose stack lacks the map ID: one line, naming the stack."""
    from napari_cryohype.cli import main
    from tests.core.test_io_star import write_relion31

    write_mrc(tmp_path / "stack.mrcs", rng.standard_normal((3, 16, 16)).astype(np.float32), 2.0)
    without_map_id(tmp_path / "stack.mrcs")
    write_relion31(tmp_path / "p.star")
    assert main(["downsample", str(tmp_path / "p.star"), str(tmp_path / "small.mrcs"), "--box", "8"]) == 0
    err = capsys.readouterr().err
    assert "Map ID string not found" not in err
    lines = [line for line in err.splitlines() if "MAP" in line]
    assert lines == [f"cryohype downsample: note: {tmp_path / 'stack.mrcs'}: unusual MRC header, read anyway: no "
                     "'MAP ' ID string (not MRC 2014; older programs write such files)"]
