"""The run folder: create, open, refuse to overwrite, load the trained model."""

import json

import pytest

from napari_cryohype.core.errors import InputError
from napari_cryohype.core.run import Run
from napari_cryohype.core.train import train_config
from tests.core.mixture_data import write_mixture


@pytest.fixture
def data(tmp_path):
    return write_mixture(tmp_path / "data", n=8)


def config(data, **kw):
    return train_config(particles=str(data["particles"]), poses=str(data["poses"]), ctf=str(data["ctf"]), **kw)


def test_create_records_data_and_every_setting(tmp_path, data):
    run = Run.create(tmp_path / "run", config(data, epochs=3, conditioning="concat"))
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["data"]["D"] == 16 and saved["data"]["apix"] == pytest.approx(6.0) and saved["data"]["n"] == 8
    assert saved["train"]["epochs"] == 3 and saved["model"]["conditioning"] == "concat"
    assert saved["model"]["inr_width"] > 0 and saved["preset"] == "many"
    assert run.D == 16 and run.apix == pytest.approx(6.0) and run.analysis_dir == tmp_path / "run" / "analysis"
    reopened = Run.open(tmp_path / "run")
    assert reopened.config == run.config
    assert len(reopened.dataset()) == 8


def test_refuses_non_empty_folder_unless_forced(tmp_path, data):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")
    with pytest.raises(InputError, match="not empty"):
        Run.create(out, config(data))
    Run.create(out, config(data), force=True)
    assert Run.open(out).config["data"]["n"] == 8


def test_open_rejects_folders_that_are_not_runs(tmp_path):
    with pytest.raises(InputError, match="not a CryoHype run"):
        Run.open(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(InputError, match="unreadable"):
        Run.open(tmp_path)


def test_missing_data_is_an_input_error(tmp_path, data):
    cfg = config(data)
    cfg["data"]["poses"] = str(tmp_path / "nope.pkl")
    with pytest.raises(InputError):
        Run.create(tmp_path / "run", cfg)
    with pytest.raises(InputError, match="checkpoint"):
        Run.create(tmp_path / "run2", config(data)).load_model()


def test_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="unknown setting"):
        train_config(epoch=3)
