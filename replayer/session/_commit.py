"""Committing a recording: lines go to a temporary file beside the cassette, moved over it at the end.

Safe under pytest-xdist: a reader, such as another worker, sees the old file or the new one,
never half of one (`os.replace`); if two sessions record the same cassette at once, the last to
commit wins. Nothing is locked.
"""

from __future__ import annotations

import os
import secrets
import shutil
from contextvars import ContextVar
from pathlib import Path

from recorder import CassetteWriter, Interaction, load


class IdTrackingWriter(CassetteWriter):
    """A CassetteWriter that remembers, per task or thread, the id it handed out last."""

    def __init__(self, path: Path, *, append: bool) -> None:
        self.last_id: ContextVar[int | None] = ContextVar("last_id", default=None)
        super().__init__(path, append=append)

    def new_id(self) -> int:
        id = super().new_id()
        self.last_id.set(id)
        return id


class PendingCassette:
    """A recording in progress for `path`: a copy of the cassette continued when `continues`, else empty."""

    def __init__(self, path: Path, *, continues: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.file = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        """Where the lines are written until the recording is committed."""
        if continues:
            shutil.copyfile(path, self.file)
        self.writer = IdTrackingWriter(self.file, append=continues)
        self.recorded = 0
        """How many interactions this recording added."""
        self._continues = continues

    def take(self, id: int | None) -> Interaction:
        """The interaction recorded under `id`, read back from the file as a replay will read it."""
        interaction = next(i for i in load(self.file).interactions if i.id == id)
        self.recorded += 1
        return interaction

    def close(self, *, commit: bool) -> Path | None:
        """Move the recording over `path` with `commit` (unless it only continued and added nothing),
        else throw it away. Returns the path written, if any."""
        self.writer.close()
        if commit and (self.recorded or not self._continues):
            os.replace(self.file, self.path)
            return self.path
        self.file.unlink(missing_ok=True)
        return None
