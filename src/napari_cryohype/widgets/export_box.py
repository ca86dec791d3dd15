"""The Latent Explorer's Export page: decoded volumes (.mrc), the selection as cryoDRGN indices.pkl (and its
inverse) or as a subset .star, latents and embedding (.npy). Each button asks where, then writes through
:mod:`.export` (which asks before replacing a file)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from qtpy.QtWidgets import QFileDialog, QGridLayout, QPushButton, QWidget

from napari_cryohype.widgets import export
from napari_cryohype.widgets.jobs import Jobs


class ExportBox(QWidget):
    """Export buttons. ``volumes()``: name -> (volume, Å) of the decoded layers; ``selection()``: the selected
    image positions; ``n()``: the number of images; ``arrays()``: name -> array to save as .npy;
    ``star()``: the run's particle .star or None; ``dataset()``: the run's dataset or None; ``say(text)``: a
    status line."""

    def __init__(self, jobs: Jobs, *, volumes: Callable[[], dict], selection: Callable[[], np.ndarray],
                 n: Callable[[], int], arrays: Callable[[], dict], star: Callable[[], Path | None],
                 dataset: Callable[[], object], say: Callable[[str], None]):
        super().__init__()
        self.jobs = jobs
        self.volumes, self.selection, self.n, self.arrays, self.say = volumes, selection, n, arrays, say
        self.star, self.dataset = star, dataset
        grid = QGridLayout(self)
        for i, (text, slot) in enumerate((("Volumes (.mrc)…", self._choose_volumes_folder),
                                          ("indices.pkl + inverse…", self._choose_indices_out),
                                          ("Subset .star…", self._choose_star_out),
                                          ("Latents, embedding (.npy)…", self._choose_arrays_folder))):
            button = QPushButton(text)
            button.clicked.connect(slot)
            grid.addWidget(button, i // 2, i % 2)

    def save_volumes(self, folder) -> list[Path]:
        return self._report(export.export_volumes(self.volumes(), folder, self))

    def save_indices(self, path) -> list[Path]:
        return self._report(export.export_indices(self.selection(), self.n(), path, self))

    def save_star(self, path) -> list[Path]:
        """The selected images as a .star file: the rows of the run's own .star (every column kept), else
        written from the run's images, poses and CTF (.mrcs + .pkl, .cs, ...)."""
        src, dataset = self.star(), self.dataset()
        if dataset is None or len(self.selection()) == 0:
            self.say("Select images of a run first.")
            return []
        if src is not None:
            return self._report(export.export_star(self.selection(), src, path, self))
        return self._report(export.export_dataset_star(self.selection(), dataset, path, self))

    def save_arrays(self, folder) -> list[Path]:
        """The arrays of the points shown; none while some images have no latent yet (the first epoch's
        preview), rather than files with empty rows."""
        arrays = self.arrays()
        if np.isnan(arrays["latents"]).any():
            self.say("Some images have no latent yet (the first epoch's preview): export after the first epoch.")
            return []
        return self._report(export.export_arrays(arrays, folder, self))

    def _report(self, paths: list[Path]) -> list[Path]:
        self.say(f"Wrote {len(paths)} file(s): " + ", ".join(p.name for p in paths) if paths else "Nothing written.")
        return paths

    def _choose_volumes_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for the decoded volumes")
        if path:
            self.jobs.guard("Saving volumes", lambda: self.save_volumes(path))

    def _choose_indices_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save indices.pkl", "indices.pkl", "Pickle (*.pkl)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.jobs.guard("Saving indices", lambda: self.save_indices(path))

    def _choose_star_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save subset .star", "subset.star", "STAR (*.star)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.jobs.guard("Saving the .star subset", lambda: self.save_star(path))

    def _choose_arrays_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for latents and embedding")
        if path:
            self.jobs.guard("Saving arrays", lambda: self.save_arrays(path))
