"""Train widget: training runs in a worker and reports progress; Stop ends it with a checkpoint; bad
input becomes a notification."""

import pytest

from tests.widgets.conftest import TINY_MODEL

pytestmark = pytest.mark.gui


@pytest.fixture
def train_widget(make_napari_viewer, tiny_data, tmp_path):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-cryohype", "Train")
    widget.fields["particles"].setText(str(tiny_data / "particles.mrcs"))
    widget.fields["poses"].setText(str(tiny_data / "poses.pkl"))
    widget.fields["ctf"].setText(str(tiny_data / "ctf.pkl"))
    widget.fields["outdir"].setText(str(tmp_path / "run"))
    widget.batch_size.setValue(12)
    widget.follow.setChecked(False)
    return widget


def test_training_reports_progress_then_stop_ends_the_worker(train_widget, qtbot, tmp_path):
    import json

    assert train_widget.threads.text().startswith("auto (") and train_widget.threads_setting() == "auto"
    assert train_widget.preset.currentText() == "many"   # the preset measured best at every mixture size
    train_widget.epochs.setValue(50)
    train_widget.threads.setValue(2)
    train_widget.start(overrides=TINY_MODEL)
    assert train_widget.worker is not None and not train_widget.start_button.isEnabled()
    qtbot.waitUntil(lambda: len(train_widget.events) >= 2, timeout=60_000)
    first = train_widget.events[0]
    assert first.kind == "step" and first.epochs == 50 and first.steps_per_epoch == 3
    assert train_widget.progress.value() >= 1 and len(train_widget.loss_curve.steps) >= 1
    train_widget.stop()
    qtbot.waitUntil(lambda: train_widget.worker is None, timeout=20_000)
    assert train_widget.events[-1].kind == "stopped"
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["encoder"] == "lift"
    assert train_widget.start_button.isEnabled()

    config = json.loads((tmp_path / "run" / "config.json").read_text())["train"]
    assert config["threads"] == 2 == config["threads_used"]  # the form's CPU threads reached the trainer

    # resume continues from the checkpoint: the step count goes on, with the form's threads now
    stopped_at = train_widget.events[-1].global_step
    train_widget.threads.setValue(1)
    train_widget.resume()
    qtbot.waitUntil(lambda: len(train_widget.events) >= 1, timeout=60_000)
    assert train_widget.events[0].global_step == stopped_at + 1
    config = json.loads((tmp_path / "run" / "config.json").read_text())["train"]
    assert config["threads"] == 1 == config["threads_used"]
    train_widget.stop()
    qtbot.waitUntil(lambda: train_widget.worker is None, timeout=20_000)


def test_bad_input_is_a_notification(train_widget, monkeypatch, tmp_path):
    import napari.utils.notifications as notifications

    shown = []
    monkeypatch.setattr(notifications, "show_error", shown.append)
    train_widget.fields["particles"].setText(str(tmp_path / "missing.mrcs"))
    train_widget.start(overrides=TINY_MODEL)
    assert train_widget.worker is None
    assert len(shown) == 1 and "missing.mrcs" in shown[0]


def test_training_feeds_the_latent_explorer(train_widget, qtbot, wait_idle):
    explorer = train_widget._explorer()
    explorer.auto_umap.setChecked(False)
    explorer.follow_every.setValue(1)
    train_widget.follow.setChecked(True)
    train_widget.epochs.setValue(2)
    train_widget.start(overrides=TINY_MODEL)
    qtbot.waitUntil(lambda: train_widget.worker is None, timeout=120_000)
    assert [e.kind for e in train_widget.events].count("epoch") == 2
    assert train_widget.events[-1].kind == "done"
    wait_idle(explorer)
    assert explorer.scatter.n_points == 36 and explorer.run is not None


def test_error_during_training_is_a_notification_and_the_worker_ends(train_widget, qtbot, monkeypatch):
    import napari.utils.notifications as notifications

    from napari_cryohype.core import train

    shown = []
    monkeypatch.setattr(notifications, "show_error", shown.append)

    def out_of_memory(self):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        yield

    monkeypatch.setattr(train.Trainer, "run", out_of_memory)
    train_widget.start(overrides=TINY_MODEL)
    qtbot.waitUntil(lambda: train_widget.worker is None, timeout=60_000)
    assert len(shown) == 1 and "out of memory" in shown[0] and "batch size" in shown[0]
    assert train_widget.start_button.isEnabled() and not train_widget.stop_button.isEnabled()


