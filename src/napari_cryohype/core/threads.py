"""How many CPU threads torch trains with: the ``threads`` setting of a run and the ``auto`` policy.

torch's default is one thread per core. When another process wants a core too (a second training, the
napari window of the Train widget), its threads wait for one another at every small operation and a step
slows down many times over (issue 19: 7-21 images/s instead of 72-84 on 2 cores with one busy process;
``benchmarks/studies/threads.py`` measures it). ``auto`` leaves one core free instead.
"""

from __future__ import annotations

import os

import torch

AUTO = "auto"


def usable_cores() -> int:
    """The CPU cores this process may run on (its CPU affinity where the system has one, else
    ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # (macOS, Windows)
        return os.cpu_count() or 1


#: torch's own number of threads (one per physical core, or ``OMP_NUM_THREADS``), read when this module is
#: first imported, before a Trainer sets them (``core.train`` imports it)
TORCH_DEFAULT = torch.get_num_threads()


def auto_threads(cores: int | None = None, default: int | None = None) -> int:
    """The ``auto`` number of threads: one core left to the window and other processes, never more than
    torch's default, at least 1 (2 cores: 1; 8 cores: 7, or fewer where torch's default is lower).
    ``cores`` and ``default`` default to :func:`usable_cores` and :data:`TORCH_DEFAULT`."""
    cores = usable_cores() if cores is None else cores
    default = TORCH_DEFAULT if default is None else default
    return max(1, min(cores - 1, default))


def check_threads(value) -> None:
    """Raise ValueError unless ``value`` is a valid ``threads`` setting: "auto", 0 (torch's default) or a
    whole number of threads."""
    if value == AUTO:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"--threads must be 'auto' or a whole number of at least 0, got {value!r}")


def resolve_threads(value) -> int:
    """The number of torch threads the ``threads`` setting means: ``auto`` -> :func:`auto_threads`, 0 ->
    torch's default, N -> N."""
    check_threads(value)
    if value == AUTO:
        return auto_threads()
    return value or TORCH_DEFAULT


def threads_setting(text: str) -> int | str:
    """A ``--threads`` argument: "auto" or a whole number >= 0 (argparse ``type``)."""
    value = text.strip().lower()
    if value != AUTO:
        try:
            value = int(value)
        except ValueError:
            raise ValueError(f"not 'auto' or a whole number: {text!r}") from None
    check_threads(value)
    return value
