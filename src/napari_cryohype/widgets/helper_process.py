"""A helper process for the Latent Explorer's computations (latents, PCA, UMAP, k-means).

A thread worker keeps the UI thread free only while the work releases Python's GIL. UMAP's numba
compilation, scikit-learn's input checks, unpickling a checkpoint and the imports they trigger hold it for
hundreds of milliseconds at a time, and then the viewer freezes although the work is "in the background".
So the explorer's workers hand these calls to one long-lived process (started on first use, shared by every
explorer, ended at exit) and wait for the answer with the GIL released. numba compiles once per process:
the first UMAP of a session pays ~40 s, the next ones do not.

The process runs :mod:`.helper_main` as a module of its own, not through ``multiprocessing``: its spawn
and forkserver methods re-run the script that started napari, and a script without an ``if __name__ ==
"__main__":`` guard then opened a second viewer in the helper, which never answered.
"""

from __future__ import annotations

import atexit
import pickle
import subprocess
import sys
import threading

ANALYSIS = "napari_cryohype.core.analysis"
#: whether :func:`warm_up` also compiles UMAP (the test suite turns it off: it costs a core for tens of seconds)
COMPILE_UMAP_AT_START = True


class HelperEnded(RuntimeError):
    """The helper process ended (shut down, killed, out of memory) before it answered."""


class _Helper:
    """One helper process and the pipes to it; calls from several threads are answered one at a time."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "napari_cryohype.widgets.helper_main"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.ended = False
        self._lock = threading.Lock()
        with self._lock:
            self._send(sys.path)

    def _send(self, message) -> None:
        pickle.dump(message, self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        self.process.stdin.flush()

    def call(self, module: str, name: str | None, args: tuple = (), kwargs: dict | None = None):
        """``module.name(*args, **kwargs)`` in the process (``name`` None: import ``module``)."""
        with self._lock:
            if self.ended:
                raise HelperEnded(f"the helper process was ended before {name or module} ran")
            try:
                self._send((module, name, args, kwargs or {}))
                ok, value = pickle.load(self.process.stdout)
            except (EOFError, OSError, pickle.UnpicklingError) as err:
                self.end()
                raise HelperEnded(f"the helper process ended during {name or module} (out of memory?); "
                                  "try again") from err
        if not ok:
            raise value
        return value

    def end(self) -> None:
        """End the process now, abandoning its work (a call waiting for it raises :class:`HelperEnded`)."""
        self.ended = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


_helper: _Helper | None = None
_lock = threading.Lock()


def _get_helper() -> _Helper:
    global _helper
    with _lock:
        if _helper is None or _helper.ended:
            _helper = _Helper()
        return _helper


def call_in_helper(module: str, name: str, *args, **kwargs):
    """``module.name(*args, **kwargs)`` (a :mod:`napari_cryohype.core` function) computed in the helper
    process; blocks the calling (worker) thread until it returns. A function replaced in this process (a
    test's stand-in) runs here instead. Raises :class:`HelperEnded` if the process ends first."""
    loaded = sys.modules.get(module)
    func = getattr(loaded, name, None) if loaded is not None else None
    if func is not None and getattr(func, "__module__", None) != module:
        return func(*args, **kwargs)
    return _get_helper().call(module, name, args, kwargs)


def call_analysis(name: str, *args, **kwargs):
    """``core.analysis.<name>(*args, **kwargs)`` in the helper process (see :func:`call_in_helper`)."""
    return call_in_helper(ANALYSIS, name, *args, **kwargs)


def warm_up() -> None:
    """Start the helper process, import the analysis there and compile UMAP (for a worker thread: starting a
    process holds the GIL for a moment, better when the explorer opens than in the middle of training; and
    numba's compile, ~40 s, is then paid while the data load and the first epoch runs, not when the first
    live UMAP is wanted)."""
    helper = _get_helper()
    helper.call(ANALYSIS, None)
    if COMPILE_UMAP_AT_START:
        helper.call(ANALYSIS, "compile_umap")


def shutdown() -> None:
    """End the helper process (if any) now, abandoning its work: closing napari must not wait for a UMAP."""
    global _helper
    with _lock:
        if _helper is not None:
            _helper.end()
            _helper = None


atexit.register(shutdown)
