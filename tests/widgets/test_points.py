"""What the explorer's points show, without Qt: the data's axes and values, colours and legends, and what a
run folder gives (covariates, labels and true maps beside the stack)."""

import numpy as np

from napari_cryohype.widgets import colors, run_data
from napari_cryohype.widgets.latent_data import LatentData


def test_axes_are_umap_then_principal_components_and_values_find_covariates():
    data = LatentData(latents=np.zeros((5, 3)), pcs=np.arange(40.0).reshape(5, 8),
                      covariates={"defocus (Å)": np.arange(5.0)})
    assert data.axis_names() == [f"PC{i}" for i in range(1, 7)] + ["defocus (Å)"]   # at most 6 components
    data.embedding = np.ones((5, 2))
    assert data.axis_names()[:3] == ["UMAP1", "UMAP2", "PC1"]
    np.testing.assert_array_equal(data.values("PC2"), data.pcs[:, 1])
    np.testing.assert_array_equal(data.values("defocus (Å)"), np.arange(5.0))


def test_colours_and_legends_of_categories_and_values():
    data = LatentData(latents=np.zeros((20, 1)), clusters=np.arange(20) % 14, covariates={"loss": np.arange(20.0)})
    entries = colors.legend(data, "k-means")
    assert len(entries) == 13 and entries[-1][0] == "… 2 more" and entries[0][0] == "cluster 0"
    np.testing.assert_array_equal(colors.point_colors(data, "k-means")[14], colors.point_colors(data, "k-means")[0])
    ramp = colors.point_colors(data, "loss")
    assert not np.allclose(ramp[0], ramp[-1]) and [t for t, _ in colors.legend(data, "loss")] == ["loss 0.19",
                                                                                                  "loss 18.81"]
    assert colors.legend(data, "none") == [] and np.ptp(colors.point_colors(data, "none"), axis=0).max() == 0


def test_a_simulated_run_gives_covariates_labels_and_true_maps(tiny_run, tiny_data):
    from napari_cryohype.core.run import Run

    run = Run.open(tiny_run)
    folder = run_data.data_folder(run)
    assert folder == tiny_data
    labels = run_data.labels_beside(folder, 36)
    assert labels.shape == (36,) and run_data.labels_beside(folder, 35) is None
    assert run_data.true_map_path(folder, labels[0]).name.startswith(f"{labels[0]:03d}_")
    cov = run_data.covariates(run.dataset())
    assert set(cov) == {"defocus (Å)", "pose rot (°)", "pose tilt (°)", "pose psi (°)"}
    assert all(v.shape == (36,) for v in cov.values()) and cov["defocus (Å)"].min() > 0
    assert run_data.analysis_arrays(run) is None and run_data.source_star(run) is None


def test_the_explorer_reads_the_latest_analysis(tmp_path):
    """`cryohype analyze` puts each new analysis in a folder of its own: the arrays come from the last one
    with latents (analysis-3 here; analysis-4 holds only an index, an analysis still being written)."""
    from types import SimpleNamespace

    run = SimpleNamespace(analysis_dir=tmp_path / "analysis")
    assert run_data.analysis_arrays(run) is None
    for i, name in enumerate(("analysis", "analysis-2", "analysis-3")):
        (tmp_path / name).mkdir()
        np.save(tmp_path / name / "latents.npy", np.full((4, 2), float(i), np.float32))
    np.save(tmp_path / "analysis-3" / "classes.npy", np.arange(4))
    np.save(tmp_path / "analysis-3" / "class_margin.npy", np.ones(3, np.float32))   # not one per image: left out
    (tmp_path / "analysis-4").mkdir()
    (tmp_path / "analysis-4" / "index.md").write_text("# being written")
    assert run_data.latest_analysis(run) == tmp_path / "analysis-3"
    arrays = run_data.analysis_arrays(run)
    assert (arrays["latents"] == 2).all() and (arrays["classes"] == np.arange(4)).all() and arrays["umap"] is None
    assert arrays["class_margin"] is None
