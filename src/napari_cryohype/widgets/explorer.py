"""Latent Explorer: every image's latent as a point (PCA at once, UMAP from a worker), coloured by cluster,
true label or a per-image covariate; pick by lasso, box, click, range or indices.pkl; click a point to
decode that image's structure into a 3D layer beside its particle image and rendered projection; decode
a selection; export. While a run's first epoch trains, the points of the images trained on so far come
from the training steps' own latents (:mod:`.live_points`). All computation is :mod:`napari_cryohype.core`,
run in napari workers; PCA of large arrays, UMAP and k-means in a helper process (:mod:`.helper_process`),
where they cannot hold the GIL.

The widget holds the controls and the data (:class:`~.latent_data.LatentData`); each job has its module:
background work :mod:`.jobs`, the run folder's arrays and covariates :mod:`.run_data`, point colours
:mod:`.colors`, decoding :mod:`.decoding`, where layers go :mod:`.layers`, exporting :mod:`.export_box`.
"""

from __future__ import annotations

import importlib
import time

import numpy as np
from qtpy.QtCore import QTimer, Signal
from qtpy.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QGridLayout, QHBoxLayout,
                            QLabel, QPushButton, QSizePolicy, QSpinBox, QTabWidget, QWidget)

from napari_cryohype.widgets import colors, helper_process, run_data
from napari_cryohype.widgets.decoding import Decoder, load_units, warm_up_3d
from napari_cryohype.widgets.export_box import ExportBox
from napari_cryohype.widgets.jobs import Jobs
from napari_cryohype.widgets.latent_data import LatentData
from napari_cryohype.widgets.layers import Placement
from napari_cryohype.widgets.live_points import LivePoints
from napari_cryohype.widgets.scatter import TOOLS, ScatterCanvas
from napari_cryohype.widgets.scrolling import scrolling_layout
from napari_cryohype.widgets.selection import invert
from napari_cryohype.widgets.volume_display import RENDERINGS
from napari_cryohype.widgets.workers import start_worker

_SYNC_PCA_ENTRIES = 200_000   # larger latent arrays (N x d) get their PCA in the helper process
_N_PCS = 10                  # principal components computed; UMAP and k-means run on them
LIVE_INTERVAL_S = 1.0        # the first epoch's points are redrawn at most this often...
LIVE_COST_FACTOR = 10.0      # ...and at most once per this many times the last redraw's CPU time