def test_a_progress_step_does_not_repaint_at_once(make_napari_viewer, qtbot):
    """Qt's QProgressBar.setValue repaints at once; under software OpenGL that recomposites the whole window,
    and a step then cost two in a row (the longest pauses while training). The bar is drawn at the next
    repaint, with the step's other changes."""
    from qtpy.QtCore import QEvent, QObject

    from napari_cryohype.core.train import ProgressEvent

    viewer = make_napari_viewer(show=True)  # a hidden widget is never painted
    _, widget = viewer.window.add_plugin_dock_widget("napari-cryohype", "Train")
    qtbot.wait(100)
    paints = []

    class Paints(QObject):
        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint:
                paints.append(obj)
            return False

    watcher = Paints()
    widget.progress.installEventFilter(watcher)
    widget._on_yield(ProgressEvent("step", 1, 2, 3, 10, 3, 0.5, 100.0, 5.0, 1.0))
    assert paints == []
    assert widget.progress.value() == 3 and widget.progress.maximum() == 20
    qtbot.waitUntil(lambda: bool(paints), timeout=2000)


def test_the_first_epoch_hands_out_each_steps_batch_latents(tiny_data, tmp_path):
    """With ``live``, each step of the first epoch is followed by its batch's indices and latents (every
    image once in the epoch); later epochs, and a job without ``live``, hand out none."""
    import numpy as np

    from napari_cryohype.core.run import Run
    from napari_cryohype.core.train import ProgressEvent, train_config
    from napari_cryohype.widgets.train import BatchLatents, _train

    config = train_config(particles=str(tiny_data / "particles.mrcs"), poses=str(tiny_data / "poses.pkl"),
                          epochs=2, batch_size=12, **TINY_MODEL)   # 3 steps an epoch
    items = list(_train(Run.create(tmp_path / "live", config), live=True))[1:]
    kinds = ["latents" if isinstance(it, BatchLatents) else it.kind for it in items]
    assert kinds == ["step", "latents"] * 3 + ["epoch"] + ["step"] * 3 + ["epoch", "done"]
    batches = [it for it in items if isinstance(it, BatchLatents)]
    assert sorted(np.concatenate([b.indices for b in batches]).tolist()) == list(range(36))
    assert all(b.latents.shape[0] == 12 and np.isfinite(b.latents).all() for b in batches)

    items = list(_train(Run.create(tmp_path / "plain", config)))[1:]
    assert all(isinstance(it, ProgressEvent) for it in items)


def test_the_first_points_come_within_the_first_epoch(train_widget, qtbot, monkeypatch):
    """The live map's first points came at the first epoch's end at best (then seconds later): they now come
    from the first steps' own latents, before the epoch ends, the images trained on so far coloured by their
    true label; every image's latents are asked for at the epoch's end."""
    import time

    import numpy as np

    from napari_cryohype.core.train import Trainer

    step = Trainer._step

    def slow_step(self, batch):   # an epoch of many steps that take a while, as on real data
        time.sleep(0.2)
        return step(self, batch)

    monkeypatch.setattr(Trainer, "_step", slow_step)
    explorer = train_widget._explorer()
    refreshed = []   # every image's latents are asked for at the epoch's end (computed in a helper: not here)
    monkeypatch.setattr(explorer, "refresh_latents", lambda: refreshed.append([e.kind for e in train_widget.events]))
    first = []
    explorer.first_points.connect(lambda: first.append(
        ([e.kind for e in train_widget.events], int(np.isfinite(explorer.scatter.index.xy).all(1).sum()),
         explorer.color_by.currentText())))
    train_widget.follow.setChecked(True)
    train_widget.batch_size.setValue(3)   # 12 steps an epoch
    train_widget.epochs.setValue(1)
    train_widget.start(overrides=TINY_MODEL)
    qtbot.waitUntil(lambda: train_widget.worker is None, timeout=120_000)
    assert len(first) == 1
    kinds, drawn, colour = first[0]
    assert "epoch" not in kinds and 0 < drawn < 36 and colour == "true label" and explorer.previewing
    assert refreshed[0][-1] == "epoch"
