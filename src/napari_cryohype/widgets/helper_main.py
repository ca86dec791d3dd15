"""The helper process's side of :mod:`.helper_process`: read calls from stdin, answer on stdout.

Started as ``python -m napari_cryohype.widgets.helper_main NICE``, so it never imports the script that started
napari (``multiprocessing``'s spawn and forkserver re-run that script as ``__mp_main__``: a user's script
without an ``if __name__ == "__main__":`` guard opened a second viewer in the helper, which then never
answered). Each request is one pickle ``(module, name, args, kwargs)``: ``name`` None only imports the
module. Each reply is one pickle ``(True, result)`` or ``(False, exception)``. The loop ends when stdin
closes, so the helper also ends when napari does, however it ends.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import sys

from napari_cryohype.widgets.workers import BACKGROUND_NICE, lower_priority


def _answer(module: str, name: str | None, args: tuple, kwargs: dict) -> tuple[bool, object]:
    try:
        loaded = importlib.import_module(module)
        return True, None if name is None else getattr(loaded, name)(*args, **kwargs)
    except Exception as err:  # handed to the caller, which raises it
        return False, err


def _dumps(reply: tuple[bool, object]) -> bytes:
    try:
        return pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as err:  # an unpicklable result or exception: say what it was
        return pickle.dumps((False, RuntimeError(f"the helper's answer could not be sent back: {err!r}")))


def serve(nice: int = BACKGROUND_NICE) -> None:
    """Answer requests until stdin closes. Whatever the work prints goes to stderr, not into the replies;
    Ctrl+C in the terminal is the parent's to handle; the work runs ``nice`` levels lower in CPU priority
    (the window comes first, as for training: :mod:`.workers`)."""
    requests = sys.stdin.buffer
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lower_priority(nice, whole_process=True)
    sys.path[:] = pickle.load(requests)  # the first message: the parent's import path
    while True:
        try:
            request = pickle.load(requests)
        except EOFError:
            return
        replies.write(_dumps(_answer(*request)))
        replies.flush()


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else BACKGROUND_NICE)
