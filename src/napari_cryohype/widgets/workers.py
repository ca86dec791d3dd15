"""Starting napari thread workers so that every failure reaches the widget.

superqt's worker treats a ``RuntimeError`` raised by the work as "the Qt object was deleted" and ends
silently, without ``errored`` or ``finished``; PyTorch raises ``RuntimeError`` (out of memory included)
for most failures. The jobs here re-raise those as :class:`WorkerError`.
"""

from __future__ import annotations

from typing import Callable, Iterator


class WorkerError(Exception):
    """A failure inside a worker job (the message is the original error's)."""


def _function_job(func: Callable, args: tuple, kwargs: dict):
    try:
        return func(*args, **kwargs)
    except RuntimeError as err:
        raise WorkerError(str(err)) from err


def _generator_job(func: Callable, args: tuple, kwargs: dict) -> Iterator:
    try:
        yield from func(*args, **kwargs)
    except RuntimeError as err:
        raise WorkerError(str(err)) from err


def start_worker(func: Callable, *args, on_done: Callable | None = None, on_yield: Callable | None = None,
                 on_error: Callable[[Exception], None], on_finished: Callable | None = None, **kwargs):
    """Run ``func(*args, **kwargs)`` in a napari thread worker (a generator function gives a generator
    worker: ``on_yield`` gets each item). Callbacks run on the UI thread. Returns the started worker."""
    import inspect

    from napari.qt.threading import create_worker

    job = _generator_job if inspect.isgeneratorfunction(func) else _function_job
    connect = {"returned": on_done, "yielded": on_yield, "errored": on_error, "finished": on_finished}
    # passing "errored" here keeps create_worker from also re-raising the error on the UI thread
    return create_worker(job, func, args, kwargs, _start_thread=True,
                         _connect={k: v for k, v in connect.items() if v is not None})
