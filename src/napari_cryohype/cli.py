"""The ``cryohype`` command line: thin wrappers over :mod:`napari_cryohype.core`."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import warnings
from contextlib import contextmanager
from typing import Iterator

from napari_cryohype import __version__, commands
from napari_cryohype.core.errors import InputError
from napari_cryohype.core.io.mrc_warnings import UnusualMrcFile


def build_parser() -> argparse.ArgumentParser:
    """The ``cryohype`` parser with every subcommand found in :mod:`napari_cryohype.commands`."""
    parser = argparse.ArgumentParser(
        prog="cryohype",
        description="Reconstruct many structures at once from a mixed cryo-EM particle stack (CryoHype).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):  # shared helpers, not commands
            continue
        importlib.import_module(f"{commands.__name__}.{info.name}").add_parser(sub)
    return parser


@contextmanager
def _notes_as_lines(command: str) -> Iterator[None]:
    """Print what the core says about unusual files (:class:`UnusualMrcFile`, already once per file) as
    one line each, "cryohype COMMAND: note: ...", instead of Python's two-line warning; other warnings
    as before."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", UnusualMrcFile)
        show = warnings.showwarning

        def one_line(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, UnusualMrcFile):
                print(f"cryohype {command}: note: {message}", file=sys.stderr)
            else:
                show(message, category, filename, lineno, file, line)

        warnings.showwarning = one_line
        yield


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``cryohype``; returns the exit status (2 for bad input, 130 when interrupted)."""
    args = build_parser().parse_args(argv)
    try:
        with _notes_as_lines(args.command):
            return int(args.func(args) or 0)
    except InputError as err:
        print(f"cryohype {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cryohype {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
