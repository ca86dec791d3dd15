"""Latent Explorer: every image's latent as a point (PCA at once, UMAP from a worker), coloured by cluster,
true label or a per-image covariate; pick by lasso, box, click, range or indices.pkl; click a point to
decode that image's structure into a 3D layer beside its particle image and rendered projection; decode
a selection; export. All computation is :mod:`napari_cryohype.core`, run in napari workers; PCA of large
arrays, UMAP and k-means in a helper process (:mod:`.helper_process`), where they cannot hold the GIL.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

import numpy as np
from matplotlib import colormaps
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (QApplication, QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QGridLayout,
                            QGroupBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QWidget)

from napari_cryohype.widgets import export, helper_process
from napari_cryohype.widgets.messages import failure_text
from napari_cryohype.widgets.scatter import TOOLS, ScatterCanvas
from napari_cryohype.widgets.scrolling import scrolling_layout
from napari_cryohype.widgets.selection import invert
from napari_cryohype.widgets.workers import start_worker

N_PC_AXES = 6                  # PC1..PC6 offered as axes
_SYNC_PCA_ENTRIES = 200_000   # larger latent arrays (N x d) get their PCA in the helper process
_N_PCS = 10                    # principal components computed; UMAP and k-means run on them
_FIRST_VIEW_ANGLES = (0.0, -30.0, 60.0)   # camera (roll, elevation, azimuth) in degrees for the first volume
_SPACING = 1.15                # layers placed side by side are this many box widths apart
_PENDING = "decoded volume (pending)"   # the role of the empty layer a click adds while its image decodes
_READY = "decoded volume (ready)"       # the role of the hidden empty layer made for the next click
LOSS = "loss (per image)"      # the covariate name of each image's loss under the model
_PALETTE = np.concatenate([colormaps["tab10"](np.arange(10)), colormaps["tab20b"](np.arange(20)),
                           colormaps["tab20c"](np.arange(20))]).astype(np.float32)
_GREY = np.array([0.3, 0.3, 0.3, 0.8], np.float32)


def camera(viewer):
    """The viewer's camera: ``viewer.scene.camera`` from napari 0.9 (``viewer.camera`` is deprecated there),
    ``viewer.camera`` before."""
    return getattr(viewer, "scene", viewer).camera


def category_colors(values: np.ndarray) -> np.ndarray:
    """RGBA (N, 4) for integer categories (k-means cluster, true label): a fixed 50-colour palette."""
    values = np.asarray(values, dtype=np.int64)
    return _PALETTE[np.mod(values, len(_PALETTE))]


def value_colors(values: np.ndarray) -> np.ndarray:
    """RGBA (N, 4) for a continuous covariate: viridis over its 1st-99th percentile range."""
    values = np.asarray(values, dtype=np.float64)
    lo, hi = np.nanpercentile(values, [1, 99]) if len(values) else (0.0, 1.0)
    t = np.clip((values - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    return colormaps["viridis"](np.nan_to_num(t)).astype(np.float32)


class LatentExplorer(QWidget):
    """The Latent Explorer dock widget (npe2 widget contribution; takes the napari viewer).

    Programmatic use: :meth:`set_latents` (a plain array), :meth:`load_run` (a run folder),
    :meth:`decode_index`, :meth:`decode_selection`, :meth:`select_range`, :meth:`load_indices`,
    ``save_*``; :attr:`busy` is True while a worker runs.
    """

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.run = None
        self.dataset = None
        self.data_folder: Path | None = None
        self.latents = np.zeros((0, 1), np.float32)
        self.pcs = np.zeros((0, 2), np.float32)
        self.embedding: np.ndarray | None = None
        self.clusters: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.covariates: dict[str, np.ndarray] = {}
        self._workers: dict = {}   # running worker -> what it does, in the order they started
        self._pending_layers: list[Callable[[], object]] = []   # layer steps of a decoded image, in order
        self._when_idle: list[Callable[[], object]] = []        # UI work for when no worker runs
        self._umap_generation = 0
        self._latents_generation = 0
        self._epochs_seen = 0
        self._build()
        # core.analysis imports scikit-learn (~3 s the first time) and the helper process takes a moment to
        # start: do both now, off the UI thread, rather than in the middle of a training run
        start_worker(importlib.import_module, "napari_cryohype.core.analysis", on_error=lambda err: None)
        start_worker(helper_process.warm_up, on_error=lambda err: None)
        start_worker(_warm_up_3d, on_error=lambda err: None)

    # --- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        self.scatter = ScatterCanvas(self)
        self.scatter.setMinimumHeight(300)
        self.run_label = QLabel("No latents loaded: open a run folder, or train.")
        self.run_label.setWordWrap(True)
        open_run = QPushButton("Open run folder…")
        open_run.clicked.connect(self._choose_run)

        self.x_axis, self.y_axis = QComboBox(), QComboBox()
        self.color_by = QComboBox()
        self.k_spin = QSpinBox(minimum=2, maximum=500, value=8, prefix="k = ")
        self.umap_button = QPushButton("Compute UMAP")
        self.umap_button.clicked.connect(self.compute_umap)
        self.auto_umap = QCheckBox("UMAP automatically", checked=True)
        self.follow_every = QSpinBox(minimum=1, maximum=1000, value=2, prefix="every ", suffix=" epochs")
        self.follow_every.setToolTip("While training runs, recompute latents and UMAP (warm-started) this often")
        for combo in (self.x_axis, self.y_axis):
            combo.currentIndexChanged.connect(self._redraw_points)
        self.color_by.currentIndexChanged.connect(self._recolor)
        self.k_spin.editingFinished.connect(self._recluster)

        tools = QHBoxLayout()
        self.tool_group = QButtonGroup(self)
        for i, tool in enumerate(TOOLS):
            b = QPushButton(tool.capitalize(), checkable=True, checked=tool == "pan")
            b.setToolTip({"pan": "drag to pan, wheel to zoom", "lasso": "drag a free-hand loop",
                          "box": "drag a rectangle", "click": "click one point"}[tool])
            self.tool_group.addButton(b, i)
            tools.addWidget(b)
        self.tool_group.idClicked.connect(lambda i: self.scatter.set_tool(TOOLS[i]))
        self.pick_mode = QComboBox()
        self.pick_mode.addItems(["replace", "add", "subtract"])
        self.pick_mode.currentTextChanged.connect(lambda m: setattr(self.scatter, "mode", m))
        tools.addWidget(self.pick_mode)

        sel_row = QHBoxLayout()
        self.count_label = QLabel("0 selected")
        for text, slot in (("Invert", self.invert_selection), ("Clear", self.clear_selection),
                           ("Load indices.pkl…", self._choose_indices), ("Reset view", self.scatter.reset_view)):
            b = QPushButton(text)
            b.clicked.connect(slot)
            sel_row.addWidget(b)

        range_row = QHBoxLayout()
        self.range_covariate = QComboBox()
        self.range_lo = QDoubleSpinBox(decimals=3, minimum=-1e12, maximum=1e12)
        self.range_hi = QDoubleSpinBox(decimals=3, minimum=-1e12, maximum=1e12)
        self.range_covariate.currentTextChanged.connect(self._range_defaults)
        range_button = QPushButton("Select range")
        range_button.clicked.connect(lambda: self.select_range(self.range_covariate.currentText(),
                                                               self.range_lo.value(), self.range_hi.value()))
        self.range_covariate.setMinimumWidth(130)
        for spin in (self.range_lo, self.range_hi):
            spin.setMaximumWidth(120)
        for w in (QLabel("range"), self.range_covariate, self.range_lo, QLabel("to"), self.range_hi, range_button):
            range_row.addWidget(w)

        decode_box = QGroupBox("Structure")
        grid = QGridLayout(decode_box)
        self.decode_on_click = QCheckBox("Decode on click", checked=True)
        self.layer_mode = QComboBox()
        self.layer_mode.addItems(["replace layers", "add layers"])
        self.rendering = QComboBox()
        self.rendering.addItems(["attenuated_mip", "iso", "mip"])
        self.rendering.currentTextChanged.connect(self._set_rendering)
        decode_sel = QPushButton("Decode selection")
        decode_sel.setToolTip("One volume for the selected images (core.decode.decode_selection)")
        decode_sel.clicked.connect(self.decode_selection)
        grid.addWidget(self.decode_on_click, 0, 0)
        grid.addWidget(self.layer_mode, 0, 1)
        grid.addWidget(self.rendering, 0, 2)
        grid.addWidget(decode_sel, 1, 0, 1, 3)

        export_box = QGroupBox("Export")
        ex = QGridLayout(export_box)
        for i, (text, slot) in enumerate((("Volumes (.mrc)…", self._choose_volumes_folder),
                                          ("indices.pkl + inverse…", self._choose_indices_out),
                                          ("Subset .star…", self._choose_star_out),
                                          ("Latents, embedding (.npy)…", self._choose_arrays_folder))):
            b = QPushButton(text)
            b.clicked.connect(slot)
            ex.addWidget(b, i // 2, i % 2)
            if text.startswith("Subset"):
                self.star_button = b

        self.status = QLabel("")
        self.status.setWordWrap(True)

        axes = QGridLayout()
        axes.addWidget(QLabel("x"), 0, 0)
        axes.addWidget(self.x_axis, 0, 1)
        axes.addWidget(QLabel("y"), 0, 2)
        axes.addWidget(self.y_axis, 0, 3)
        axes.addWidget(QLabel("colour"), 1, 0)
        axes.addWidget(self.color_by, 1, 1, 1, 2)
        axes.addWidget(self.k_spin, 1, 3)
        axes.addWidget(self.umap_button, 2, 0, 1, 2)
        axes.addWidget(self.auto_umap, 2, 2, 1, 2)
        axes.addWidget(QLabel("refresh while training"), 3, 0, 1, 2)
        axes.addWidget(self.follow_every, 3, 2, 1, 2)

        layout = scrolling_layout(self)
        top = QHBoxLayout()
        top.addWidget(self.run_label, 1)
        top.addWidget(open_run)
        layout.addLayout(top)
        layout.addLayout(axes)
        layout.addWidget(self.scatter, 1)
        layout.addLayout(tools)
        row = QHBoxLayout()
        row.addWidget(self.count_label)
        row.addLayout(sel_row)
        layout.addLayout(row)
        layout.addLayout(range_row)
        layout.addWidget(decode_box)
        layout.addWidget(export_box)
        layout.addWidget(self.status)

        self.scatter.selection_changed.connect(self._selection_changed)
        self.scatter.point_clicked.connect(self._point_clicked)
        self.scatter.point_hovered.connect(self._point_hovered)
        self._update_controls()

    # --- workers --------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True while a worker (latents, UMAP, k-means, decoding) runs, decoded layers are being added or
        the layer for the next click is still to be made."""
        return bool(self._workers or self._pending_layers or self._when_idle)

    def _start(self, func: Callable, *args, on_done: Callable, what: str,
               on_failed: Callable[[], object] | None = None, **kwargs) -> None:
        """Run ``func(*args, **kwargs)`` in a napari thread worker; ``on_done(result)`` on the UI thread, or
        a notification and ``on_failed()`` if it raised."""
        holder = []

        def finished() -> None:
            self._workers.pop(holder[0], None)
            self._show_busy()
            if not self._workers and self._when_idle:
                QTimer.singleShot(1, self._run_when_idle)  # after what this worker's end has drawn

        def failed(err: Exception) -> None:
            self._error(what, err)
            if on_failed is not None:
                on_failed()

        worker = start_worker(func, *args, on_done=on_done, on_error=failed, on_finished=finished, **kwargs)
        holder.append(worker)
        self._workers[worker] = what
        self._show_busy(started=True)

    def _run_when_idle(self) -> None:
        """The queued idle work, unless a worker runs again; not in the middle of a drag (a lasso, a pan):
        retried when the mouse buttons are up."""
        if QApplication.mouseButtons() != Qt.MouseButton.NoButton:
            QTimer.singleShot(200, self._run_when_idle)
            return
        while not self._workers and self._when_idle:
            self._when_idle.pop(0)()

    def _show_busy(self, started: bool = False) -> None:
        """Status line: what every running worker does (``what…``, the longest-running first), when one
        starts and when one ends; cleared when the last ends. A line saying why one failed stays until
        another starts."""
        if started or self.status.text().endswith("…"):
            self.status.setText(" · ".join(f"{what}…" for what in self._workers.values()))

    def _error(self, what: str, err: Exception) -> None:
        from napari.utils.notifications import show_error

        show_error(failure_text(what, err))
        self.status.setText(f"{what} failed: {err}")

    # --- data -----------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.latents)

    def set_latents(self, latents: np.ndarray, *, labels: np.ndarray | None = None,
                    covariates: dict[str, np.ndarray] | None = None, pcs: np.ndarray | None = None,
                    embedding: np.ndarray | None = None, clusters: np.ndarray | None = None) -> None:
        """Explore ``latents`` (N, d): PCA (core.analysis.pca unless ``pcs`` given) at once — in the helper
        process (:mod:`.helper_process`) when the array is large — then UMAP there (unless ``embedding``
        given or automatic UMAP is off). A previous embedding of the same N warm-starts the new UMAP.
        ``labels`` (N,) int and ``covariates`` name -> (N,) values colour the points."""
        latents = np.asarray(latents, dtype=np.float32)
        self._latents_generation += 1
        generation = self._latents_generation

        def show(pcs_: np.ndarray) -> None:
            if generation == self._latents_generation:
                self._show_latents(latents, np.asarray(pcs_, np.float32), labels, covariates, embedding, clusters)

        if pcs is not None or latents.size <= _SYNC_PCA_ENTRIES:
            show(pcs if pcs is not None else _pca(latents))
        else:
            self._start(helper_process.call_analysis, "pca", latents, n_components=_N_PCS, on_done=show,
                        what=f"PCA of {latents.shape} latents")

    def _show_latents(self, latents, pcs, labels, covariates, embedding, clusters) -> None:
        previous = self.embedding if self.embedding is not None and len(self.embedding) == len(latents) else None
        self.latents = latents
        self.pcs = pcs if pcs.shape[1] > 1 else np.concatenate([pcs, np.zeros_like(pcs)], axis=1)
        refresh_umap = embedding is None and self.auto_umap.isChecked() and len(latents) >= 4
        # while a warm-started UMAP of new latents computes, the previous layout stays on screen
        self.embedding = (np.asarray(embedding, np.float32) if embedding is not None
                          else previous if refresh_umap else None)
        self.clusters = None if clusters is None else np.asarray(clusters)
        if labels is not None:
            self.labels = np.asarray(labels)
        elif self.labels is not None and len(self.labels) != len(latents):
            self.labels = None
        if covariates is not None:
            self.covariates = {k: np.asarray(v) for k, v in covariates.items()}
        self._update_controls(keep_axes=previous is not None)
        self._redraw_points(reset_view=previous is None)
        if refresh_umap:
            self.compute_umap(init=previous)

    def compute_umap(self, init: np.ndarray | None = None) -> None:
        """UMAP of the principal components (core.analysis.umap_embedding) in a worker; ``init`` (N, 2)
        warm-starts it (the previous embedding while training)."""
        if self.n < 4:
            return
        self._umap_generation += 1
        generation = self._umap_generation
        init = self.embedding if init is None and self.embedding is not None else init

        def done(embedding):
            if generation == self._umap_generation and len(embedding) == self.n:
                first = self.embedding is None
                self.embedding = embedding
                self._update_controls(keep_axes=not first)
                self._redraw_points(reset_view=first)

        self._start(helper_process.call_analysis, "umap_embedding", self.pcs, init=init, on_done=done,
                    what="UMAP (the first one compiles for ~40 s)")

    def _recluster(self) -> None:
        """k-means of the principal components (core.analysis.kmeans) in a worker, then recolour."""
        if self.n < 2:
            return
        k = min(self.k_spin.value(), self.n)

        def done(clusters):
            if len(clusters) == self.n:
                self.clusters = clusters
                self._recolor()

        self._start(helper_process.call_analysis, "kmeans", self.pcs, k, on_done=done,
                    what=f"k-means (k={k})")

    def load_run(self, path) -> None:
        """Open a run folder: its analysis/*.npy when present, else compute the latents in a worker.
        Labels (labels.npy) and true maps (volumes/) are found beside the run's particle stack."""
        from napari_cryohype.core.run import Run

        self.run = Run.open(path)
        self.dataset = self.run.dataset()
        self._find_data_folder()
        self.covariates = self._run_covariates()
        self.embedding, self.clusters = None, None
        self.preload_model()
        self.run_label.setText(f"Run: {self.run.path}  ·  {len(self.dataset)} images, D={self.run.D}, "
                               f"{self.run.apix:g} Å/px")
        self.star_button.setEnabled(self._source_star() is not None)
        analysis = Path(self.run.analysis_dir)
        arrays = {name: analysis / f"{name}.npy" for name in ("latents", "pca", "umap", "kmeans", "loss")}
        if arrays["latents"].is_file():
            loaded = {k: np.load(p) if p.is_file() else None for k, p in arrays.items()}
            n = len(loaded["latents"])
            same = {k: v if v is not None and len(v) == n else None for k, v in loaded.items()}
            if same["loss"] is not None:
                self.covariates[LOSS] = same["loss"]
            self.set_latents(loaded["latents"], labels=self._labels(n), pcs=same["pca"], embedding=same["umap"],
                             clusters=same["kmeans"])
        else:
            self.refresh_latents()

    def preload_model(self) -> None:
        """Load the run's model for decoding in a worker now (core.decode.preload), then, once no worker
        runs (the CPU is free), make the layer the first click fills (:meth:`prepare_volume_layer`): that
        click then waits for the decoding only."""
        if self.run is not None and self.run.has_checkpoint:
            self._start(_preload, self.run, on_done=lambda _: self._when_idle.append(self.prepare_volume_layer),
                        what="Loading the model for decoding")

    def prepare_volume_layer(self) -> None:
        """Add the hidden, empty 3D layer that the next click's volume fills, unless a decoded volume's layer
        is already there. Under software OpenGL, creating a napari layer costs the UI thread ~0.3 s and the
        first draw of a volume ~0.08 s more (its shader is compiled): both are paid once the run has loaded,
        not after a click. For that draw the viewer goes to 3D and the layer is shown fully transparent for
        half a second, then hidden; a viewer showing the user's own layers in 2D is left as it is (the
        click switches it)."""
        roles = (_READY, _PENDING, "decoded volume")
        if (self.run is None or not self.decode_on_click.isChecked()
                or any(layer.metadata.get("cryohype_role") in roles for layer in self.viewer.layers)):
            return
        if not any(layer.visible and not layer.metadata.get("cryohype_role") for layer in self.viewer.layers):
            self._to_3d()
        selection = self.viewer.layers.selection
        selected = set(selection)
        layer = self._volume_layer(np.zeros((self.run.D,) * 3, np.float32), "decoded volume (click a point)",
                                   _READY, visible=False)
        selection.clear()            # a placeholder: the user's selection stays as it was
        selection.update(selected)
        if self.viewer.dims.ndisplay == 3:
            self._frame_all()
            QTimer.singleShot(1, lambda: self._draw_ready(layer))  # its first draw: an event-loop turn of its own

    def _still_ready(self, layer) -> bool:
        """The prepared layer is in the viewer and no click has taken it."""
        return layer in self.viewer.layers and layer.metadata.get("cryohype_role") == _READY

    def _draw_ready(self, layer) -> None:
        """Show the prepared layer, fully transparent, for its first draw; hidden again half a second later
        (its opacity is 0 only meanwhile: its layer controls show it)."""
        if self._still_ready(layer):
            layer.opacity = 0.0
            layer.visible = True
            QTimer.singleShot(500, lambda: self._hide_ready(layer))

    def _hide_ready(self, layer) -> None:
        """Hide the prepared layer after its first (transparent) draw, unless a click has taken it; its
        opacity back to 1."""
        if self._still_ready(layer):
            layer.visible = False
            layer.opacity = 1.0

    def refresh_latents(self) -> None:
        """Recompute every image's latent from the run's last checkpoint (core.latents) in a worker."""
        if self.run is None:
            return

        def shown(result):
            z, losses = result
            self.set_latents(z, labels=self._labels(len(z)), covariates={**self.covariates, LOSS: losses})

        self._start(helper_process.call_in_helper, "napari_cryohype.core.latents", "latents_and_losses",
                    str(self.run.path), on_done=shown, what="Computing latents")

    def follow_training(self, run_path) -> None:
        """Attach to a run being trained (the Train widget calls this); latents come at :meth:`training_epoch`."""
        from napari_cryohype.core.run import Run

        self.run = Run.open(run_path)
        self.dataset = self.run.dataset()
        self._find_data_folder()
        self.covariates = self._run_covariates()
        self._epochs_seen = 0
        self.run_label.setText(f"Training: {self.run.path}  ·  {len(self.dataset)} images")
        self.star_button.setEnabled(self._source_star() is not None)

    def training_epoch(self, epoch: int) -> None:
        """Called after each finished epoch: refresh the latents every ``follow_every`` epochs (skipped
        while the previous refresh is still running)."""
        self._epochs_seen += 1
        if self._epochs_seen % self.follow_every.value() == 0 and not self.busy:
            self.refresh_latents()

    def _find_data_folder(self) -> None:
        particles = self.run.config.get("data", {}).get("particles")
        self.data_folder = Path(particles).parent if particles else None

    def _labels(self, n: int) -> np.ndarray | None:
        from napari_cryohype.core.analysis import load_labels

        if self.data_folder is None or not (self.data_folder / "labels.npy").is_file():
            return None
        labels = load_labels(self.data_folder / "labels.npy")
        return labels if len(labels) == n else None

    def _run_covariates(self) -> dict[str, np.ndarray]:
        """Per-image covariates of the run's data: defocus (Å) and pose angles (RELION rot/tilt/psi, °);
        the per-image loss joins them with the latents."""
        from napari_cryohype.core.io.star import rotation_to_relion

        cov: dict[str, np.ndarray] = {}
        if self.dataset.ctf is not None:
            cov["defocus (Å)"] = self.dataset.ctf[:, 2:4].mean(axis=1)
        angles = rotation_to_relion(self.dataset.poses.rots)
        for j, name in enumerate(("rot", "tilt", "psi")):
            cov[f"pose {name} (°)"] = angles[:, j]
        return cov

    def _source_star(self) -> Path | None:
        particles = self.run.config.get("data", {}).get("particles") if self.run is not None else None
        return Path(particles) if particles and str(particles).endswith(".star") else None

    # --- drawing --------------------------------------------------------------------------------
    def _axis_names(self) -> list[str]:
        names = ["UMAP1", "UMAP2"] if self.embedding is not None else []
        return names + [f"PC{i + 1}" for i in range(min(N_PC_AXES, self.pcs.shape[1]))]

    def axis_values(self, name: str) -> np.ndarray:
        """The (N,) coordinate called ``name`` (UMAP1/2, PC1..)."""
        if name.startswith("UMAP"):
            return self.embedding[:, int(name[4:]) - 1]
        return self.pcs[:, int(name[2:]) - 1]

    def _update_controls(self, keep_axes: bool = False) -> None:
        names = self._axis_names()
        old = (self.x_axis.currentText(), self.y_axis.currentText())
        default = ("UMAP1", "UMAP2") if self.embedding is not None else ("PC1", "PC2")
        for combo, prev, dflt in ((self.x_axis, old[0], default[0]), (self.y_axis, old[1], default[1])):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            combo.setCurrentText(prev if keep_axes and prev in names else dflt)
            combo.blockSignals(False)
        old_color = self.color_by.currentText()
        options = ["none", "k-means"] + (["true label"] if self.labels is not None else []) + list(self.covariates)
        self.color_by.blockSignals(True)
        self.color_by.clear()
        self.color_by.addItems(options)
        default_color = "true label" if self.labels is not None else "k-means" if self.clusters is not None else "none"
        self.color_by.setCurrentText(old_color if old_color in options and old_color != "none" else default_color)
        self.color_by.blockSignals(False)
        self.range_covariate.blockSignals(True)
        self.range_covariate.clear()
        self.range_covariate.addItems(list(self.covariates) + names)
        self.range_covariate.blockSignals(False)
        self._range_defaults(self.range_covariate.currentText())

    def _redraw_points(self, *_, reset_view: bool = True) -> None:
        if self.n == 0 or not self.x_axis.currentText() or not self.y_axis.currentText():
            return
        xname, yname = self.x_axis.currentText(), self.y_axis.currentText()
        xy = np.stack([self.axis_values(xname), self.axis_values(yname)], axis=1)
        self.scatter.set_data(xy, self._colors(), reset_view=reset_view)
        self.scatter.set_labels(xname, yname)
        self.scatter.set_legend(self._legend())
        self._selection_changed(self.scatter.selection)
        if self.color_by.currentText() == "k-means" and self.clusters is None:
            self._recluster()

    def _colors(self) -> np.ndarray:
        by = self.color_by.currentText()
        if by == "true label" and self.labels is not None:
            return category_colors(self.labels)
        if by == "k-means" and self.clusters is not None:
            return category_colors(self.clusters)
        if by in self.covariates:
            return value_colors(self.covariates[by])
        return np.tile(_GREY, (self.n, 1))

    def _legend(self) -> list[tuple[str, tuple]]:
        """Legend of the current colouring: one entry per category (at most 12), or a covariate's range."""
        by = self.color_by.currentText()
        values = (self.labels if by == "true label" else self.clusters if by == "k-means" else None)
        if values is not None:
            cats = np.unique(values)
            name = "label" if by == "true label" else "cluster"
            entries = [(f"{name} {c}", tuple(category_colors(np.array([c]))[0])) for c in cats[:12]]
            return entries + ([(f"… {len(cats) - 12} more", (0.5, 0.5, 0.5, 1))] if len(cats) > 12 else [])
        if by in self.covariates:
            lo, hi = np.nanpercentile(self.covariates[by], [1, 99])
            colors = value_colors(np.array([lo, hi]))
            return [(f"{by} {lo:.4g}", tuple(colors[0])), (f"{by} {hi:.4g}", tuple(colors[1]))]
        return []

    def _recolor(self, *_) -> None:
        if self.n == 0:
            return
        if self.color_by.currentText() == "k-means" and self.clusters is None:
            self._recluster()
        self.scatter.set_colors(self._colors())
        self.scatter.set_legend(self._legend())

    # --- selection ------------------------------------------------------------------------------
    @property
    def selection(self) -> np.ndarray:
        """Selected image positions (sorted int64)."""
        return self.scatter.selection

    def _selection_changed(self, selection: np.ndarray) -> None:
        self.count_label.setText(f"{len(selection):,} of {self.n:,} selected")

    def set_selection(self, indices: np.ndarray) -> None:
        """Select these image positions."""
        self.scatter.set_selection(indices)

    def invert_selection(self) -> None:
        self.scatter.set_selection(invert(self.selection, self.n))

    def clear_selection(self) -> None:
        self.scatter.set_selection(np.empty(0, np.int64))

    def select_range(self, name: str, lo: float, hi: float) -> np.ndarray:
        """Pick the images whose covariate (or axis) ``name`` lies in [lo, hi]; combined per the pick mode."""
        values = self.covariates[name] if name in self.covariates else self.axis_values(name)
        picked = np.flatnonzero((values >= lo) & (values <= hi))
        self.scatter.pick(picked)
        return picked

    def _range_defaults(self, name: str) -> None:
        if not name or self.n == 0:
            return
        values = self.covariates[name] if name in self.covariates else self.axis_values(name)
        self.range_lo.setValue(float(np.nanmin(values)))
        self.range_hi.setValue(float(np.nanmax(values)))

    def load_indices(self, path) -> None:
        """Highlight the images of a cryoDRGN indices.pkl (original dataset numbering)."""
        from napari_cryohype.core.io.pkl import load_indices_pkl

        indices = load_indices_pkl(path)
        self.scatter.set_selection(indices[(indices >= 0) & (indices < self.n)])

    def _point_hovered(self, index) -> None:
        if index is None:
            return
        parts = [f"image {index}"]
        if self.labels is not None:
            parts.append(f"label {self.labels[index]}")
        if self.clusters is not None:
            parts.append(f"cluster {self.clusters[index]}")
        self.status.setText(" · ".join(parts))

    # --- decoding -------------------------------------------------------------------------------
    def _point_clicked(self, index: int) -> None:
        self.scatter.show_focus(index)
        if self.decode_on_click.isChecked():
            self.decode_index(index)

    def _true_map_path(self, index: int) -> Path | None:
        if self.labels is None or self.data_folder is None:
            return None
        found = sorted((self.data_folder / "volumes").glob(f"{int(self.labels[index]):03d}_*.mrc"))
        return found[0] if found else None

    def decode_index(self, index: int) -> None:
        """Decode image ``index``'s INR to a volume (core.decode.decode_images) in a worker and show it with
        the particle image, the model's rendered projection and, for simulations, the true map.

        The volume's layer is there at once: the one to replace, or a new empty one while the worker
        decodes (creating a napari layer is most of a first click's wait; it then overlaps the decoding).
        The empty one is hidden until filled: drawing an empty volume costs as much as a full one."""
        if self.run is None:
            self.status.setText("Decoding needs a run folder (latents alone have no model).")
            return
        run, dataset, truth = self.run, self.dataset, self._true_map_path(index)
        target = []  # the volume's layer, found or made once the worker has started (results come after)

        def failed() -> None:
            if target[0] in self.viewer.layers and target[0].metadata["cryohype_role"] == _PENDING:
                self.viewer.layers.remove(target[0])

        self._start(_decode_one, run, dataset, index, truth, on_done=lambda r: self._show_decoded(r, target[0]),
                    on_failed=failed, what=f"Decoding image {index}")
        layer = self._role_layer(_READY, 3)
        if layer is not None:
            layer.visible, layer.opacity = False, 1.0  # (shown transparent while prepared)
            layer.name, layer.metadata["cryohype_role"] = f"decoding image {index}…", _PENDING
        elif self.layer_mode.currentText() == "replace layers":  # (a pending one: a click while another decodes)
            layer = self._role_layer("decoded volume", 3) or self._role_layer(_PENDING, 3)
        if layer is None:
            layer = self._new_volume_layer(np.zeros((run.D,) * 3, np.float32), f"decoding image {index}…", _PENDING,
                                           visible=False)
        target.append(layer)

    def decode_selection(self) -> None:
        """One volume for the selection (core.decode.decode_selection) in a worker, shown as a 3D layer."""
        from napari_cryohype.core.decode import decode_selection

        if self.run is None or len(self.selection) == 0:
            self.status.setText("Select images of a run first.")
            return
        selection = self.selection.copy()
        name = f"selection volume ({len(selection)} images)"
        self._start(decode_selection, self.run, selection,
                    on_done=lambda vol: self._put_layer(vol, name, "selection volume", 3,
                                                        translate=self._selection_place()),
                    what=f"Decoding {len(selection)} selected images")

    def _selection_place(self) -> tuple[float, float, float]:
        """Where a new selection volume goes: in a row of its own under the clicked image's volume and
        the images beside it (the first at one volume's height, the next added one below it, …)."""
        shift = _SPACING * self.run.D * self.run.apix
        rows = sum(layer.metadata.get("cryohype_role") == "selection volume" for layer in self.viewer.layers)
        replacing = rows and self.layer_mode.currentText() == "replace layers"
        return (0.0, shift * (rows if replacing else rows + 1), 0.0)

    def _show_decoded(self, result: dict, target=None) -> None:
        """Put a decoded image's layers in the viewer in two event-loop turns: first the volume (what the
        click asked for; into the layer ``target`` when given and still there), drawn before the UI thread
        goes on to the particle image, the rendered projection and the true map beside it (each new napari
        layer costs the UI thread a few hundred ms under software OpenGL)."""
        i, shift = result["index"], _SPACING * self.run.D * self.run.apix
        first = all(layer.metadata.get("cryohype_role") in (None, _PENDING, _READY) for layer in self.viewer.layers)

        def volume() -> None:
            if target is not None and target in self.viewer.layers:
                self._fill(target, result["volume"], f"decoded volume {i}", "decoded volume")
            else:
                self._put_layer(result["volume"], f"decoded volume {i}", "decoded volume", 3)

        def beside() -> None:
            self._put_layer(result["image"], f"particle image {i}", "particle image", 2, translate=(0, shift))
            self._put_layer(result["projection"], f"rendered projection {i}", "rendered projection", 2,
                            translate=(0, 2 * shift))
            if result["truth"] is not None:
                self._put_layer(result["truth"], f"true map {result['truth_name']}", "true map", 3,
                                translate=(0, 0, -shift))
            if first:  # the first decoded image: frame all of its layers
                self._frame_all()

        self._pending_layers.extend([volume, beside])
        self._next_layer()

    def _next_layer(self) -> None:
        """Run the next queued layer step; the rest follow after Qt has handled its events and repainted
        (a 0 ms timer would come first: Qt posts a repaint request at low priority; a 1 ms timer comes after)."""
        if self._pending_layers:
            self._pending_layers.pop(0)()
        if self._pending_layers:
            QTimer.singleShot(1, self._next_layer)

    def _role_layer(self, role: str, ndim: int):
        """The viewer's layer of this ``role`` (``metadata['cryohype_role']``) and dimensionality, or None."""
        for layer in self.viewer.layers:
            if layer.metadata.get("cryohype_role") == role and layer.ndim == ndim:
                return layer
        return None

    def _put_layer(self, data: np.ndarray, name: str, role: str, ndim: int, translate=None):
        """Show ``data`` as an image layer with the run's voxel size; with 'replace layers' reuse the layer
        of the same ``role``."""
        layer = self._role_layer(role, ndim) if self.layer_mode.currentText() == "replace layers" else None
        if layer is not None:
            return self._fill(layer, data, name, role)
        if ndim == 3:
            return self._new_volume_layer(data, name, role, translate)
        translate = tuple(translate) if translate is not None else (0.0, 0.0)
        return self.viewer.add_image(data, name=name, scale=(self.run.apix,) * 2, translate=translate,
                                     colormap="gray", metadata={"cryohype_role": role, "apix": self.run.apix})

    def _new_volume_layer(self, data: np.ndarray, name: str, role: str, translate=None, visible: bool = True):
        """A 3D image layer of ``data`` (D, D, D) (:meth:`_volume_layer`); the first one switches the viewer
        to 3D (before adding: the layer is then sliced once, in 3D) and frames it (:meth:`_frame_all`)."""
        first = not any(layer.metadata.get("cryohype_role") for layer in self.viewer.layers)
        self._to_3d()
        layer = self._volume_layer(data, name, role, translate, visible)
        if first:
            self._frame_all()
        return layer

    def _volume_layer(self, data: np.ndarray, name: str, role: str, translate=None, visible: bool = True):
        """Add a 3D image layer of ``data`` (D, D, D) with the run's voxel size and the chosen rendering."""
        apix = float(self.run.apix)
        layer = self.viewer.add_image(data, name=name, scale=(apix,) * 3, colormap="gray",
                                      translate=tuple(translate) if translate is not None else (0.0,) * 3,
                                      rendering=self.rendering.currentText(), visible=visible,
                                      metadata={"cryohype_role": role, "apix": apix})
        self._set_iso_threshold(layer)
        return layer

    def _to_3d(self) -> bool:
        """Switch the viewer to 3D display; True if it was not."""
        if self.viewer.dims.ndisplay == 3:
            return False
        self.viewer.dims.ndisplay = 3
        return True

    def _frame_all(self) -> None:
        """Fit the view to all layers, the camera oblique (seen straight down its z axis a volume looks
        like a flat image)."""
        self.viewer.reset_view()
        camera(self.viewer).angles = _FIRST_VIEW_ANGLES

    def _fill(self, layer, data: np.ndarray, name: str, role: str):
        """Put new ``data`` into an existing layer, renamed ``name``, now of ``role``, with the run's voxel
        size; a volume's switches the viewer to 3D (framed) if it is not."""
        switched = layer.ndim == 3 and self._to_3d()
        apix = float(self.run.apix)
        if tuple(layer.scale) != (apix,) * layer.ndim:
            layer.scale = (apix,) * layer.ndim
            layer.metadata["apix"] = apix
        layer.data = data
        layer.visible = True
        layer.name = name
        layer.metadata["cryohype_role"] = role
        layer.reset_contrast_limits()
        self._set_iso_threshold(layer)
        if switched:
            self._frame_all()
        return layer

    def _set_iso_threshold(self, layer) -> None:
        if layer.ndim == 3 and layer.rendering == "iso":
            layer.iso_threshold = float(np.percentile(np.asarray(layer.data), 95))

    def _set_rendering(self, mode: str) -> None:
        for layer in self.viewer.layers:
            if layer.metadata.get("cryohype_role") and layer.ndim == 3:
                layer.rendering = mode
                self._set_iso_threshold(layer)

    # --- export ---------------------------------------------------------------------------------
    def decoded_volumes(self) -> dict[str, tuple[np.ndarray, float]]:
        """Every decoded 3D layer in the viewer: name -> (volume, voxel size Å)."""
        return {layer.name.replace(" ", "_").replace("(", "").replace(")", ""):
                (np.asarray(layer.data), float(layer.metadata.get("apix", layer.scale[-1])))
                for layer in self.viewer.layers
                if layer.metadata.get("cryohype_role") in ("decoded volume", "selection volume")}

    def save_volumes(self, folder) -> list[Path]:
        return self._report(export.export_volumes(self.decoded_volumes(), folder, self))

    def save_indices(self, path) -> list[Path]:
        return self._report(export.export_indices(self.selection, self.n, path, self))

    def save_star(self, path) -> list[Path]:
        src = self._source_star()
        if src is None:
            self.status.setText("The run's particles are not a .star file.")
            return []
        return self._report(export.export_star(self.selection, src, path, self))

    def save_arrays(self, folder) -> list[Path]:
        arrays = {"latents": self.latents, "pca": self.pcs, "selection": self.selection}
        if self.embedding is not None:
            arrays["umap"] = self.embedding
        if self.clusters is not None:
            arrays["kmeans"] = self.clusters
        return self._report(export.export_arrays(arrays, folder, self))

    def _report(self, paths: list[Path]) -> list[Path]:
        self.status.setText(f"Wrote {len(paths)} file(s): " + ", ".join(p.name for p in paths) if paths
                            else "Nothing written.")
        return paths

    # --- dialogs --------------------------------------------------------------------------------
    def _choose_run(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a CryoHype run folder")
        if path:
            self._guard("Opening the run", lambda: self.load_run(path))

    def _choose_indices(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load indices.pkl", filter="Pickle (*.pkl)")
        if path:
            self._guard("Loading indices", lambda: self.load_indices(path))

    def _choose_volumes_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for the decoded volumes")
        if path:
            self._guard("Saving volumes", lambda: self.save_volumes(path))

    def _choose_indices_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save indices.pkl", "indices.pkl", "Pickle (*.pkl)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self._guard("Saving indices", lambda: self.save_indices(path))

    def _choose_star_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save subset .star", "subset.star", "STAR (*.star)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self._guard("Saving the .star subset", lambda: self.save_star(path))

    def _choose_arrays_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for latents and embedding")
        if path:
            self._guard("Saving arrays", lambda: self.save_arrays(path))

    def _guard(self, what: str, action: Callable) -> None:
        """Run a UI action; a bad file or setting becomes a napari notification, not a traceback."""
        from napari_cryohype.core.errors import InputError

        try:
            action()
        except (InputError, OSError, ValueError) as err:
            self._error(what, err)


def _warm_up_3d() -> None:
    """Worker job when the explorer opens: napari's first 3D image layer pays one-time costs on the UI
    thread (pint's unit registry for the layer's scale, scipy.ndimage for its thumbnail, scipy.spatial for
    the 3D camera, vispy's volume visual): about 0.5 s of a first click's wait, paid here instead."""
    import scipy.ndimage  # noqa: F401
    import scipy.spatial.transform  # noqa: F401
    import vispy.visuals.volume  # noqa: F401
    from napari.utils._units import get_unit_registry

    get_unit_registry().pixel  # the registry reads its definitions on first use


def _preload(run) -> None:
    from napari_cryohype.core.decode import preload

    preload(run)


def _pca(latents: np.ndarray) -> np.ndarray:
    """Up to _N_PCS principal components (core.analysis.pca), on the calling thread."""
    from napari_cryohype.core.analysis import pca

    return pca(latents, n_components=_N_PCS)


def _decode_one(run, dataset, index: int, truth: Path | None) -> dict:
    """Worker job: image ``index``'s decoded volume, its particle image, the rendered projection and the
    true map (when given)."""
    from napari_cryohype.core.decode import decode_images, render_projection
    from napari_cryohype.core.io.mrc import read_volume

    result = {"index": index, "volume": decode_images(run, np.array([index])),
              "projection": render_projection(run, index), "image": dataset.particles[index],
              "truth": None, "truth_name": None}
    if truth is not None:
        result["truth"] = read_volume(truth)[0]
        result["truth_name"] = truth.stem
    return result
