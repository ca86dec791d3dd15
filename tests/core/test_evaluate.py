"""Scoring maps against the ground truth: the path shared by CryoHype, backprojection and peers."""

import json

import numpy as np
import pytest

from napari_cryohype.core import evaluate
from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.mrc import write_mrc
from tests.conftest import asymmetric_volume

D, APIX = 20, 3.0


@pytest.fixture
def truth_dir(tmp_path):
    folder = tmp_path / "volumes"
    folder.mkdir()
    base = asymmetric_volume(D).numpy().astype(np.float32)
    write_mrc(folder / "000_ALPHA.mrc", base, APIX)
    write_mrc(folder / "001_BETA.mrc", base[::-1, :, ::-1].copy(), APIX)
    write_mrc(folder / "002_GAMMA.mrc", base.transpose(2, 1, 0).copy(), APIX)
    (folder / "notes.txt").write_text("ignored")
    return folder


def test_load_truth_reads_labels_names_and_pixel_size(truth_dir):
    truth, apix = evaluate.load_truth(truth_dir)
    assert sorted(truth) == [0, 1, 2] and apix == pytest.approx(APIX)
    assert truth[1].name == "BETA" and truth[1].volume.shape == (D, D, D)
    with pytest.raises(InputError, match="NNN_NAME.mrc"):
        evaluate.load_truth(truth_dir.parent)


def test_scores_perfect_and_noisy_maps_and_lists_missing(truth_dir, rng):
    truth, apix = evaluate.load_truth(truth_dir)
    noisy = truth[1].volume + 0.5 * truth[1].volume.std() * rng.standard_normal((D, D, D)).astype(np.float32)
    report = evaluate.score_volumes({0: 3 * truth[0].volume, 1: noisy}, truth, apix)
    by_label = {r["label"]: r for r in report["structures"]}
    assert report["missing"] == [2] and report["n_structures"] == 2
    assert by_label[0]["fsc_auc"] == pytest.approx(1.0) and by_label[0]["chamfer_A"] == 0.0
    assert by_label[0]["iou"] == 1.0 and by_label[0]["resolution_fsc05_A"] == pytest.approx(2 * APIX)
    assert by_label[1]["fsc_auc"] < 0.9 and by_label[1]["iou"] < 1.0
    assert by_label[1]["resolution_fsc05_A"] > 2 * APIX
    auc = report["summary"]["fsc_auc"]
    assert auc["mean"] == pytest.approx((1 + by_label[1]["fsc_auc"]) / 2)
    assert auc["std"] == pytest.approx((1 - by_label[1]["fsc_auc"]) / 2)
    assert len(report["fsc"]["curves"]["1"]) == len(report["fsc"]["freq_per_px"]) == D // 2 + 1


def test_maps_of_the_wrong_structure_score_worse(truth_dir):
    truth, apix = evaluate.load_truth(truth_dir)
    swapped = evaluate.score_volumes({0: truth[1].volume, 1: truth[0].volume}, truth, apix)
    assert all(r["fsc_auc"] < 0.8 and r["chamfer_A"] > 1.0 for r in swapped["structures"])


def test_cluster_maps_are_paired_with_their_structures_one_to_one(truth_dir, rng):
    """Maps found without the labels (cluster 7 is structure 2, cluster 3 structure 0, ...) are paired by
    their FSC_AUC, not by their keys; a fourth, duplicate map pairs with nothing."""
    truth, _ = evaluate.load_truth(truth_dir)
    noise = lambda v: v + 0.3 * v.std() * rng.standard_normal(v.shape).astype(np.float32)  # noqa: E731
    maps = {7: noise(truth[2].volume), 3: noise(truth[0].volume), 5: noise(truth[1].volume)}
    assert evaluate.match_to_truth(maps, truth) == {3: 0, 5: 1, 7: 2}
    maps[9] = noise(truth[0].volume)
    paired = evaluate.match_to_truth(maps, truth)
    assert len(paired) == 3 and sorted(paired.values()) == [0, 1, 2] and paired[7] == 2 and paired[5] == 1


def test_cluster_maps_are_scored_against_the_structure_they_are_paired_with(truth_dir):
    """score_clusters scores each cluster's map against its paired structure (not the structure of the same
    number): perfect maps under permuted keys score perfectly; a missing structure is listed."""
    truth, apix = evaluate.load_truth(truth_dir)
    maps = {0: truth[2].volume, 1: truth[0].volume}
    report = evaluate.score_clusters(maps, truth, apix)
    assert report["pairs"] == {"0": 2, "1": 0} and report["unpaired_clusters"] == [] and report["missing"] == [1]
    assert report["summary"]["fsc_auc"]["mean"] == pytest.approx(1.0)
    assert report["summary"]["chamfer_A"]["mean"] == pytest.approx(0.0)


