"""Train widget: pick particles, poses and CTF (or the sample mixture), an output folder and a few
settings; start, stop (the step in progress is abandoned, the checkpoint kept) and resume. Training is
:class:`napari_cryohype.core.train.Trainer` run in a napari generator worker, never on the UI thread;
each yielded ProgressEvent moves the progress bar and the loss curve and feeds the Latent Explorer: during
the first epoch, the latents each step computed for its batch (:class:`BatchLatents`), then every image's
latents at the first epoch's end and every few epochs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                            QProgressBar, QPushButton, QSpinBox, QWidget)

from napari_cryohype.widgets.collapsible import Collapsible
from napari_cryohype.widgets.loss_plot import LossCurve
from napari_cryohype.widgets.messages import failure_text
from napari_cryohype.widgets.scrolling import scrolling_layout
from napari_cryohype.widgets.workers import iterate_at_low_priority, start_worker

_FILE_FILTERS = {
    "particles": "Particles (*.mrcs *.mrc *.star *.cs *.txt);;All files (*)",
    "poses": "Poses (*.pkl *.star *.cs);;All files (*)",
    "ctf": "CTF (*.pkl *.star *.cs);;All files (*)",
}


def format_seconds(seconds: float) -> str:
    """'1:02:03', '2:03' or '--' for unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "--"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _warm_up() -> None:
    """Worker job when the widget opens: the trainer's imports, and the ~800 modules (torch._dynamo, sympy)
    that building the first optimizer imports, hold the GIL for seconds; pay that now rather than when
    training starts and the viewer should stay fluid."""
    import torch

    from napari_cryohype.core.train import make_optimizer

    make_optimizer([torch.zeros(1, requires_grad=True)], 1e-3, 0.0, torch.device("cpu"))


class BatchLatents(NamedTuple):
    """Yielded by :func:`_train` after a step of the first epoch: the batch's dataset indices (B,) int64 and
    the latents (B, d) float32 the step's encoder pass gave them."""
    indices: np.ndarray
    latents: np.ndarray


def _train(run, live: bool = False):
    """Build the Trainer (reads the data, may take seconds), hand it over so Stop can reach it, then yield
    its progress events; with ``live``, each step of the first epoch is followed by its
    :class:`BatchLatents` (``Trainer.keep_latents``: the training numerics are the same)."""
    from napari_cryohype.core.train import Trainer

    trainer = Trainer(run)
    trainer.keep_latents = live
    yield trainer
    for ev in trainer.run():
        yield ev
        if ev.kind == "step" and trainer.batch_latents is not None:
            yield BatchLatents(*trainer.batch_latents)
        elif ev.kind == "epoch":
            trainer.keep_latents = False   # the explorer now has every image's latents from the checkpoint


def _train_job(run, live: bool):
    """Worker generator: :func:`_train` on its own lower-priority thread, so the viewer stays fluid."""
    yield from iterate_at_low_priority(_train, run, live)


