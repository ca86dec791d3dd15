"""Image contrast: real (negative-contrast) stacks are inverted by default, as cryoDRGN does; stacks whose
simulation.json says positive contrast (the simulator's) are not; --invert-data / --uninvert-data decide."""

import json
import shutil

import numpy as np
import pytest
import torch

from napari_cryohype.cli import main
from napari_cryohype.core.decode import decode_selection
from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.contrast import POSITIVE_STATEMENT, SIDECAR, decide_contrast
from napari_cryohype.core.io.dataset import ParticleDataset
from napari_cryohype.core.io.mrc import read_volume, write_mrc
from napari_cryohype.core.io.particles import ParticleStack
from napari_cryohype.core.run import Run
from napari_cryohype.core.simulate import bundled_structures, simulate_mixture
from tests.core.mixture_data import TINY_ARGS

N, D, APIX = 64, 16, 8.0


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    """A simulated stack (positive contrast, with its simulation.json) and the same images negated in a
    folder of their own without one: what a real stack looks like. Returns (sim folder, neg folder, truth)."""
    tmp = tmp_path_factory.mktemp("contrast")
    sim = simulate_mixture(tmp / "sim", bundled_structures()[:1], N, D, APIX, seed=0, threads=1)
    neg = tmp / "neg"
    neg.mkdir()
    write_mrc(neg / "particles.mrcs", -ParticleStack.from_mrc(sim.particles)[:], APIX)
    for name in ("poses.pkl", "ctf.pkl"):
        shutil.copy(sim.outdir / name, neg / name)
    return sim.outdir, neg, read_volume(sim.volumes[0])[0]


def inputs(folder) -> list[str]:
    return ["--particles", str(folder / "particles.mrcs"), "--poses", str(folder / "poses.pkl"),
            "--ctf", str(folder / "ctf.pkl")]


def test_flags_win_then_simulation_json_then_real_data_are_inverted(tmp_path):
    assert decide_contrast([tmp_path], True).invert and not decide_contrast([tmp_path], False).invert
    assert "--uninvert-data given" in decide_contrast([tmp_path], False).reason
    default = decide_contrast([tmp_path])
    assert default.invert and "negative contrast" in default.reason and "--uninvert-data" in default.reason
    (tmp_path / SIDECAR).write_text(json.dumps({"contrast": POSITIVE_STATEMENT}))
    stated = decide_contrast([tmp_path / "elsewhere", tmp_path])
    assert not stated.invert and str(tmp_path / SIDECAR) in stated.reason
    assert decide_contrast([tmp_path], True).invert  # the flag still wins
    (tmp_path / SIDECAR).write_text(json.dumps({"contrast": "negative (as recorded)"}))
    assert decide_contrast([tmp_path]).invert
    (tmp_path / SIDECAR).write_text(json.dumps({"n_images": 3}))  # says nothing about contrast
    assert decide_contrast([tmp_path]).invert


def test_unreadable_simulation_json_is_a_clear_error_unless_a_flag_decides(tmp_path):
    (tmp_path / SIDECAR).write_text("{not json")
    with pytest.raises(InputError, match=f"{SIDECAR}: unreadable .*--uninvert-data"):
        decide_contrast([tmp_path])
    assert not decide_contrast([tmp_path], False).invert


def test_the_simulators_stack_says_positive_and_is_not_inverted(stacks):
    sim, neg, _ = stacks
    assert json.loads((sim / SIDECAR).read_text())["contrast"] == POSITIVE_STATEMENT
    raw = ParticleStack.from_mrc(sim / "particles.mrcs")[:4]
    ds = ParticleDataset(sim / "particles.mrcs", sim / "poses.pkl", sim / "ctf.pkl", invert_data=None)
    assert not ds.invert_data and "positive" in ds.contrast_note
    np.testing.assert_array_equal(ds.particles[:4], raw)
    real = ParticleDataset(neg / "particles.mrcs", neg / "poses.pkl", neg / "ctf.pkl", invert_data=None)
    assert real.invert_data and "negative contrast" in real.contrast_note
    np.testing.assert_array_equal(real.particles[:4], raw)  # the negated stack, inverted back
    np.testing.assert_array_equal(real[2]["image"].numpy(), raw[2])
    assert not ParticleDataset(neg / "particles.mrcs", neg / "poses.pkl").invert_data  # the library default


def test_a_real_stack_trains_to_positive_density_by_default(stacks, tmp_path, capsys):
    """Train on the negated stack as a user would (no flag): the decoded map correlates positively with
    the truth; with --uninvert-data it comes out negative. The simulator's own stack needs no flag."""
    sim, neg, truth = stacks
    threads = torch.get_num_threads()
    try:
        corr = {}
        for name, folder, flags in (("real", neg, []), ("uninverted", neg, ["--uninvert-data"]),
                                    ("simulated", sim, [])):
            out = tmp_path / name
            assert main(["train", str(out), *inputs(folder), "--epochs", "10", *TINY_ARGS, *flags]) == 0
            data = json.loads((out / "config.json").read_text())["data"]
            corr[name] = correlation(decode_selection(Run.open(out), np.arange(N)), truth)
            corr[name + " invert_data"] = data["invert_data"]
            assert data["contrast"] in capsys.readouterr().err
    finally:
        torch.set_num_threads(threads)
    assert corr["real invert_data"] and not corr["uninverted invert_data"] and not corr["simulated invert_data"]
    assert corr["real"] > 0.5 and corr["simulated"] > 0.5 and corr["uninverted"] < -0.5, corr


def test_backproject_follows_the_same_rule(stacks, tmp_path, capsys):
    """(flags, whether the images are inverted, the map's sign against the truth) for each stack."""
    sim, neg, truth = stacks
    for name, folder, flags, inverted, sign in (("real", neg, [], True, 1),
                                                ("flag", neg, ["--uninvert-data"], False, -1),
                                                ("sim", sim, [], False, 1),
                                                ("forced", sim, ["--invert-data"], True, -1)):
        assert main(["backproject", str(tmp_path / name), *inputs(folder), *flags]) == 0
        assert ("cryohype backproject: inverting" in capsys.readouterr().err) == inverted, name
        volume, _ = read_volume(tmp_path / name / "backproject" / "volume.mrc")
        assert sign * correlation(volume, truth) > 0.8, name


def test_runs_made_before_the_decision_was_recorded_read_the_images_as_stored(stacks, tmp_path):
    _, neg, _ = stacks
    assert main(["train", str(tmp_path / "run"), *inputs(neg), "--epochs", "1", *TINY_ARGS]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert Run.open(tmp_path / "run").dataset().invert_data
    for key in ("invert_data", "contrast", "source_D"):
        del config["data"][key]
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    assert not Run.open(tmp_path / "run").dataset().invert_data


def test_contrast_flags_are_exclusive_and_fixed_on_resume(stacks, tmp_path, capsys):
    _, neg, _ = stacks
    with pytest.raises(SystemExit):
        main(["train", str(tmp_path / "x"), *inputs(neg), "--invert-data", "--uninvert-data"])
    assert main(["train", str(tmp_path / "run"), *inputs(neg), "--epochs", "1", *TINY_ARGS]) == 0
    assert main(["train", str(tmp_path / "run"), "--resume", "--uninvert-data"]) == 2
    assert "fixed when the run is made" in capsys.readouterr().err
