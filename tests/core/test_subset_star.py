"""A subset .star for any dataset: read back by the .star reader, it gives the same images, poses and CTF."""

import numpy as np
import pytest

from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.dataset import ParticleDataset
from napari_cryohype.core.subset_star import dataset_star_tables, write_dataset_star
from tests.core.mixture_data import write_mixture


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    files = write_mixture(tmp_path_factory.mktemp("subset"), n=12, shift_px=1.5)
    return ParticleDataset(files["particles"], files["poses"], files["ctf"])


def test_a_subset_of_mrcs_and_pkl_reads_back_with_its_poses_and_ctf(dataset, tmp_path):
    chosen = np.array([7, 2, 9])
    star = write_dataset_star(dataset, chosen, tmp_path / "subset.star")
    back = ParticleDataset(star, star, star)
    assert len(back) == 3 and back.D == dataset.D and back.apix == pytest.approx(dataset.apix)
    np.testing.assert_array_equal(back.particles[np.arange(3)], dataset.particles[chosen])
    np.testing.assert_allclose(back.poses.rots, dataset.poses.rots[chosen], atol=1e-5)
    np.testing.assert_allclose(back.poses.trans, dataset.poses.trans[chosen], atol=1e-6)
    assert np.abs(dataset.poses.trans[chosen]).max() > 0.01          # the shifts are really there
    np.testing.assert_allclose(back.ctf, dataset.ctf[chosen], rtol=1e-5)


def test_no_ctf_no_ctf_columns_and_bad_subsets_are_refused(tmp_path):
    files = write_mixture(tmp_path, n=6, ctf=False)
    plain = ParticleDataset(files["particles"], files["poses"])
    tables = dataset_star_tables(plain, np.array([1, 4]))
    assert "rlnDefocusU" not in tables["particles"] and tables["optics"]["rlnImageSize"].tolist() == [plain.D]
    with pytest.raises(ValueError, match="non-empty"):
        dataset_star_tables(plain, np.array([], np.int64))
    with pytest.raises(ValueError, match="outside"):
        dataset_star_tables(plain, np.array([6]))


def test_a_subset_spanning_two_optics_groups_is_refused(dataset):
    dataset.ctf[3, 5] = 200.0    # another voltage for one image
    try:
        with pytest.raises(InputError, match="Voltage"):
            dataset_star_tables(dataset, np.array([2, 3]))
        dataset_star_tables(dataset, np.array([2, 4]))
    finally:
        dataset.ctf[3, 5] = dataset.ctf[2, 5]


def test_a_resized_dataset_exports_the_files_at_their_own_box(tmp_path):
    """A run that reads its stack Fourier-cropped (--box) exports the images as they are on disk: their box,
    pixel size and CTF table, with the same poses."""
    files = write_mixture(tmp_path / "data", n=6, shift_px=1.5)
    full = ParticleDataset(files["particles"], files["poses"], files["ctf"])
    small = ParticleDataset(files["particles"], files["poses"], files["ctf"], box=full.D // 2)
    star = write_dataset_star(small, np.array([4, 1]), tmp_path / "subset.star")
    back = ParticleDataset(star, star, star)
    assert back.D == full.D and back.apix == pytest.approx(full.apix)
    np.testing.assert_allclose(back.ctf, full.ctf[[4, 1]], rtol=1e-5)
    np.testing.assert_allclose(back.poses.trans, full.poses.trans[[4, 1]], atol=1e-6)
