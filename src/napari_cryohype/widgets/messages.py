"""The text of a failure notification: what failed and why, the file named where a toast can show it.

napari's toast shows the first line of a notification, elided to about 200 pixels, until it is expanded;
a reason that starts with a long path was cut before the file's name. The first line therefore names
files by their name alone; the full reason, paths included, follows on the next line.
"""

from __future__ import annotations

import re

# the folder part of an absolute path (POSIX, ~ or a Windows drive), up to its last separator
_FOLDERS = re.compile(r"(?<![\w.])(?:~|[A-Za-z]:)?[/\\][^\s'\"]*[/\\]")


def failure_text(what: str, reason: object) -> str:
    """``"{what} failed: {reason}"`` with every path shortened to its file name on the first line, and
    the full reason on a second line when that shortened anything."""
    full = str(reason)
    short = _FOLDERS.sub("", full)
    first = f"{what} failed: {short}"
    return first if short == full else f"{first}\n{full}"
