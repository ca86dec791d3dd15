"""Lazy particle stacks: reading image by image, indexing, references, pickling, bad input."""

import pickle
import tracemalloc
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.mrc import MrcStackWriter, write_mrc
from napari_cryohype.core.io.particles import ParticleStack


def write_stack(path, images, apix=2.0):
    write_mrc(path, np.asarray(images, np.float32), apix)
    return path


@pytest.fixture
def images(rng):
    return rng.standard_normal((6, 16, 16)).astype(np.float32)


def test_indexing_returns_float32_images(tmp_path, images):
    stack = ParticleStack.from_mrc(write_stack(tmp_path / "p.mrcs", images))
    assert (len(stack), stack.D, stack.apix) == (6, 16, 2.0)
    assert stack[2].shape == (16, 16) and stack[2].dtype == np.float32
    np.testing.assert_array_equal(stack[2], images[2])
    np.testing.assert_array_equal(stack[-1], images[-1])
    np.testing.assert_array_equal(stack[1:5:2], images[1:5:2])
    np.testing.assert_array_equal(stack[np.array([5, 0, 5])], images[[5, 0, 5]])
    np.testing.assert_array_equal(stack[images.mean((1, 2)) > 0], images[images.mean((1, 2)) > 0])
    with pytest.raises(IndexError):
        stack[6]


def test_integer_stacks_are_converted(tmp_path):
    data = np.arange(2 * 8 * 8, dtype=np.int16).reshape(2, 8, 8)
    with mrcfile.new(tmp_path / "int.mrcs") as mrc:
        mrc.set_data(data)
    stack = ParticleStack.from_mrc(tmp_path / "int.mrcs")
    assert stack[1].dtype == np.float32 and stack[1][0, 0] == 64


def test_large_stack_is_read_image_by_image(tmp_path):
    """A 4,000 x 64 x 64 stack (65 MB, sparse on disk) opens and reads one image with < 1 MB allocated;
    a viewer can still ask for a memory map of it."""
    path = tmp_path / "big.mrcs"
    with MrcStackWriter(path, 4000, 64, 1.0) as w:
        w.write(3999, np.full((64, 64), 7.0))
    stack = ParticleStack.from_mrc(path)
    tracemalloc.start()
    last = stack[3999]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert last.min() == 7.0 and stack[0].max() == 0.0
    assert peak < 1_000_000
    assert isinstance(stack.memmap(), np.memmap)


def test_pickled_stack_reopens_its_files(tmp_path, images):
    stack = ParticleStack.from_mrc(write_stack(tmp_path / "p.mrcs", images))
    stack[0]  # opens the file, which must not travel in the pickle
    clone = pickle.loads(pickle.dumps(stack))
    np.testing.assert_array_equal(clone[4], images[4])


def rss_file_kb() -> int:
    """This process's resident pages of mapped files (kB), from /proc/self/status."""
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("RssFile:")).split()[1])


def write_noise_stack(path, rng, n=2000, D=64):
    with MrcStackWriter(path, n, D, 1.0) as w:
        for start in range(0, n, 500):
            w.write(start, rng.standard_normal((min(500, n - start), D, D), dtype=np.float32))
    return path


linux_only = pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc/self/status")


@linux_only
def test_writing_a_stack_keeps_no_file_pages_resident(tmp_path, rng):
    """Streaming 32 MB of images to disk holds < 4 MB of file pages in the process while it writes (a
    memory-mapped writer held every page it had written until it closed)."""
    path, n, D = tmp_path / "w.mrcs", 2000, 64
    before = rss_file_kb()
    with MrcStackWriter(path, n, D, 1.0) as w:
        for start in range(0, n, 500):
            w.write(start, rng.standard_normal((500, D, D), dtype=np.float32))
        assert rss_file_kb() - before < 4096
    assert path.stat().st_size == 1024 + n * D * D * 4


@linux_only
def test_reading_a_whole_stack_keeps_no_file_pages_resident(tmp_path, rng):
    """One pass over a 32 MB stack adds < 4 MB of file pages to the process and leaves no mapping of it:
    a memory-mapped reader kept every page it had touched resident (RssFile grew by the file's size)."""
    path = write_noise_stack(tmp_path / "r.mrcs", rng)
    stack = ParticleStack.from_mrc(path)
    before = rss_file_kb()
    for start in range(0, len(stack), 100):
        assert stack[start:start + 100].shape == (100, 64, 64)
    assert rss_file_kb() - before < 4096
    assert str(path) not in Path("/proc/self/maps").read_text()