def test_a_structure_is_found_only_by_a_cluster_map_that_is_closest_to_it(truth_dir):
    """Two clusters holding structure 1: the Hungarian pairing gives the second one structure 2, whose
    true map it is not closest to, so 2 of 3 structures are found, not 3."""
    truth, apix = evaluate.load_truth(truth_dir)
    maps = {0: truth[0].volume, 1: truth[1].volume, 2: 0.9 * truth[1].volume}
    report = evaluate.score_clusters(maps, truth, apix)
    assert sorted(report["pairs"].values()) == [0, 1, 2] and report["structures_found"] == 2
    maps[2] = truth[2].volume
    assert evaluate.score_clusters(maps, truth, apix)["structures_found"] == 3


def test_cluster_indices_draw_members_of_each_cluster():
    clusters = np.array([2, 0, 2, 2, 0, 5, 2])
    idx = evaluate.cluster_indices(clusters, 3, seed=1)
    assert idx.shape == (3, 3)
    for row, c in zip(idx, (0, 2, 5)):
        assert set(row) <= set(np.flatnonzero(clusters == c))
    assert len(set(idx[1])) == 3                       # 4 members: drawn without replacement
    np.testing.assert_array_equal(idx, evaluate.cluster_indices(clusters, 3, seed=1))


def test_method_folders_and_bad_maps(truth_dir, tmp_path):
    truth, apix = evaluate.load_truth(truth_dir)
    method = tmp_path / "peer"
    method.mkdir()
    for label in (0, 2):
        write_mrc(method / f"vol_{label:03d}.mrc", truth[label].volume, 1.0)  # peers often write Apix 1
    volumes = evaluate.load_volume_folder(method)
    assert sorted(volumes) == [0, 2]
    report = evaluate.score_volumes(volumes, truth, apix)
    assert report["summary"]["fsc_auc"]["mean"] == pytest.approx(1.0)
    with pytest.raises(InputError, match="no ground truth"):
        evaluate.score_volumes({7: truth[0].volume}, truth, apix)
    with pytest.raises(InputError, match="shape"):
        evaluate.score_volumes({0: truth[0].volume[:-2, :-2, :-2]}, truth, apix)
    with pytest.raises(InputError, match="mask has shape"):
        evaluate.score_volumes(volumes, truth, apix, mask=np.ones((4, 4, 4)))
    with pytest.raises(InputError, match="numbered"):
        evaluate.load_volume_folder(truth_dir.parent)


