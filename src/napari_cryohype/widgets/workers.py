"""Starting napari thread workers so that every failure reaches the widget, and running long jobs at a
lower CPU priority.

superqt's worker treats a ``RuntimeError`` raised by the work as "the Qt object was deleted" and ends
silently, without ``errored`` or ``finished``; PyTorch raises ``RuntimeError`` (out of memory included)
for most failures. The jobs here re-raise those as :class:`WorkerError`.

On a machine with few cores, training, the explorer's helper process and the window compete for the CPU;
at equal priority the window waits its turn for 100 ms and more. Training therefore runs on its own thread
at a lower priority (:func:`iterate_at_low_priority`): the window's rare, short work comes first, and
training loses nothing while the window is idle.

Closing napari while a worker runs (a widget's start-up imports, training) must not abort Python: at exit
the workers are asked to stop and awaited (:func:`_end_workers_at_exit`) before Python and Qt tear down.
What they may be waiting on (the helper processes) is ended first (:func:`end_at_exit`), so that closing
does not wait for a UMAP compile.
"""

from __future__ import annotations

import atexit
import os
import queue
import sys
import threading
from typing import Callable, Iterator

BACKGROUND_NICE = 5   # nice levels added to training and the helper process (Linux weight 1024 -> 335)
EXIT_WAIT_S = 60.0    # at interpreter exit, how long to wait for the workers started here to end
_STARTED: dict = {}   # worker -> how to ask it to stop, for each worker started here until it finishes
_END_FIRST: list[Callable[[], object]] = []   # called at exit before the workers are awaited


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


#: threads napari's worker pool may run at once. Its default is the number of cores: on a 2-core laptop a
#: training run and one latents job filled it, and a click's decoding waited for one of them to end. The
#: jobs mostly wait (on the helper process, on torch, which releases the GIL), so more threads than cores.
MIN_POOL_THREADS = 8


def start_worker(func: Callable, *args, on_done: Callable | None = None, on_yield: Callable | None = None,
                 on_error: Callable[[Exception], None], on_finished: Callable | None = None,
                 on_exit: Callable[[], object] | None = None, **kwargs):
    """Run ``func(*args, **kwargs)`` in a napari thread worker (a generator function gives a generator
    worker: ``on_yield`` gets each item). Callbacks run on the UI thread. ``on_exit`` asks the work to
    stop if Python exits while it runs (default: the worker's ``quit``). Returns the started worker."""
    import inspect

    from napari.qt.threading import create_worker
    from qtpy.QtCore import QThreadPool

    pool = QThreadPool.globalInstance()
    if pool.maxThreadCount() < MIN_POOL_THREADS:
        pool.setMaxThreadCount(MIN_POOL_THREADS)
    job = _generator_job if inspect.isgeneratorfunction(func) else _function_job
    connect = {"returned": on_done, "yielded": on_yield, "errored": on_error, "finished": on_finished}
    # passing "errored" here keeps create_worker from also re-raising the error on the UI thread
    worker = create_worker(job, func, args, kwargs, _start_thread=False,
                           _connect={k: v for k, v in connect.items() if v is not None})
    # registered before it starts: a worker that finishes at once is still taken off the list
    worker.finished.connect(lambda: _STARTED.pop(worker, None))
    _STARTED[worker] = on_exit or worker.quit
    worker.start()
    return worker


def end_at_exit(end: Callable[[], object]) -> None:
    """Call ``end()`` at exit before the workers are awaited: for work a worker waits on (a helper
    process), so that the worker is released at once rather than when that work is done."""
    _END_FIRST.append(end)


@atexit.register
def _end_workers_at_exit() -> None:
    """End what :func:`end_at_exit` names, then ask the workers still running to stop and wait for them
    (up to EXIT_WAIT_S): a worker that ends while Python and Qt tear down emits its signals from deleted
    objects, and the process aborts. Registered after napari's own exit handler, so it runs before it."""
    for end in _END_FIRST:
        end()
    if not _STARTED:
        return
    from qtpy.QtCore import QThreadPool

    for stop in list(_STARTED.values()):
        try:
            stop()
        except Exception:  # a worker's object may already be gone: nothing to stop
            pass
    QThreadPool.globalInstance().waitForDone(int(EXIT_WAIT_S * 1000))


def lower_priority(increment: int = BACKGROUND_NICE, *, whole_process: bool = False) -> None:
    """Lower the CPU priority by ``increment`` nice levels (``os.nice``). On Linux a nice level belongs to
    a thread: this lowers the calling thread, and threads it starts later inherit it. Elsewhere ``os.nice``
    lowers the whole process, so it is done only when ``whole_process`` asks for that (a helper process).
    Where the system has no nice levels or refuses, nothing changes."""
    if hasattr(os, "nice") and (whole_process or sys.platform.startswith("linux")):
        try:
            os.nice(increment)
        except OSError:
            pass


_END = object()


def iterate_at_low_priority(func: Callable[..., Iterator], *args, nice: int = BACKGROUND_NICE) -> Iterator:
    """Yield the items of the generator ``func(*args)``, computed on a dedicated thread whose priority is
    lowered by ``nice`` (:func:`lower_priority`; the thread ends with the generator, so no pooled thread
    keeps the lower priority). Its exceptions are raised here. Closing this generator closes ``func``'s
    once the item in progress is done."""
    items: queue.SimpleQueue = queue.SimpleQueue()
    closed = threading.Event()

    def produce() -> None:
        lower_priority(nice)
        gen = func(*args)
        try:
            for item in gen:
                if closed.is_set():
                    break
                items.put(item)
            else:
                items.put(_END)
        except BaseException as err:  # handed to the consumer, which raises it
            items.put(err)
        finally:
            gen.close()

    thread = threading.Thread(target=produce, name=f"low-priority {getattr(func, '__name__', 'job')}",
                              daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        closed.set()
