"""One rule for every command that writes: the folders its outputs go in are made (and nothing is left
behind when a write fails). Each command is run with its output in a folder that does not exist yet."""

import mrcfile
import numpy as np
import pytest

from napari_cryohype.cli import main
from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.atomic import atomic_path
from napari_cryohype.core.simulate import bundled_structures
from tests.core.mixture_data import TINY_ARGS


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """A 16 px simulation written by `cryohype simulate` into a folder two levels below one that exists."""
    out = tmp_path_factory.mktemp("outputs") / "not" / "yet" / "sim"
    structure = next(p for p in bundled_structures() if p.name.startswith("2OOB"))
    assert main(["simulate", str(out), "--structures", str(structure), "-M", "8", "--box", "16", "--apix", "6",
                 "--threads", "1"]) == 0
    assert (out / "particles.mrcs").is_file() and (out / "volumes").is_dir()
    return out


def data_args(sim):
    return ["--particles", str(sim / "particles.mrcs"), "--poses", str(sim / "poses.pkl"),
            "--ctf", str(sim / "ctf.pkl")]


def test_simulate_makes_its_folders(sim):
    assert len(np.load(sim / "labels.npy")) == 8


def test_downsample_makes_the_folder_of_its_output(sim, tmp_path):
    out = tmp_path / "new" / "deeper" / "small.mrcs"
    assert main(["downsample", str(sim / "particles.mrcs"), str(out), "--box", "8"]) == 0
    with mrcfile.open(out, permissive=True) as mrc:
        assert mrc.data.shape == (8, 8, 8)


def test_backproject_and_eval_make_their_folders(sim, tmp_path):
    bp = tmp_path / "new" / "bp"
    assert main(["backproject", str(bp), *data_args(sim), "--labels", str(sim / "labels.npy")]) == 0
    assert (bp / "backproject" / "000.mrc").is_file()
    ev = tmp_path / "other" / "eval_out"
    assert main(["eval", str(ev), "--volumes", str(sim / "volumes"), "--method-volumes", str(bp / "backproject")]) == 0
    assert (ev / "eval" / "metrics.json").is_file() and (ev / "eval" / "fsc.png").is_file()


def test_train_and_decode_make_their_folders(sim, tmp_path):
    run = tmp_path / "new" / "run"
    assert main(["train", str(run), *data_args(sim), *TINY_ARGS, "--epochs", "1"]) == 0
    out = tmp_path / "maps" / "of" / "vol3.mrc"
    assert main(["decode", str(run), "--index", "3", "-o", str(out), "--threads", "1"]) == 0
    with mrcfile.open(out, permissive=True) as mrc:
        assert mrc.data.shape == (16, 16, 16)


def test_a_failed_write_leaves_no_new_folder_behind(tmp_path):
    target = tmp_path / "a" / "b" / "f.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_way_of_a_folder_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "a").write_text("not a folder")
    with pytest.raises(InputError, match=r"a: is a file, not a folder$"):
        with atomic_path(tmp_path / "a" / "b" / "f.txt"):
            pass
    assert main(["decode", str(tmp_path), "--index", "0", "-o", str(tmp_path / "a" / "v.mrc")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
