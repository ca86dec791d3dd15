"""What mrcfile finds unusual about a file, said once, in one line naming the file.

Files are opened in mrcfile's permissive mode, which reads MRC files that break the MRC 2014 standard (no
``MAP`` ID string in the header, as cryoDRGN's ``relion31.mrcs`` and the files of older programs; a machine
stamp that disagrees with the byte order) and warns about each problem, every time the file is opened —
and a stack's header is read more than once. :func:`unusual_mrc_said_once` catches those warnings and turns
them into one :class:`UnusualMrcFile` warning per file and process (the command line prints it as one line).
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import mrcfile


class UnusualMrcFile(UserWarning):
    """An MRC file was read although its header breaks the standard; the message names the file."""


#: mrcfile's words for a problem -> what they mean, in plain words
_PLAIN = {"Map ID string not found": "no 'MAP ' ID string (not MRC 2014; older programs write such files)"}
_MRCFILE = os.path.dirname(mrcfile.__file__)
_said: set[str] = set()


def _plain(message: str) -> str:
    return next((plain for words, plain in _PLAIN.items() if message.startswith(words)), message)


@contextmanager
def unusual_mrc_said_once(path: str | os.PathLike) -> Iterator[None]:
    """Run the body, which reads the MRC file ``path`` with mrcfile, with mrcfile's warnings caught. If the
    body succeeds, what they found is said once per file and process as one :class:`UnusualMrcFile`
    warning ("PATH: unusual MRC header, read anyway: ..."), and other warnings are passed on; if it fails,
    all are dropped (its error says enough)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    found = [w for w in caught if w.filename.startswith(_MRCFILE)]
    for w in caught:
        if w not in found:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    key = os.path.abspath(path)
    if found and key not in _said:
        _said.add(key)
        problems = "; ".join(dict.fromkeys(_plain(str(w.message)) for w in found))
        warnings.warn(UnusualMrcFile(f"{Path(path)}: unusual MRC header, read anyway: {problems}"), stacklevel=3)
