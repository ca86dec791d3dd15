"""Errors the user can act on: each message names the file (when there is one) and the problem."""

from __future__ import annotations

from os import PathLike


class InputError(ValueError):
    """A user-supplied file or setting is missing, malformed or inconsistent."""

    def __init__(self, problem: str, path: str | PathLike | None = None):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")
