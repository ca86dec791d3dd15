"""A helper process for the Latent Explorer's computations (latents, PCA, UMAP, k-means).

A thread worker keeps the UI thread free only while the work releases Python's GIL. UMAP's numba
compilation, scikit-learn's input checks, unpickling a checkpoint and the imports they trigger hold it for
hundreds of milliseconds at a time, and then the viewer freezes although the work is "in the background".
So the explorer's workers hand these calls to one long-lived process (spawned on first use, shared by every
explorer, ended at exit) and wait for the answer with the GIL released. numba compiles once per process:
the first UMAP of a session pays ~40 s, the next ones do not.
"""

from __future__ import annotations

import atexit
import importlib
import multiprocessing
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from napari_cryohype.widgets.workers import BACKGROUND_NICE, lower_priority

ANALYSIS = "napari_cryohype.core.analysis"

_executor: ProcessPoolExecutor | None = None
_lock = threading.Lock()


def _call(module: str, name: str, args: tuple, kwargs: dict):
    return getattr(importlib.import_module(module), name)(*args, **kwargs)


def _import(module: str) -> None:
    importlib.import_module(module)  # a module cannot travel back: return nothing


def _lower_priority() -> None:
    """The helper's work is background work, like training (:mod:`.workers`): the window comes first."""
    lower_priority(BACKGROUND_NICE, whole_process=True)


def _get_executor() -> ProcessPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_lower_priority)
        return _executor


def call_in_helper(module: str, name: str, *args, **kwargs):
    """``module.name(*args, **kwargs)`` (a :mod:`napari_cryohype.core` function) computed in the helper
    process; blocks the calling (worker) thread until it returns. A function replaced in this process (a
    test's stand-in) runs here instead."""
    loaded = sys.modules.get(module)
    func = getattr(loaded, name, None) if loaded is not None else None
    if func is not None and getattr(func, "__module__", None) != module:
        return func(*args, **kwargs)
    try:
        return _get_executor().submit(_call, module, name, args, kwargs).result()
    except BrokenProcessPool as err:
        shutdown()  # the next call starts a fresh process
        raise RuntimeError(f"the helper process ended unexpectedly during {name} "
                           "(out of memory?); try again") from err


def call_analysis(name: str, *args, **kwargs):
    """``core.analysis.<name>(*args, **kwargs)`` in the helper process (see :func:`call_in_helper`)."""
    return call_in_helper(ANALYSIS, name, *args, **kwargs)


def warm_up() -> None:
    """Start the helper process and import the analysis there (for a worker thread: starting a process
    holds the GIL for a moment, better when the explorer opens than in the middle of training)."""
    _get_executor().submit(_import, ANALYSIS).result()


def shutdown() -> None:
    """End the helper process (if any) now, abandoning its work: closing napari must not wait for a UMAP."""
    global _executor
    with _lock:
        if _executor is not None:
            # ProcessPoolExecutor has no public "kill" before Python 3.14; its process table is stable
            for proc in list(getattr(_executor, "_processes", {}).values()):
                proc.terminate()
            _executor.shutdown(wait=False, cancel_futures=True)
            _executor = None


atexit.register(shutdown)
