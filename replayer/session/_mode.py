"""Record or replay: what a vcrpy record mode means for one cassette file.

    none          replay only; a missing cassette or an unmatched request is an error
    once          record everything when the file is missing, else replay only
    new_episodes  replay what matches, record the rest (appended to the cassette)
    all           record everything again
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vcr.record_mode import RecordMode

MODES: tuple[str, ...] = tuple(m.value for m in RecordMode if m is not RecordMode.ANY)
"""The record modes a session accepts: vcrpy's, less `any` (which vcrpy leaves undefined)."""


def record_mode(value: str | RecordMode) -> RecordMode:
    """The RecordMode named `value`; ValueError listing the valid ones otherwise."""
    try:
        mode = RecordMode(value)
    except ValueError:
        mode = None
    if mode is None or mode is RecordMode.ANY:
        raise ValueError(f"unknown record mode {value!r}; use one of {', '.join(MODES)}")
    return mode


@dataclass(frozen=True)
class Plan:
    """What a session does with its cassette file, given the record mode and whether the file exists."""

    mode: RecordMode
    exists: bool

    @classmethod
    def of(cls, path: str | os.PathLike[str], mode: str | RecordMode) -> Plan:
        """The plan for `path` (looked at now) under `mode`; ValueError for an unknown mode."""
        return cls(record_mode(mode), Path(path).is_file())

    @property
    def records(self) -> bool:
        """Whether requests the cassette lacks are recorded (else they raise NoMatchError)."""
        return self.mode in (RecordMode.ALL, RecordMode.NEW_EPISODES) or (
            self.mode is RecordMode.ONCE and not self.exists)

    @property
    def keeps(self) -> bool:
        """Whether the file's interactions are replayed (and, when recording, continued)."""
        return self.exists and self.mode is not RecordMode.ALL

    @property
    def possible(self) -> bool:
        """False when there is nothing to replay and nothing may be recorded."""
        return self.exists or self.records
