"""npe2 contributions: the manifest, the MRC reader and writer, the sample data."""

import mrcfile
import numpy as np
import pytest

from napari_cryohype._reader import get_reader, read_mrc
from napari_cryohype._writer import write_mrc
from napari_cryohype.widgets.stacks import STACK
from napari_cryohype.widgets.volume_display import contrast_limits, iso_threshold

pytestmark = pytest.mark.gui


def test_manifest_validates():
    from npe2 import PluginManifest

    pm = PluginManifest.from_distribution("napari-cryohype")
    pm.validate_imports()  # every command's python_name imports
    assert [w.display_name for w in pm.contributions.widgets] == ["Train and Latent Explorer", "Train",
                                                                  "Latent Explorer"]
    assert pm.contributions.readers[0].accepts_directories
    # the reader is offered for MRC files and folders only, so opening other files never asks about it
    from npe2 import PluginManager

    manager = PluginManager.instance()
    manager.discover()
    offered = {p: {r.plugin_name for r in manager.iter_compatible_readers([p])} for p in ("a.tif", "a.MRCS")}
    assert "napari-cryohype" not in offered["a.tif"] and "napari-cryohype" in offered["a.MRCS"]


def test_volume_round_trip_keeps_voxel_size(tmp_path, rng):
    vol = rng.normal(size=(16, 16, 16)).astype(np.float32)
    path = str(tmp_path / "map.mrc")
    assert write_mrc(path, vol, {"scale": (2.5, 2.5, 2.5)}) == [path]
    with mrcfile.open(path) as mrc:
        assert float(mrc.voxel_size.x) == pytest.approx(2.5)
    reader = get_reader(path)
    (data, meta, kind), = reader(path)
    assert kind == "image"
    np.testing.assert_array_equal(data, vol)
    assert meta["scale"] == pytest.approx((2.5, 2.5, 2.5))
    # drawn as the explorer draws its maps: an iso surface at the map's own level
    assert meta["rendering"] == "iso" and meta["iso_threshold"] == iso_threshold(vol)
    assert meta["contrast_limits"] == contrast_limits(vol, "iso") and not meta["metadata"].get(STACK)


def test_stack_reads_as_2d_images(tiny_data):
    (data, meta, kind), = read_mrc(tiny_data / "particles.mrcs")
    assert data.shape == (36, 24, 24)
    assert meta["scale"] == pytest.approx((1.0, 4.0, 4.0))
    assert meta["metadata"][STACK] and "rendering" not in meta


def test_an_opened_stack_is_drawn_in_2d_only(make_napari_viewer, tiny_data):
    viewer = make_napari_viewer()
    stack, = viewer.open(tiny_data / "particles.mrcs", plugin="napari-cryohype")
    volume, = viewer.open(sorted((tiny_data / "volumes").glob("*.mrc"))[0], plugin="napari-cryohype")
    viewer.dims.ndisplay = 3                      # napari's 3D button
    assert not stack.visible and volume.visible   # the map is not inside a grey slab
    viewer.dims.ndisplay = 2
    assert stack.visible


def test_reader_declines_other_files(tmp_path):
    (tmp_path / "x.tif").write_bytes(b"")
    assert get_reader(str(tmp_path / "x.tif")) is None
    assert get_reader(str(tmp_path)) is None  # a folder without config.json


def test_viewer_open_and_save_through_the_plugin(make_napari_viewer, tmp_path, tiny_data):
    viewer = make_napari_viewer()
    vol_path = sorted((tiny_data / "volumes").glob("*.mrc"))[0]
    layers = viewer.open(vol_path, plugin="napari-cryohype")
    assert layers[0].data.shape == (24, 24, 24)
    assert tuple(layers[0].scale) == pytest.approx((4.0, 4.0, 4.0))
    out = tmp_path / "saved.mrc"
    viewer.layers.save(str(out), selected=False, plugin="napari-cryohype")
    with mrcfile.open(out) as mrc:
        np.testing.assert_allclose(mrc.data, layers[0].data)
        assert float(mrc.voxel_size.x) == pytest.approx(4.0)


def test_sample_data_is_simulated_once_and_cached(tmp_path, monkeypatch):
    from napari_cryohype import _sample_data

    monkeypatch.setenv("NAPARI_CRYOHYPE_CACHE", str(tmp_path))
    monkeypatch.setitem(_sample_data.SAMPLE_SETTINGS, "images_per_structure", 4)
    layers = _sample_data.sample_mixture()
    stack, volumes = layers[0], layers[1:]
    assert stack[0].shape == (4 * len(volumes), 32, 32) and stack[1]["metadata"][STACK]
    assert len(volumes) == 5 and all(v[0].shape == (32, 32, 32) for v in volumes)
    assert all(not v[1]["visible"] and v[1]["rendering"] == "iso" for v in volumes)
    folder = tmp_path / _sample_data.SAMPLE_NAME
    stamp = (folder / "particles.mrcs").stat().st_mtime_ns
    _sample_data.sample_mixture()
    assert (folder / "particles.mrcs").stat().st_mtime_ns == stamp  # read from the cache


def test_the_reader_says_an_unusual_header_once_as_the_command_line_does(tmp_path):
    """A map without the 'MAP ' ID string: the reader's own header peek (stack or map?) goes through the
    same catch as the core readers, so napari gets one plain warning naming the file, not mrcfile's two."""
    import warnings

    from napari_cryohype.core.io.mrc_warnings import UnusualMrcFile
    from tests.core.test_io_mrc import without_map_id

    path = tmp_path / "old.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.ones((4, 4, 4), np.float32))
    without_map_id(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_mrc(path)
    assert [w.category for w in caught] == [UnusualMrcFile] and str(path) in str(caught[0].message)
