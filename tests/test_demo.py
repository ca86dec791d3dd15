"""The README's main job, at a tiny size: every stage runs and the summary compares with the upper bound."""

import json

import pytest

from napari_cryohype.cli import main


def test_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", str(out), "--images-per-structure", "12", "--box", "32", "--epochs", "1",
                 "--no-umap"]) == 0
    summary = capsys.readouterr().out
    assert "of the upper bound" in summary
    ours = json.loads((out / "run" / "eval" / "metrics.json").read_text())
    upper = json.loads((out / "backproject" / "eval" / "metrics.json").read_text())
    assert ours["n_structures"] == upper["n_structures"] == 5
    assert 0 < upper["summary"]["fsc_auc"]["mean"] <= 1
    assert json.loads((out / "data" / "simulation.json").read_text())["shift_std_px"] == 3.0  # realistic shifts


def test_demo_refuses_a_non_empty_folder(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["demo", str(tmp_path), "--epochs", "1"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "mine"