class LatentExplorer(QWidget):
    """The Latent Explorer dock widget (npe2 widget contribution; takes the napari viewer).

    Programmatic use: :meth:`set_latents` (a plain array), :meth:`load_run` (a run folder),
    :meth:`decode_index`, :meth:`decode_selection`, :meth:`select_range`, :meth:`load_indices`,
    ``save_*``; :attr:`data` holds what is shown; :attr:`busy` is True while a worker runs.
    ``first_points`` is emitted when the first points of a run (opened, or being trained) are drawn.
    """

    first_points = Signal()

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.run = None
        self.dataset = None
        self.data = LatentData()
        self._umap_generation = 0    # changes when the images shown, or their embedding, are replaced
        self._umap_running = False   # a UMAP job runs (one at a time: they queue in one process)
        self._umap_wanted = False    # newer principal components than the running UMAP's wait for one
        self._latents_generation = 0
        self._latents_running = False
        self._epochs_seen = 0
        self._live_refreshes = 0     # latents asked for since training started
        self._new_run = False        # the next latents shown are a run's first
        self._live: LivePoints | None = None   # the training steps' latents, until every image's come
        self._live_labels: np.ndarray | None = None
        self._live_due = 0.0         # time.monotonic() before which the live points are not redrawn
        self._live_timer = QTimer(self, singleShot=True)
        self._live_timer.timeout.connect(self._draw_live)
        self.previewing = False      # the points shown are the first epoch's (some images have none yet)
        self._build()
        # core.analysis imports scikit-learn (~3 s the first time) and the helper process takes a moment to
        # start: do both now, off the UI thread, rather than in the middle of a training run
        start_worker(importlib.import_module, "napari_cryohype.core.analysis", on_error=lambda err: None)
        start_worker(helper_process.warm_up, on_error=lambda err: None)
        start_worker(warm_up_3d, on_done=load_units, on_error=lambda err: None)

    # --- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.jobs = Jobs(self.status)
        self.scatter = ScatterCanvas(self)
        self.scatter.setMinimumHeight(160)
        self.run_label = QLabel("No latents loaded: open a run folder, or train.")
        self.run_label.setWordWrap(True)
        open_run = QPushButton("Open run…")
        open_run.setToolTip("Open a CryoHype run folder")
        open_run.clicked.connect(self._choose_run)

        self.x_axis, self.y_axis = _narrow(QComboBox()), _narrow(QComboBox())
        self.color_by = _narrow(QComboBox())
        self.k_spin = QSpinBox(minimum=2, maximum=500, value=8, prefix="k = ")
        self.umap_button = QPushButton("Compute UMAP")
        self.umap_button.clicked.connect(self.compute_umap)
        self.auto_umap = QCheckBox("automatically", checked=True)
        self.auto_umap.setToolTip("UMAP whenever new latents come (the PCA is shown meanwhile)")
        self.follow_every = QSpinBox(minimum=1, maximum=1000, value=2, suffix=" epochs")
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
            b.setMinimumWidth(40)
            self.tool_group.addButton(b, i)
            tools.addWidget(b)
        self.tool_group.idClicked.connect(lambda i: self.scatter.set_tool(TOOLS[i]))
        self.pick_mode = _narrow(QComboBox())
        self.pick_mode.addItems(["replace", "add", "subtract"])
        self.pick_mode.setToolTip("How a new pick combines with the selection")
        self.pick_mode.currentTextChanged.connect(lambda m: setattr(self.scatter, "mode", m))
        tools.addWidget(self.pick_mode)

        self.count_label = QLabel("0 selected")
        decode_sel = QPushButton("Decode selection")
        decode_sel.setToolTip("One volume for the selected images (core.decode.decode_selection)")
        decode_sel.clicked.connect(self.decode_selection)
        reset_view = QPushButton("Reset view")
        reset_view.setToolTip("Fit the plot to the points (done on each update unless you zoomed or panned)")
        reset_view.clicked.connect(self.scatter.reset_view)
        sel_row = QHBoxLayout()
        sel_row.addWidget(self.count_label, 1)
        sel_row.addWidget(decode_sel)
        sel_row.addWidget(reset_view)

        view_page = QWidget()
        axes = QGridLayout(view_page)
        axes.addWidget(QLabel("x"), 0, 0)
        axes.addWidget(self.x_axis, 0, 1)
        axes.addWidget(QLabel("y"), 0, 2)
        axes.addWidget(self.y_axis, 0, 3)
        axes.addWidget(QLabel("colour"), 1, 0)
        axes.addWidget(self.color_by, 1, 1)
        axes.addWidget(self.k_spin, 1, 2, 1, 2)
        axes.addWidget(self.umap_button, 2, 0, 1, 2)
        axes.addWidget(self.auto_umap, 2, 2, 1, 2)
        axes.addWidget(QLabel("training: refresh every"), 3, 0, 1, 2)
        axes.addWidget(self.follow_every, 3, 2, 1, 2)
        axes.setColumnStretch(1, 1)
        axes.setColumnStretch(3, 1)

        select_page = QWidget()
        select = QGridLayout(select_page)
        for i, (text, slot) in enumerate((("Invert", self.invert_selection), ("Clear", self.clear_selection),
                                          ("Load indices.pkl…", self._choose_indices))):
            b = QPushButton(text)
            b.clicked.connect(slot)
            select.addWidget(b, 0, i, 1, 2 if i == 2 else 1)
        whole = QPushButton("Whole class")
        whole.setToolTip("Select every image of the class (or cluster, or label: as the points are coloured) "
                         "that most of the selected images belong to: click a point, then this, then Decode "
                         "selection")
        whole.clicked.connect(self.select_group)
        select.addWidget(whole, 3, 0, 1, 2)
        self.range_covariate = _narrow(QComboBox())
        self.range_lo = QDoubleSpinBox(decimals=3, minimum=-1e12, maximum=1e12)
        self.range_hi = QDoubleSpinBox(decimals=3, minimum=-1e12, maximum=1e12)
        self.range_covariate.currentTextChanged.connect(self._range_defaults)
        range_button = QPushButton("Select range")
        range_button.clicked.connect(lambda: self.select_range(self.range_covariate.currentText(),
                                                               self.range_lo.value(), self.range_hi.value()))
        select.addWidget(self.range_covariate, 1, 0, 1, 2)
        select.addWidget(range_button, 1, 2, 1, 2)
        select.addWidget(self.range_lo, 2, 0, 1, 2)
        select.addWidget(QLabel("to"), 2, 2)
        select.addWidget(self.range_hi, 2, 3)

        decode_page = QWidget()
        grid = QGridLayout(decode_page)
        self.decode_on_click = QCheckBox("Decode on click", checked=True)
        self.layer_mode = QComboBox()
        self.layer_mode.addItems(["replace layers", "add layers"])
        self.rendering = QComboBox()
        self.rendering.addItems(list(RENDERINGS))
        grid.addWidget(self.decode_on_click, 0, 0)
        grid.addWidget(self.layer_mode, 0, 1)
        grid.addWidget(QLabel("rendering"), 1, 0)
        grid.addWidget(self.rendering, 1, 1)

        self.placement = Placement(self.viewer, apix=lambda: self.run.apix,
                                   replace=lambda: self.layer_mode.currentText() == "replace layers",
                                   rendering=self.rendering.currentText)
        self.rendering.currentTextChanged.connect(self.placement.set_rendering)
        self.decoder = Decoder(self.jobs, self.placement, source=lambda: (self.run, self.dataset),
                               true_map=self._true_map_path, prepare=self.decode_on_click.isChecked,
                               say=self.status.setText)
        self.export_box = ExportBox(self.jobs, volumes=self.placement.volumes, selection=lambda: self.selection,
                                    n=lambda: self.n, arrays=self._arrays, star=lambda: run_data.source_star(self.run),
                                    dataset=lambda: self.dataset, say=self.status.setText)

        #: the controls under the plot, one page each, so that the plot keeps most of a short dock's height
        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        for page, title in ((view_page, "View"), (select_page, "Select"), (decode_page, "Decode"),
                            (self.export_box, "Export")):
            page.layout().setContentsMargins(4, 4, 4, 4)
            self.pages.addTab(page, title)
        self.pages.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

        layout = scrolling_layout(self)
        top = QHBoxLayout()
        top.addWidget(self.run_label, 1)
        top.addWidget(open_run)
        layout.addLayout(top)
        layout.addWidget(self.scatter, 1)
        layout.addLayout(tools)
        layout.addLayout(sel_row)
        layout.addWidget(self.pages)
        layout.addWidget(self.status)

        self.scatter.selection_changed.connect(self._selection_changed)
        self.scatter.point_clicked.connect(self._point_clicked)
        self.scatter.point_hovered.connect(self._point_hovered)
        self._update_controls()

    @property
    def busy(self) -> bool:
        """True while a worker (latents, UMAP, k-means, decoding) runs, decoded layers are being added or
        the layer for the next click is still to be made."""
        return self.jobs.busy or self.decoder.busy

    # --- data -----------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return self.data.n

    def set_latents(self, latents: np.ndarray, *, labels: np.ndarray | None = None,
                    covariates: dict[str, np.ndarray] | None = None, pcs: np.ndarray | None = None,
                    embedding: np.ndarray | None = None, clusters: np.ndarray | None = None,
                    classes: np.ndarray | None = None) -> None:
        """Explore ``latents`` (N, d): PCA (core.analysis.pca unless ``pcs`` given) at once — in the helper
        process (:mod:`.helper_process`) when the array is large — then UMAP there (unless ``embedding``
        given or automatic UMAP is off). A previous embedding of the same N warm-starts the new UMAP.
        ``labels`` (N,) int, ``classes`` (N,) int (an analysis's refined classes) and ``covariates`` name -> (N,)
        values colour the points. They replace the
        points of a first epoch in training (:meth:`training_latents`)."""
        latents = np.asarray(latents, dtype=np.float32)
        self._end_live()
        self._latents_generation += 1
        generation = self._latents_generation

        def show(pcs_: np.ndarray) -> None:
            if generation == self._latents_generation:
                self._show_latents(latents, np.asarray(pcs_, np.float32), labels, covariates, embedding, clusters,
                                   classes=classes)

        if pcs is not None or latents.size <= _SYNC_PCA_ENTRIES:
            show(pcs if pcs is not None else _pca(latents))
        else:
            self.jobs.start(helper_process.call_analysis, "pca", latents, n_components=_N_PCS, on_done=show,
                            what=f"PCA of {latents.shape} latents")

    def _show_latents(self, latents, pcs, labels, covariates, embedding, clusters, preview: bool = False,
                      classes: np.ndarray | None = None) -> None:
        """Draw ``latents`` (N, d) by their ``pcs`` (N, k); with ``preview``, those of a first epoch in
        training (NaN rows: images not trained on yet), drawn without UMAP or k-means."""
        data = self.data
        same_images = data.n == len(latents)   # new latents of the same images (training went on): same axes
        if not same_images or embedding is not None:
            self._umap_generation += 1   # a UMAP still running is of other images, or superseded
        previous = data.embedding if data.embedding is not None and same_images else None
        self.previewing = preview
        data.latents = latents
        data.pcs = pcs if pcs.shape[1] > 1 else np.concatenate([pcs, np.zeros_like(pcs)], axis=1)
        refresh_umap = not preview and embedding is None and self.auto_umap.isChecked() and len(latents) >= 4
        # while a warm-started UMAP of new latents computes, the previous layout stays on screen
        data.embedding = (np.asarray(embedding, np.float32) if embedding is not None
                          else previous if refresh_umap else None)
        data.clusters = None if clusters is None else np.asarray(clusters)
        data.classes = None if classes is None else np.asarray(classes)
        if labels is not None:
            data.labels = np.asarray(labels)
        elif data.labels is not None and len(data.labels) != len(latents):
            data.labels = None
        if covariates is not None:
            data.covariates = {k: np.asarray(v) for k, v in covariates.items()}
        self._update_controls(keep_axes=same_images)
        # the same images: keep the user's zoom, if any; else (or a new run's) fit the view to the new points
        self._redraw_points(reset_view=None if same_images and not self._new_run else True)
        if self._new_run:
            self._new_run = False
            self.first_points.emit()
        if refresh_umap:
            self.compute_umap(init=previous)

    def compute_umap(self, init: np.ndarray | None = None) -> None:
        """UMAP of the principal components (core.analysis.umap_embedding) in a worker; ``init`` (N, 2)
        warm-starts it (the previous embedding while training). While one runs, a new one waits for it
        and starts from its result with the newest principal components: the first UMAP of a session
        compiles for tens of seconds, and meanwhile the PCA of each new latents is drawn."""
        if self.previewing:
            self.status.setText("UMAP comes with the latents of every image, at the first epoch's end.")
            return
        if self.n < 4:
            return
        if self._umap_running:
            self._umap_wanted = True
            return
        self._umap_running, self._umap_wanted = True, False
        generation = self._umap_generation
        init = self.data.embedding if init is None and self.data.embedding is not None else init

        def ended() -> None:
            self._umap_running = False
            if self._umap_wanted:
                self.compute_umap()

        def done(embedding):
            # of older latents of the same images, it is still their layout (and the next one's start)
            if generation == self._umap_generation and len(embedding) == self.n:
                first = self.data.embedding is None
                self.data.embedding = embedding
                self._update_controls(keep_axes=not first)
                self._redraw_points(reset_view=True if first else None)
            ended()

        self.jobs.start(helper_process.call_analysis, "umap_embedding", self.data.pcs, init=init, on_done=done,
                        on_failed=ended, what="UMAP (the first one compiles for ~30 s; PCA meanwhile)")

    def _recluster(self) -> None:
        """k-means of the principal components (core.analysis.kmeans) in a worker, then recolour (not of a
        first epoch's points: k-means comes with every image's latents)."""
        if self.n < 2 or self.previewing:
            return
        k = min(self.k_spin.value(), self.n)

        def done(clusters):
            if len(clusters) == self.n:
                self.data.clusters = clusters
                self._recolor()

        self.jobs.start(helper_process.call_analysis, "kmeans", self.data.pcs, k, on_done=done,
                        what=f"k-means (k={k})")

    def _open(self, path) -> None:
        """Make the run at ``path`` the explorer's: its dataset and covariates."""
        from napari_cryohype.core.run import Run

        self._end_live()
        self.run = Run.open(path)
        self.dataset = self.run.dataset()
        self.data.covariates = run_data.covariates(self.dataset)
        self._new_run = True

    def load_run(self, path) -> None:
        """Open a run folder: its analysis/*.npy when present, else compute the latents in a worker.
        Labels (labels.npy) and true maps (volumes/) are found beside the run's particle stack."""
        self._open(path)
        self.data.embedding, self.data.clusters = None, None
        self.preload_model()
        self.run_label.setText(f"Run: {self.run.path}  ·  {len(self.dataset)} images, D={self.run.D}, "
                               f"{self.run.apix:g} Å/px")
        arrays = run_data.analysis_arrays(self.run)
        if arrays is None:
            self.refresh_latents()
            return
        for array, covariate in run_data.ANALYSIS_COVARIATES:
            if arrays[array] is not None:
                self.data.covariates[covariate] = arrays[array]
        self.set_latents(arrays["latents"], labels=self._labels(len(arrays["latents"])), pcs=arrays["pca"],
                         embedding=arrays["umap"], clusters=arrays["kmeans"], classes=arrays["classes"])

    def preload_model(self) -> None:
        """Load the run's model for decoding in a worker now; the layer the first click fills is made once
        no worker runs (:meth:`.decoding.Decoder.preload`)."""
        self.decoder.preload(self.run)

    def refresh_latents(self) -> None:
        """Recompute every image's latent from the run's last checkpoint (core.latents) in a worker."""
        if self.run is None:
            return
        self._latents_running = True

        def shown(result):
            self._latents_running = False
            z, losses = result
            self.set_latents(z, labels=self._labels(len(z)), covariates={**self.data.covariates, run_data.LOSS: losses})

        def failed() -> None:
            self._latents_running = False

        self.jobs.start(helper_process.call_in_helper, helper_process.LATENTS, "latents_and_losses",
                        str(self.run.path), on_done=shown, on_failed=failed, what="Computing latents")

    def follow_training(self, run_path) -> None:
        """Attach to a run being trained (the Train widget calls this): the first epoch's points come from
        :meth:`training_latents`, then every image's at :meth:`training_epoch`."""
        self._open(run_path)
        self._umap_generation += 1   # a UMAP still running is of another run's latents
        self.data.embedding, self.data.clusters = None, None
        self._epochs_seen = self._live_refreshes = 0
        self._live = LivePoints(len(self.dataset))
        self._live_labels = self._labels(len(self.dataset))
        self.run_label.setText(f"Training: {self.run.path}  ·  {len(self.dataset)} images")

    def training_latents(self, indices: np.ndarray, latents: np.ndarray) -> None:
        """A training step's batch: dataset ``indices`` (B,) and the latents (B, d) the step computed
        (the Train widget calls this during the first epoch). The images trained on so far are drawn by
        principal axes fitted on them, at most every :data:`LIVE_INTERVAL_S` (or :data:`LIVE_COST_FACTOR`
        times the CPU time the last drawing took: not its wall time, which a busy machine stretches), until
        every image's latents come at the first epoch's end."""
        if self._live is None:
            return
        self._live.add(indices, latents)
        if not self._live_timer.isActive():
            self._live_timer.start(max(0, round(1000 * (self._live_due - time.monotonic()))))

    def _draw_live(self) -> None:
        live = self._live
        if live is None or live.count < 2:
            return
        start = time.thread_time()
        self._show_latents(live.latents, live.principal_components(_N_PCS), self._live_labels, None, None, None,
                           preview=True)
        took = time.thread_time() - start
        self._live_due = time.monotonic() + max(LIVE_INTERVAL_S, LIVE_COST_FACTOR * took)

    def _end_live(self) -> None:
        """No more training-step latents: every image's latents replace them (or another run is shown)."""
        self._live, self._live_labels = None, None
        self._live_timer.stop()

    def training_epoch(self, epoch: int) -> None:
        """Called after each finished epoch: the latents at the first (unless asked for already), then
        every ``follow_every`` epochs."""
        self._epochs_seen += 1
        if not self._live_refreshes or self._epochs_seen % self.follow_every.value() == 0:
            self._refresh_live()

    def _refresh_live(self) -> None:
        """Refresh the latents of the run being trained, unless the previous refresh still runs."""
        if not self._latents_running:
            self._live_refreshes += 1
            self.refresh_latents()

    def _labels(self, n: int) -> np.ndarray | None:
        return run_data.labels_beside(run_data.data_folder(self.run), n)

    def _true_map_path(self, index: int):
        labels = self.data.labels
        return run_data.true_map_path(run_data.data_folder(self.run) if self.run is not None else None,
                                      None if labels is None else labels[index])

    # --- drawing --------------------------------------------------------------------------------
    def axis_values(self, name: str) -> np.ndarray:
        """The (N,) coordinate called ``name`` (UMAP1/2, PC1.., a covariate)."""
        return self.data.values(name)

    def _update_controls(self, keep_axes: bool = False) -> None:
        data = self.data
        names = data.axis_names()
        old = (self.x_axis.currentText(), self.y_axis.currentText())
        default = ("UMAP1", "UMAP2") if data.embedding is not None else ("PC1", "PC2")
        for combo, prev, dflt in ((self.x_axis, old[0], default[0]), (self.y_axis, old[1], default[1])):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            combo.setCurrentText(prev if keep_axes and prev in names else dflt)
            combo.blockSignals(False)
        old_color = self.color_by.currentText()
        options = (["none"] + (["classes"] if data.classes is not None else []) + ["k-means"]
                   + (["true label"] if data.labels is not None else []) + list(data.covariates))
        self.color_by.blockSignals(True)
        self.color_by.clear()
        self.color_by.addItems(options)
        default_color = ("true label" if data.labels is not None else "classes" if data.classes is not None
                         else "k-means" if data.clusters is not None else "none")
        self.color_by.setCurrentText(old_color if old_color in options and old_color != "none" else default_color)
        self.color_by.blockSignals(False)
        self.range_covariate.blockSignals(True)
        self.range_covariate.clear()
        self.range_covariate.addItems(list(data.covariates) + [n for n in names if n not in data.covariates])
        self.range_covariate.blockSignals(False)
        self._range_defaults(self.range_covariate.currentText())

    def _redraw_points(self, *_, reset_view: bool = True) -> None:
        if self.n == 0 or not self.x_axis.currentText() or not self.y_axis.currentText():
            return
        xname, yname = self.x_axis.currentText(), self.y_axis.currentText()
        xy = np.stack([self.data.values(xname), self.data.values(yname)], axis=1)
        by = self.color_by.currentText()
        self.scatter.set_data(xy, colors.point_colors(self.data, by), reset_view=reset_view)
        self.scatter.set_labels(xname, yname)
        self.scatter.set_legend(colors.legend(self.data, by))
        self._selection_changed(self.scatter.selection)
        if by == "k-means" and self.data.clusters is None:
            self._recluster()

    def _recolor(self, *_) -> None:
        if self.n == 0:
            return
        by = self.color_by.currentText()
        if by == "k-means" and self.data.clusters is None:
            self._recluster()
        self.scatter.set_colors(colors.point_colors(self.data, by))
        self.scatter.set_legend(colors.legend(self.data, by))

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

    def select_group(self) -> np.ndarray:
        """Select every image of the category (class, k-means cluster or true label, as the points are
        coloured) that most of the selected images belong to; nothing changes without a selection or a
        categorical colouring. Returns the new selection."""
        cats = colors.categories(self.data, self.color_by.currentText())
        if cats is None or len(self.selection) == 0:
            return self.selection
        values, counts = np.unique(cats[self.selection], return_counts=True)
        self.scatter.set_selection(np.flatnonzero(cats == values[np.argmax(counts)]))
        return self.selection

    def select_range(self, name: str, lo: float, hi: float) -> np.ndarray:
        """Pick the images whose covariate (or axis) ``name`` lies in [lo, hi]; combined per the pick mode."""
        values = self.data.values(name)
        picked = np.flatnonzero((values >= lo) & (values <= hi))
        self.scatter.pick(picked)
        return picked

    def _range_defaults(self, name: str) -> None:
        if not name or self.n == 0:
            return
        values = self.data.values(name)
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
        if self.data.labels is not None:
            parts.append(f"label {self.data.labels[index]}")
        if self.data.classes is not None:
            parts.append(f"class {self.data.classes[index]}")
        if self.data.clusters is not None:
            parts.append(f"cluster {self.data.clusters[index]}")
        self.status.setText(" · ".join(parts))

    # --- decoding and export (:mod:`.decoding`, :mod:`.export_box`) ---------------------------------
    def _point_clicked(self, index: int) -> None:
        self.scatter.show_focus(index)
        if self.decode_on_click.isChecked():
            self.decode_index(index)

    def decode_index(self, index: int) -> None:
        """Decode image ``index`` into a 3D layer beside its particle image and projection."""
        if self.run is not None and not self.run.has_checkpoint:
            self.status.setText("Decoding needs the run's first checkpoint: it is written at the first epoch's end.")
            return
        self.decoder.decode_index(index)

    def decode_selection(self) -> None:
        """One volume for the selected images, as a 3D layer."""
        self.decoder.decode_selection(self.selection)

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {"latents": self.data.latents, "pca": self.data.pcs, "selection": self.selection}
        if self.data.embedding is not None:
            arrays["umap"] = self.data.embedding
        if self.data.clusters is not None:
            arrays["kmeans"] = self.data.clusters
        if self.data.classes is not None:
            arrays["classes"] = self.data.classes
        return arrays

    def save_volumes(self, folder) -> list:
        return self.export_box.save_volumes(folder)

    def save_indices(self, path) -> list:
        return self.export_box.save_indices(path)

    def save_star(self, path) -> list:
        return self.export_box.save_star(path)

    def save_arrays(self, folder) -> list:
        return self.export_box.save_arrays(folder)

    # --- dialogs --------------------------------------------------------------------------------
    def _choose_run(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a CryoHype run folder")
        if path:
            self.jobs.guard("Opening the run", lambda: self.load_run(path))

    def _choose_indices(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load indices.pkl", filter="Pickle (*.pkl)")
        if path:
            self.jobs.guard("Loading indices", lambda: self.load_indices(path))


def _narrow(combo: QComboBox) -> QComboBox:
    """A combo box whose width follows the dock's, not its longest entry (covariate names are long)."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(5)
    return combo


def _pca(latents: np.ndarray) -> np.ndarray:
    """Up to _N_PCS principal components (core.analysis.pca), on the calling thread."""
    from napari_cryohype.core.analysis import pca

    return pca(latents, n_components=_N_PCS)