def test_report_files_and_kmeans_ari(truth_dir, tmp_path):
    truth, apix = evaluate.load_truth(truth_dir)
    report = evaluate.score_volumes({k: t.volume for k, t in truth.items()}, truth, apix)
    paths = evaluate.write_report(report, tmp_path / "eval", title="test")
    assert json.loads(paths["metrics"].read_text())["summary"]["iou"]["mean"] == 1.0
    assert paths["fsc"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    labels = np.repeat([0, 1, 2], 5)
    analysis = tmp_path / "analysis"
    assert evaluate.kmeans_ari(analysis, labels) is None
    analysis.mkdir()
    np.save(analysis / "kmeans.npy", np.repeat([4, 0, 2], 5))
    assert evaluate.kmeans_ari(analysis, labels) == pytest.approx(1.0)
    with pytest.raises(InputError, match="but 14 true labels"):
        evaluate.kmeans_ari(analysis, labels[:-1])


def test_backproject_then_eval_from_the_command_line(tmp_path, capsys):
    """simulate -> `cryohype backproject` with labels -> `cryohype eval --method-volumes`: the upper bound."""
    from napari_cryohype.cli import main
    from napari_cryohype.core.simulate import bundled_structures, simulate_mixture

    sim = tmp_path / "sim"
    simulate_mixture(sim, bundled_structures()[:2], 60, 32, 4.0, shift_std=1.0, seed=0)
    data = ["--particles", str(sim / "particles.mrcs"), "--poses", str(sim / "poses.pkl"),
            "--ctf", str(sim / "ctf.pkl")]
    bp = tmp_path / "bp"
    assert main(["backproject", str(bp), *data, "--labels", str(sim / "labels.npy")]) == 0
    assert sorted(p.name for p in (bp / "backproject").iterdir()) == ["000.mrc", "001.mrc"]
    assert main(["backproject", str(bp), *data]) == 2  # refuses to overwrite
    assert "not empty" in capsys.readouterr().err

    evaluate_args = ["eval", str(bp), "--volumes", str(sim / "volumes"), "--method-volumes", str(bp / "backproject")]
    assert main(evaluate_args) == 0
    report = json.loads((bp / "eval" / "metrics.json").read_text())
    assert report["n_structures"] == 2 and report["missing"] == []
    assert report["summary"]["fsc_auc"]["mean"] > 0.9 and report["summary"]["iou"]["mean"] > 0.8
    assert (bp / "eval" / "fsc.png").is_file()
    assert main(evaluate_args) == 2 and "file exists" in capsys.readouterr().err
    assert main([*evaluate_args, "--force", "--threshold", "1.5"]) == 2
    assert main(["eval", str(bp), "--volumes", str(sim / "volumes")]) == 2  # a run needs --labels


def test_trained_run_is_analysed_and_decoded_from_the_command_line(tmp_path, capsys):
    """A tiny run trained for one epoch: `cryohype analyze` then `cryohype eval RUN` decodes K images per
    structure, scores them and adds the k-means ARI (the numbers are poor: only the plumbing is tested)."""
    from napari_cryohype.cli import main
    from napari_cryohype.core.run import Run
    from napari_cryohype.core.simulate import bundled_structures, simulate_mixture
    from napari_cryohype.core.train import Trainer, train_config

    sim = tmp_path / "sim"
    simulate_mixture(sim, [p for p in bundled_structures() if p.name[:4] in ("2OOB", "3H2V")], 12, 16, 5.0)
    config = train_config(particles=str(sim / "particles.mrcs"), poses=str(sim / "poses.pkl"),
                          ctf=str(sim / "ctf.pkl"), width=16, depth=1, heads=2, mlp_dim=32, inr_width=16,
                          inr_layers=3, n_freqs=8, tokens_per_layer=2, epochs=1, batch_size=12)
    run = Run.create(tmp_path / "run", config)
    for _ in Trainer(run).run():
        pass
    labels = str(sim / "labels.npy")
    assert main(["analyze", str(run.path), "--no-umap", "--labels", labels]) == 0
    assert np.load(run.analysis_dir / "kmeans.npy").max() == 1  # k = 2 structures
    assert not (run.analysis_dir / "umap.npy").exists()

    assert main(["eval", str(run.path), "--volumes", str(sim / "volumes"), "--labels", labels,
                 "--per-structure", "2"]) == 0
    report = json.loads((run.path / "eval" / "metrics.json").read_text())
    assert report["per_structure"] == 2 and report["n_structures"] == 2 and report["missing"] == []
    assert -1 <= report["kmeans_ari"] <= 1
    assert all(-1 <= r["fsc_auc"] <= 1 and r["chamfer_A"] >= 0 for r in report["structures"])
    # the figure without the labels: analyze's 2 clusters, each map paired with one structure, scored
    unsupervised = report["unsupervised"]
    assert unsupervised["k"] == 2 and unsupervised["clusters"].endswith("classes.npy")
    assert sorted(unsupervised["pairs"]) == ["0", "1"] and sorted(unsupervised["pairs"].values()) == [0, 1]
    assert unsupervised["n_structures"] == 2 and set(unsupervised["summary"]) == set(evaluate.METRICS)
    assert (run.path / "eval" / "fsc_clusters.png").is_file()
    out = capsys.readouterr().out.split("2 structures (CryoHype run")[1].splitlines()
    assert out[1].startswith("  without the labels (2 classes") and ", ARI " in out[1]
    assert out[2].startswith("  images chosen by their true labels")
    # another k: the clusters are computed (analyze's have 2) and refined; a class the refinement leaves with
    # images gets a map, and with more maps than structures the extra ones stay unpaired
    assert main(["eval", str(run.path), "--volumes", str(sim / "volumes"), "--labels", labels,
                 "--per-structure", "2", "--k", "3", "--force"]) == 0
    unsupervised = json.loads((run.path / "eval" / "metrics.json").read_text())["unsupervised"]
    assert unsupervised["k"] == 3 and unsupervised["clusters"].endswith("refined by 3D classification")
    assert 2 <= len(unsupervised["pairs"]) + len(unsupervised["unpaired_clusters"]) <= 3
    assert main(["eval", str(run.path), "--volumes", str(sim / "volumes"), "--labels", str(sim / "poses.pkl")]) == 2
