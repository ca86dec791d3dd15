"""Helper processes for the Latent Explorer's computations (latents, PCA, k-means; UMAP).

A thread worker keeps the UI thread free only while the work releases Python's GIL. UMAP's numba
compilation, scikit-learn's input checks, unpickling a checkpoint and the imports they trigger hold it for
hundreds of milliseconds at a time, and then the viewer freezes although the work is "in the background".
So the explorer's workers hand these calls to long-lived processes (started on first use, shared by every
explorer, ended at exit) and wait for the answer with the GIL released. Two of them: UMAP in one of its
own (:data:`UMAP_CALLS`), everything else in the other. numba compiles UMAP once per process, ~20-40 s:
in one shared process the first latents of a training run waited behind that compile (the live map's
first points came at epoch 12 of 20); now they do not.

Ending napari ends the processes first (:func:`shutdown`, through :func:`.workers.end_at_exit`), so a
worker waiting on one is released at once instead of holding the exit until the compile is done.

The processes run :mod:`.helper_main` as a module of its own, not through ``multiprocessing``: its spawn
and forkserver methods re-run the script that started napari, and a script without an ``if __name__ ==
"__main__":`` guard then opened a second viewer in the helper, which never answered.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading

from napari_cryohype.widgets.workers import BACKGROUND_NICE, end_at_exit

ANALYSIS = "napari_cryohype.core.analysis"
LATENTS = "napari_cryohype.core.latents"
#: the calls (module, function) that run in the UMAP process; every other call runs in the main helper
UMAP_CALLS = {(ANALYSIS, "umap_embedding"), (ANALYSIS, "compile_umap")}
#: nice levels added to each helper process: UMAP's (its compile is tens of seconds of a core) yields to
#: training and to the main helper's latents, so that the live map's first points do not wait for it
NICE = {"main": BACKGROUND_NICE, "umap": BACKGROUND_NICE + 5}
#: whether :func:`warm_up` also readies the heavy work: imports the latents' code (torch) in the main helper
#: and compiles UMAP in its own (the test suite turns it off: tens of seconds of a core for each process)
COMPILE_UMAP_AT_START = True


class HelperEnded(RuntimeError):
    """The helper process ended (shut down, killed, out of memory) before it answered."""


class _Helper:
    """One helper process, ``nice`` levels below this one, and the pipes to it; calls from several threads
    are answered one at a time."""

    def __init__(self, nice: int = BACKGROUND_NICE) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "napari_cryohype.widgets.helper_main", str(nice)],
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


MAIN, UMAP = "main", "umap"
_helpers: dict[str, _Helper] = {}   # MAIN / UMAP -> its running process
_lock = threading.Lock()


def _get_helper(which: str = MAIN) -> _Helper:
    with _lock:
        helper = _helpers.get(which)
        if helper is None or helper.ended:
            helper = _helpers[which] = _Helper(NICE[which])
        return helper


def helper_for(module: str, name: str | None) -> str:
    """Which process runs ``module.name``: :data:`UMAP` for :data:`UMAP_CALLS`, else :data:`MAIN`."""
    return UMAP if (module, name) in UMAP_CALLS else MAIN


def call_in_helper(module: str, name: str, *args, **kwargs):
    """``module.name(*args, **kwargs)`` (a :mod:`napari_cryohype.core` function) computed in the helper
    process; blocks the calling (worker) thread until it returns. A function replaced in this process (a
    test's stand-in) runs here instead. Raises :class:`HelperEnded` if the process ends first."""
    loaded = sys.modules.get(module)
    func = getattr(loaded, name, None) if loaded is not None else None
    if func is not None and getattr(func, "__module__", None) != module:
        return func(*args, **kwargs)
    return _get_helper(helper_for(module, name)).call(module, name, args, kwargs)


def call_analysis(name: str, *args, **kwargs):
    """``core.analysis.<name>(*args, **kwargs)`` in the helper process (see :func:`call_in_helper`)."""
    return call_in_helper(ANALYSIS, name, *args, **kwargs)


def warm_up() -> None:
    """Start the helper processes: import the analysis and the latents' code in the main one, then compile
    UMAP in its own (for a worker thread: starting a process holds the GIL for a moment, better when the
    explorer opens than in the middle of training; and numba's compile, 20-40 s, is then paid while the
    data load and the first epochs run, not when the first live UMAP is wanted)."""
    main = _get_helper(MAIN)
    main.call(ANALYSIS, None)
    if COMPILE_UMAP_AT_START:
        main.call(LATENTS, None)
        _get_helper(UMAP).call(ANALYSIS, "compile_umap")


def running() -> dict[str, _Helper]:
    """The helper processes started and not ended: :data:`MAIN` / :data:`UMAP` -> helper."""
    with _lock:
        return {which: helper for which, helper in _helpers.items() if not helper.ended}


def shutdown() -> None:
    """End the helper processes now, abandoning their work (a call waiting for one raises
    :class:`HelperEnded`): closing napari must not wait for a UMAP."""
    with _lock:
        helpers = list(_helpers.values())
        _helpers.clear()
    for helper in helpers:
        helper.end()


end_at_exit(shutdown)
