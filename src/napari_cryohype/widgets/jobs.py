"""The Latent Explorer's background jobs: napari thread workers, the status line naming those still running,
and UI work kept until none runs (and no mouse button is down)."""

from __future__ import annotations

from typing import Callable

from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QApplication, QLabel

from napari_cryohype.widgets.messages import failure_text
from napari_cryohype.widgets.workers import start_worker


class Jobs:
    """Runs jobs in napari thread workers and says on ``status`` what every running one does."""

    def __init__(self, status: QLabel):
        self.status = status
        self.workers: dict = {}                          # running worker -> what it does, in starting order
        self.when_idle: list[Callable[[], object]] = []  # UI work for when no worker runs

    @property
    def busy(self) -> bool:
        """True while a worker runs or UI work waits for them to end."""
        return bool(self.workers or self.when_idle)

    def start(self, func: Callable, *args, on_done: Callable, what: str,
              on_failed: Callable[[], object] | None = None, **kwargs) -> None:
        """Run ``func(*args, **kwargs)`` in a napari thread worker; ``on_done(result)`` on the UI thread, or
        a notification and ``on_failed()`` if it raised."""
        holder = []

        def finished() -> None:
            self.workers.pop(holder[0], None)
            self._show_busy()
            if not self.workers and self.when_idle:
                QTimer.singleShot(1, self._run_when_idle)  # after what this worker's end has drawn

        def failed(err: Exception) -> None:
            self.error(what, err)
            if on_failed is not None:
                on_failed()

        worker = start_worker(func, *args, on_done=on_done, on_error=failed, on_finished=finished, **kwargs)
        holder.append(worker)
        self.workers[worker] = what
        self._show_busy(started=True)

    def _run_when_idle(self) -> None:
        """The queued idle work, unless a worker runs again; not in the middle of a drag (a lasso, a pan):
        retried when the mouse buttons are up."""
        if QApplication.mouseButtons() != Qt.MouseButton.NoButton:
            QTimer.singleShot(200, self._run_when_idle)
            return
        while not self.workers and self.when_idle:
            self.when_idle.pop(0)()

    def _show_busy(self, started: bool = False) -> None:
        """Status line: what every running worker does (``what…``, the longest-running first), when one
        starts and when one ends; cleared when the last ends. A line saying why one failed stays until
        another starts."""
        if started or self.status.text().endswith("…"):
            self.status.setText(" · ".join(f"{what}…" for what in self.workers.values()))

    def error(self, what: str, err: Exception) -> None:
        """A napari notification that ``what`` failed and why, repeated on the status line."""
        from napari.utils.notifications import show_error

        show_error(failure_text(what, err))
        self.status.setText(f"{what} failed: {err}")

    def guard(self, what: str, action: Callable) -> None:
        """Run a UI action; a bad file or setting becomes a napari notification, not a traceback."""
        from napari_cryohype.core.errors import InputError

        try:
            action()
        except (InputError, OSError, ValueError) as err:
            self.error(what, err)
