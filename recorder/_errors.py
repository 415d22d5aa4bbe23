"""Errors raised by the recorder.

    CassetteError (ValueError)
    ├── CassetteNotFoundError (+ FileNotFoundError)
    ├── CassetteVersionError
    ├── CassetteBusyError
    └── CassetteClosedError
"""

from __future__ import annotations

from os import PathLike


class CassetteError(ValueError):
    """A cassette could not be read or written: names the file, the line and what was expected."""

    def __init__(self, message: str, *, path: str | PathLike[str] | None = None, line: int | None = None) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        where = f"{self.path}:{line}: " if self.path and line else f"{self.path}: " if self.path else ""
        self.problem = message
        super().__init__(f"{where}{message}")


class CassetteNotFoundError(CassetteError, FileNotFoundError):
    """The cassette file does not exist."""


class CassetteVersionError(CassetteError):
    """The cassette was written in a format version this release does not read."""


class CassetteBusyError(CassetteError):
    """Another process is recording into this cassette; two processes never write one file."""


class CassetteClosedError(CassetteError):
    """A line was written to a CassetteWriter that its owner had closed; nothing is dropped silently."""