class TrainWidget(QWidget):
    """The Train dock widget (npe2 widget contribution; takes the napari viewer).

    Programmatic use: fill :attr:`fields` / spin boxes, then :meth:`start` (``overrides`` adds any
    ``train_config`` setting), :meth:`stop`, :meth:`resume`; :attr:`events` lists the ProgressEvents
    received; :attr:`worker` is the running worker or None. ``running_changed(bool)`` is emitted when a run
    starts or resumes (True) and when it has ended (False).
    """

    running_changed = Signal(bool)

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.worker = None
        self.trainer = None
        self.run = None
        self.events: list = []
        self._build()
        start_worker(_warm_up, on_error=lambda err: None)

    def _build(self) -> None:
        from napari_cryohype.core.models.presets import ABOUT, DEFAULT, PRESETS
        from napari_cryohype.core.threads import auto_threads, usable_cores

        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.fields: dict[str, QLineEdit] = {}
        for key, label, hint in (("particles", "Particles", ".mrcs, .star, .cs or .txt"),
                                 ("poses", "Poses", "poses.pkl, .star or .cs"),
                                 ("ctf", "CTF", "optional: ctf.pkl, .star or .cs"),
                                 ("datadir", "Data folder", "optional: where a .star/.cs/.txt finds its stacks"),
                                 ("outdir", "Output folder", "the run folder")):
            line = QLineEdit()
            line.setPlaceholderText(hint)
            line.setMinimumWidth(60)
            browse = QPushButton("…")
            browse.setFixedWidth(28)
            browse.clicked.connect(lambda _=False, k=key: self._browse(k))
            row = QHBoxLayout()
            row.addWidget(line)
            row.addWidget(browse)
            form.addRow(label, row)
            self.fields[key] = line
        sample = QPushButton("Use the sample mixture")
        sample.setToolTip("5 bundled structures, 200 images of 32 px (simulated on first use, then cached)")
        sample.clicked.connect(self.use_sample)
        form.addRow("", sample)

        self.preset = QComboBox()
        self.preset.addItems(list(PRESETS))
        self.preset.setCurrentText(DEFAULT)
        self.preset.setToolTip("\n".join(f"{name}: {about}" for name, about in ABOUT.items()))
        self.epochs = QSpinBox(minimum=1, maximum=10_000, value=20)
        run_row = QHBoxLayout()
        run_row.addWidget(self.preset, 1)
        run_row.addWidget(QLabel("Epochs"))
        run_row.addWidget(self.epochs)
        form.addRow("Preset", run_row)

        self.batch_size = QSpinBox(minimum=1, maximum=4096, value=32)
        self.device = QComboBox()
        self.device.addItems(self._devices())
        self.conditioning = QComboBox()
        self.conditioning.addItems(["hyper", "concat"])
        self.conditioning.setToolTip("hyper: CryoHype (weight tokens modulate every INR layer); "
                                     "concat: cryoDRGN-style baseline (latent joins the INR input)")
        self.threads = QSpinBox(minimum=0, maximum=usable_cores(), value=0)
        self.threads.setSpecialValueText(f"auto ({auto_threads()})")
        self.threads.setToolTip("torch threads of the training (also on Resume). auto leaves one core to the "
                                "window and other programs; one thread per core slows down many times over "
                                "when another program is busy")
        self.follow = QCheckBox("Show latents in the Latent Explorer while training", checked=True)
        more_form = QFormLayout()
        more_form.setContentsMargins(12, 0, 0, 0)
        for label, w in (("Batch size", self.batch_size), ("Device", self.device), ("CPU threads", self.threads),
                         ("Conditioning", self.conditioning)):
            more_form.addRow(label, w)
        more_form.addRow(self.follow)
        more = QWidget()
        more.setLayout(more_form)
        self.more_settings = Collapsible("More settings", more, expanded=False)
        form.addRow(self.more_settings)
        setup = QWidget()
        setup.setLayout(form)
        form.setContentsMargins(0, 0, 0, 0)
        #: the inputs and settings; folded when training starts, so the progress and the explorer get the room
        self.setup = Collapsible("Run setup", setup)

        self.start_button = QPushButton("Start")
        self.stop_button = QPushButton("Stop")
        self.resume_button = QPushButton("Resume")
        self.start_button.clicked.connect(lambda: self.start())
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(self.resume)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.stop_button, self.resume_button):
            buttons.addWidget(b)

        self.progress = QProgressBar()
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.loss_curve = LossCurve()

        layout = scrolling_layout(self)
        layout.addWidget(self.setup)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.info)
        layout.addWidget(self.loss_curve, 1)
        self._set_running(False)

    @staticmethod
    def _devices() -> list[str]:
        import torch

        return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

    def _browse(self, key: str) -> None:
        if key in ("datadir", "outdir"):
            path = QFileDialog.getExistingDirectory(self, f"Choose the {key}")
        else:
            path, _ = QFileDialog.getOpenFileName(self, f"Choose {key}", filter=_FILE_FILTERS[key])
        if path:
            self.fields[key].setText(path)

    def use_sample(self) -> None:
        """Fill the inputs with the sample mixture (simulated into the cache in a worker on first use)."""
        from napari_cryohype._sample_data import sample_dataset

        def fill(folder: Path) -> None:
            self.fields["particles"].setText(str(folder / "particles.mrcs"))
            self.fields["poses"].setText(str(folder / "poses.pkl"))
            self.fields["ctf"].setText(str(folder / "ctf.pkl"))
            self.fields["datadir"].setText("")
            if not self.fields["outdir"].text():
                self.fields["outdir"].setText(str(Path.home() / "cryohype-sample-run"))
            self.info.setText(f"Sample mixture: {folder}")

        self.info.setText("Simulating the sample mixture (first use only, a few seconds)…")
        self._sample_worker = start_worker(sample_dataset, on_done=fill,
                                           on_error=lambda err: self._fail("Preparing the sample", err))

    # --- running --------------------------------------------------------------------------------
    def config(self, overrides: dict | None = None) -> dict:
        """The run configuration from the form (core.train.train_config) plus ``overrides``."""
        from napari_cryohype.core.train import train_config

        text = {k: f.text().strip() for k, f in self.fields.items()}
        return train_config(preset=self.preset.currentText(), particles=text["particles"] or None,
                            poses=text["poses"] or None, ctf=text["ctf"] or None, datadir=text["datadir"] or None,
                            epochs=self.epochs.value(), batch_size=self.batch_size.value(),
                            device=self.device.currentText(), conditioning=self.conditioning.currentText(),
                            threads=self.threads_setting(), **(overrides or {}))

    def threads_setting(self) -> int | str:
        """The CPU threads setting of the form: "auto" or a number (core.threads)."""
        from napari_cryohype.core.threads import AUTO

        return self.threads.value() or AUTO

    def start(self, overrides: dict | None = None) -> None:
        """Create the run folder from the form and train it in a worker. A non-empty output folder is
        replaced only after a confirmation (use Resume to continue a run)."""
        from napari_cryohype.core.errors import InputError
        from napari_cryohype.core.run import Run
        from napari_cryohype.widgets.export import confirm_overwrite

        outdir = self.fields["outdir"].text().strip()
        try:
            if not outdir:
                raise InputError("choose an output folder")
            config = self.config(overrides)
            force = False
            if Path(outdir).is_dir() and any(Path(outdir).iterdir()):
                if not confirm_overwrite([Path(outdir)], self):
                    return
                force = True
            run = Run.create(outdir, config, force=force)
        except (InputError, ValueError, OSError) as err:
            self._fail("Starting", err)
            return
        self.loss_curve.clear()
        self._launch(run)

    def resume(self) -> None:
        """Continue the run in the output folder from its last checkpoint, with the form's CPU threads."""
        from napari_cryohype.core.errors import InputError
        from napari_cryohype.core.run import Run

        try:
            run = Run.open(self.fields["outdir"].text().strip())
        except (InputError, OSError) as err:
            self._fail("Resuming", err)
            return
        run.config["train"]["threads"] = self.threads_setting()  # (the Trainer saves it with the number used)
        self._launch(run)

    def stop(self) -> None:
        """Ask the trainer to stop: it abandons the step in progress, writes a checkpoint, then the worker
        ends (about a second even for the paper preset on a CPU: ``benchmarks/bench_ui.py``)."""
        if self.trainer is not None:
            self.trainer.stop()
        elif self.worker is not None:
            self.worker.quit()
        self.progress.setFormat("stopping…")

    def _launch(self, run) -> None:
        self.run, self.trainer, self.events = run, None, []
        self._set_running(True)
        self.setup.set_expanded(False)   # the room goes to the progress, the loss and the explorer
        # not Qt's animated busy bar: under software OpenGL each of its frames redraws the whole window,
        # ~40% of a core taken from the data loading
        self._show_progress(0, 1, "loading data…")
        self.info.setText(f"Run folder: {run.path}")
        live = self.follow.isChecked()
        if live:
            self._explorer().follow_training(run.path)
        self.worker = start_worker(_train_job, run, live, on_yield=self._on_yield, on_exit=self.stop,
                                   on_error=lambda err: self._fail("Training", err), on_finished=self._on_finished)

    def _show_progress(self, value: int, maximum: int, text: str) -> None:
        """Set the progress bar, drawn at the next repaint with the other widgets' changes: Qt's
        ``QProgressBar.setValue`` repaints at once, and under software OpenGL a repaint recomposites the
        whole window (20-60 ms), so a step's progress and text used to cost two in a row."""
        self.progress.setUpdatesEnabled(False)
        try:
            self.progress.setRange(0, maximum)
            self.progress.setValue(value)
            self.progress.setFormat(text)
        finally:
            self.progress.setUpdatesEnabled(True)   # (schedules the repaint)

    def _explorer(self):
        from napari_cryohype.widgets.panel import find_explorer  # (the panel holds this widget)

        return find_explorer(self.viewer)

    def _on_yield(self, item) -> None:
        from napari_cryohype.core.train import ProgressEvent

        if isinstance(item, BatchLatents):
            if self.follow.isChecked():
                self._explorer().training_latents(item.indices, item.latents)
            return
        if not isinstance(item, ProgressEvent):
            self.trainer = item
            return
        ev = item
        self.events.append(ev)
        total = ev.epochs * ev.steps_per_epoch
        self._show_progress(min(ev.global_step, total), max(total, 1),
                            f"epoch {ev.epoch}/{ev.epochs} · %p% · ETA {format_seconds(ev.eta_s)}")
        self.info.setText(f"{ev.kind}: epoch {ev.epoch}/{ev.epochs}, step {ev.step}/{ev.steps_per_epoch}, "
                          f"loss {ev.loss:.4g}, {ev.images_per_s:.1f} images/s, "
                          f"elapsed {format_seconds(ev.elapsed_s)}")
        if ev.kind == "step":
            self.loss_curve.add_step(ev.global_step, ev.loss)
        elif ev.kind == "epoch":
            self.loss_curve.add_epoch(ev.global_step, ev.loss)
            if self.follow.isChecked():
                self._explorer().training_epoch(ev.epoch)
        elif ev.kind in ("done", "stopped"):
            self.progress.setFormat(f"{ev.kind} · epoch {ev.epoch}/{ev.epochs} · {format_seconds(ev.elapsed_s)}")
            if self.follow.isChecked() and ev.kind == "done":
                explorer = self._explorer()
                explorer.refresh_latents()
                explorer.preload_model()

    def _on_finished(self) -> None:
        self.worker, self.trainer = None, None
        self._set_running(False)
        if not self.events:  # ended before its first step
            self.progress.setFormat("idle")

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.resume_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.running_changed.emit(running)

    def _fail(self, what: str, err: Exception) -> None:
        """A bad file, setting or out-of-memory becomes a napari notification with the reason."""
        from napari.utils.notifications import show_error

        reason = str(err)
        if "out of memory" in reason.lower():
            reason = f"out of memory ({reason.splitlines()[0]}): lower the batch size or use a smaller preset"
        show_error(failure_text(what, reason))
        self.info.setText(f"{what} failed: {reason}")
