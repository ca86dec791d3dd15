"""The test mixture's frozen preset (benchmarks/test_mixture.py)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import test_mixture  # noqa: E402


def test_the_preset_is_frozen_once_and_a_changed_preset_stops_the_run(tmp_path, monkeypatch):
    v1 = test_mixture.frozen_version(tmp_path, new_version=False)
    assert v1.name == "v1" and json.loads((v1 / "preset.json").read_text())["settings"]["name"] == "many"
    assert test_mixture.frozen_version(tmp_path, new_version=False) == v1
    changed = {**test_mixture.preset_settings(), "train": {"lr": 0.5}}
    monkeypatch.setattr(test_mixture, "preset_settings", lambda: changed)
    with pytest.raises(SystemExit, match="--new-version"):
        test_mixture.frozen_version(tmp_path, new_version=False)
    v2 = test_mixture.frozen_version(tmp_path, new_version=True)
    assert v2.name == "v2" and json.loads((v2 / "preset.json").read_text())["settings"] == changed
    assert (v1 / "preset.json").is_file()


def test_a_setting_added_later_at_its_off_value_keeps_the_version(tmp_path, monkeypatch):
    now = test_mixture.preset_settings()
    v1 = tmp_path / "v1"
    v1.mkdir()
    older = {**now, "train": {k: v for k, v in now["train"].items() if not k.startswith("synthetic_views")},
             "model": {k: v for k, v in now["model"].items() if k != "latent_noise"},
             "analysis": now["analysis"]}
    (v1 / "preset.json").write_text(json.dumps({"settings": older}))
    assert test_mixture.frozen_version(tmp_path, new_version=False) == v1
    monkeypatch.setattr(test_mixture, "preset_settings",
                        lambda: {**now, "train": {**now["train"], "synthetic_views": 0.03}})
    with pytest.raises(SystemExit, match="--new-version"):
        test_mixture.frozen_version(tmp_path, new_version=False)
    monkeypatch.setattr(test_mixture, "preset_settings",
                        lambda: {**now, "model": {**now["model"], "latent_noise": 1.0}})
    with pytest.raises(SystemExit, match="--new-version"):
        test_mixture.frozen_version(tmp_path, new_version=False)


def test_a_version_frozen_before_the_analysis_was_part_of_it_reads_as_v1s_classification(tmp_path):
    """v1 froze model and training only; it classified by slices, hard: today's lift-grid classes need a new
    version."""
    now = test_mixture.preset_settings()
    assert now["analysis"]["classes"] == "lift grid" and now["analysis"]["soft"] == 0.5
    v1 = tmp_path / "v1"
    v1.mkdir()
    (v1 / "preset.json").write_text(json.dumps({"settings": {k: v for k, v in now.items() if k != "analysis"}}))
    with pytest.raises(SystemExit, match="--new-version"):
        test_mixture.frozen_version(tmp_path, new_version=False)


def test_operational_settings_are_not_part_of_the_frozen_preset():
    train = test_mixture.preset_settings()["train"]
    assert "threads" not in train and "seed" not in train and train["encoder_split"] is True


def test_report_only_freezes_nothing(tmp_path):
    with pytest.raises(SystemExit, match="no version yet"):
        test_mixture.main(["--root", str(tmp_path), "--report-only"])
    assert not list(tmp_path.iterdir())