def test_random_and_repeated_indices_read_the_right_images(tmp_path, rng):
    path = write_noise_stack(tmp_path / "r.mrcs", rng, n=40, D=8)
    with mrcfile.open(path) as mrc:
        truth = mrc.data.copy()
    stack = ParticleStack.from_mrc(path)
    idx = np.array([7, 3, 4, 5, 39, 5, 0, 38, 6])
    np.testing.assert_array_equal(stack[idx], truth[idx])


def test_big_endian_and_extended_header_stacks_are_read(tmp_path, images):
    path = tmp_path / "be.mrcs"
    with mrcfile.new(path) as mrc:
        mrc.set_extended_header(np.zeros(10, dtype=[("x", "i4")]))
        mrc.set_data(images.astype(">f4"))
    stack = ParticleStack.from_mrc(path)
    np.testing.assert_array_equal(stack[[4, 1]], images[[4, 1]])


def test_a_stack_cut_short_after_opening_is_reported(tmp_path, images):
    path = write_stack(tmp_path / "cut.mrcs", images)
    stack = ParticleStack.from_mrc(path)
    np.testing.assert_array_equal(stack[5], images[5])
    with open(path, "r+b") as f:
        f.truncate(1024 + 3 * 16 * 16 * 4)
    np.testing.assert_array_equal(stack[2], images[2])
    with pytest.raises(InputError, match="cut.mrcs.*truncated: image 4 "):
        stack[3:6]


def test_txt_lists_stacks_relative_to_its_folder(tmp_path, images):
    (tmp_path / "sub").mkdir()
    write_stack(tmp_path / "sub" / "a.mrcs", images[:2])
    write_stack(tmp_path / "sub" / "b.mrcs", images[2:])
    txt = tmp_path / "sub" / "all.txt"
    txt.write_text("a.mrcs\n\nb.mrcs\n")
    stack = ParticleStack.from_txt(txt)
    assert len(stack) == 6
    np.testing.assert_array_equal(stack[:], images)


def test_references_pick_images_across_files(tmp_path, images):
    a = write_stack(tmp_path / "a.mrcs", images[:3])
    b = write_stack(tmp_path / "b.mrcs", images[3:])
    stack = ParticleStack.from_refs(tmp_path / "list.star", [(b, 2), (a, 0), (b, 0)])
    assert len(stack.files) == 2
    np.testing.assert_array_equal(stack[:], images[[5, 0, 3]])
    with pytest.raises(InputError, match="list.star.*image 4 .*a.mrcs"):
        ParticleStack.from_refs(tmp_path / "list.star", [(a, 3)])


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="gone.mrcs.*not found"):
        ParticleStack.from_mrc(tmp_path / "gone.mrcs")


def test_truncated_file(tmp_path, images):
    path = write_stack(tmp_path / "cut.mrcs", images)
    with open(path, "r+b") as f:
        f.truncate(1024 + 3 * 16 * 16 * 4)
    with pytest.raises(InputError, match="cut.mrcs.*truncated"):
        ParticleStack.from_mrc(path)


def test_non_square_images(tmp_path):
    path = write_stack(tmp_path / "rect.mrcs", np.zeros((2, 16, 12)))
    with pytest.raises(InputError, match="rect.mrcs.*square"):
        ParticleStack.from_mrc(path)


def test_box_sizes_must_agree(tmp_path):
    write_stack(tmp_path / "a.mrcs", np.zeros((2, 16, 16)))
    write_stack(tmp_path / "b.mrcs", np.zeros((2, 32, 32)))
    (tmp_path / "both.txt").write_text("a.mrcs\nb.mrcs\n")
    with pytest.raises(InputError, match="both.txt.*box sizes disagree.*a.mrcs.*16.*b.mrcs.*32"):
        ParticleStack.from_txt(tmp_path / "both.txt")


def test_nan_image_is_reported_when_read(tmp_path, images):
    images[3, 5, 5] = np.nan
    stack = ParticleStack.from_mrc(write_stack(tmp_path / "nan.mrcs", images))
    np.testing.assert_array_equal(stack[2], images[2])  # other images stay readable
    with pytest.raises(InputError, match="nan.mrcs.*image 4 .*NaN"):
        stack[3]
    with pytest.raises(InputError, match="nan.mrcs"):
        stack[:]


def test_txt_with_missing_stack_says_where_it_looked(tmp_path):
    (tmp_path / "l.txt").write_text("absent.mrcs\n")
    with pytest.raises(InputError, match="l.txt.*absent.mrcs.*datadir"):
        ParticleStack.from_txt(tmp_path / "l.txt")
