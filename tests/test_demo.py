"""The README's main job, at a tiny size: every stage runs and the summary compares with the upper bound."""

import json
from pathlib import Path

import numpy as np

from napari_cryohype.cli import main
from napari_cryohype.commands.demo import summary_lines


def test_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", str(out), "--images-per-structure", "12", "--box", "32", "--epochs", "1",
                 "--no-umap", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    summary = printed.split("== summary")[1].splitlines()
    analysis = out / "run" / "analysis"
    k = int(np.unique(np.load(analysis / "kmeans.npy")).size)
    # analyze was told no label: k is the one chosen from the latents, and eval scores those clusters
    assert "--labels" not in printed.split("== analyze")[1].splitlines()[0]
    assert f"k = {k}, chosen from the data" in (analysis / "index.md").read_text()
    # the headline is the figure found with no label at all, its k beside it; the label-told ones come after
    assert summary[1].startswith("CryoHype, with no label at all: FSC-AUC") and "of the upper bound" in summary[1]
    assert "Chamfer" in summary[1] and "IoU" in summary[1]
    assert f"k = {k} clusters, chosen from the latents: {analysis / 'k_choice.png'}" in summary[2]
    assert summary[3] == "Told by the labels:"
    assert summary[4].startswith("  CryoHype, images chosen by their true labels")
    assert summary[5].startswith("  k-means with the true number of structures, k = 5: adjusted Rand index")
    assert printed.rstrip().splitlines()[-1].endswith(str(analysis / "index.md"))   # the folder the demo made
    ours = json.loads((out / "run" / "eval" / "metrics.json").read_text())
    upper = json.loads((out / "backproject" / "eval" / "metrics.json").read_text())
    assert ours["n_structures"] == upper["n_structures"] == 5
    assert ours["unsupervised"]["k"] == k and ours["unsupervised"]["clusters"] == str(analysis / "classes.npy")
    assert 0 < upper["summary"]["fsc_auc"]["mean"] <= 1
    assert json.loads((out / "data" / "simulation.json").read_text())["shift_std_px"] == 3.0  # realistic shifts
    config = json.loads((out / "run" / "config.json").read_text())
    assert config["train"]["threads"] == 1 == config["train"]["threads_used"]   # --threads reaches the training
    assert config["preset"] == "many" and config["model"]["encoder"] == "lift"   # the default preset


def test_demo_refuses_a_non_empty_folder(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["demo", str(tmp_path), "--epochs", "1"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_summary_leads_with_the_figure_found_without_the_labels():
    def summary(auc: float) -> dict:
        return {"fsc_auc": {"mean": auc, "std": 0.01}, "chamfer_A": {"mean": 2.0, "std": 0.1},
                "iou": {"mean": 0.5, "std": 0.1}}

    ours = {"summary": summary(0.6), "unsupervised": {"summary": summary(0.3), "k": 3, "kmeans_ari": 0.4,
                                                      "missing": [2]}}
    lines = summary_lines(ours, {"summary": summary(0.6)}, Path("a"), (4, 0.5))
    assert lines[0].startswith("CryoHype, with no label at all: FSC-AUC 0.300") and "0.50 of the upper bound" in lines[0]
    assert "k = 3 clusters, chosen from the latents" in lines[1] and "adjusted Rand index 0.400" in lines[1]
    assert "no cluster for 1 structure(s)" in lines[1]
    assert lines[2] == "Told by the labels:" and "FSC-AUC 0.600" in lines[3] and "1.00 of the upper bound" in lines[3]
    assert lines[4] == "  k-means with the true number of structures, k = 4: adjusted Rand index 0.500"
    assert len(lines) == 6   # nothing above the bound: no note
    above = summary_lines(ours, {"summary": summary(0.5)}, Path("a"), (4, 0.5))
    assert len(above) == 7 and "above 1.00" in above[6] and "solvent" in above[6]
