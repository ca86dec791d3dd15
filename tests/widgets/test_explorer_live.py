"""The live map during a run's first epoch: the training steps' own latents of the images trained on so far,
drawn by principal axes fitted on them, at most about once a second, always in view unless the user zoomed,
then replaced by every image's latents."""

import numpy as np
import pytest

from napari_cryohype.widgets.live_points import LivePoints
from tests.widgets.conftest import clustered_latents


def test_live_points_fill_in_per_image_and_their_axes_are_fitted_on_the_images_seen():
    z, _ = clustered_latents(40, d=5)
    live = LivePoints(40)
    live.add(np.array([3, 1, 7]), z[[3, 1, 7]])
    live.add(np.array([10, 11]), z[[10, 11]])
    assert live.count == 5 and np.array_equal(np.flatnonzero(live.seen), [1, 3, 7, 10, 11])
    live.add(np.array([1]), z[[1]] + 1)   # a later value of an image replaces its earlier one
    assert live.count == 5 and np.array_equal(live.latents[1], z[1] + 1)
    assert np.isnan(live.latents[0]).all()

    live.add(np.arange(20), z[:20])
    pcs = live.principal_components(10)
    seen = np.arange(20)
    assert pcs.shape == (40, 5) and np.isnan(pcs[20:]).all() and np.isfinite(pcs[seen]).all()
    centred = z[seen] - z[seen].mean(0)
    _, s, _ = np.linalg.svd(centred, full_matrices=False)
    np.testing.assert_allclose(np.linalg.norm(pcs[seen], axis=0), s, rtol=1e-4)   # the seen images' PCA
    live.add(np.arange(20, 22), z[20:22])
    again = live.principal_components(10)
    assert np.corrcoef(again[seen, 0], pcs[seen, 0])[0, 1] > 0.99   # a new image: the axis keeps its direction


def drawn(explorer) -> int:
    return int(np.isfinite(explorer.scatter.index.xy).all(axis=1).sum())


def in_view(explorer) -> bool:
    xy = explorer.scatter.index.xy
    xy = xy[np.isfinite(xy).all(axis=1)]
    x0, y0, w, h = explorer.scatter.view_rect
    return bool(((xy[:, 0] >= x0) & (xy[:, 0] <= x0 + w) & (xy[:, 1] >= y0) & (xy[:, 1] <= y0 + h)).all())


@pytest.mark.gui
def test_first_epoch_points_are_drawn_at_most_once_a_second_in_view_then_replaced(explorer, tiny_run, qtbot):
    from napari_cryohype.widgets import explorer as explorer_module

    z, _ = clustered_latents(36, d=6)
    first = []
    explorer.first_points.connect(lambda: first.append(drawn(explorer)))
    explorer.follow_training(tiny_run)
    explorer.training_latents(np.arange(12), z[:12])
    qtbot.waitUntil(lambda: explorer.scatter.n_points == 36, timeout=5000)
    assert first == [12] and drawn(explorer) == 12 and explorer.previewing and in_view(explorer)
    assert explorer.x_axis.currentText() == "PC1" and explorer.color_by.currentText() == "true label"
    # the images without a latent yet are neither drawn nor picked
    explorer.scatter.box((-1e9, -1e9), (1e9, 1e9))
    assert np.array_equal(explorer.selection, np.arange(12))
    # no UMAP or k-means of a part of the images, and no export of arrays with empty rows
    explorer.compute_umap()
    assert not explorer.busy and "first epoch" in explorer.status.text()
    assert explorer.save_arrays(tiny_run / "exported") == [] and not (tiny_run / "exported").exists()
    assert "no latent yet" in explorer.status.text()

    # more batches right away: drawn together, once, no sooner than LIVE_INTERVAL_S after the last drawing
    for start in (12, 18):
        explorer.training_latents(np.arange(start, start + 6), z[start:start + 6] * 5)   # further out: the view follows
    qtbot.wait(300)
    assert drawn(explorer) == 12
    qtbot.waitUntil(lambda: drawn(explorer) == 24, timeout=int(explorer_module.LIVE_INTERVAL_S * 1000) + 3000)
    assert in_view(explorer)

    # the user zoomed: the next update keeps their view
    explorer.scatter.user_moved_view = True
    explorer.scatter.zoom_by(0.5)
    view = explorer.scatter.view_rect.copy()
    explorer.training_latents(np.arange(24, 30), z[24:30] * 9)
    qtbot.waitUntil(lambda: drawn(explorer) == 30, timeout=int(explorer_module.LIVE_INTERVAL_S * 1000) + 3000)
    np.testing.assert_array_equal(explorer.scatter.view_rect, view)

    # every image's latents (the first epoch's end) replace them: no more step latents are drawn
    explorer.scatter.reset_view()
    explorer.set_latents(z, labels=np.zeros(36, int))
    assert not explorer.previewing and drawn(explorer) == 36 and in_view(explorer)
    explorer.training_latents(np.arange(6), z[:6] * 100)
    qtbot.wait(int(explorer_module.LIVE_INTERVAL_S * 1000) + 300)
    assert drawn(explorer) == 36 and in_view(explorer) and first == [12]


@pytest.mark.gui
def test_a_click_before_the_first_checkpoint_says_why_nothing_is_decoded(explorer, tiny_run, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    (run_dir / "checkpoints" / "last.pt").unlink()   # training has not finished its first epoch
    explorer.follow_training(run_dir)
    explorer.decode_index(0)
    assert not explorer.busy and "first checkpoint" in explorer.status.text()
