"""The journal of a server's requests: what was asked, what answered it, how it ended; and its log line.

Bounded: the last `capacity` entries are kept, each with at most BODY_PREVIEW characters of
its request body (redacted) and MESSAGE_PREVIEW of its error message.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, TextIO

from recorder import Cassette, Interaction, Redactor

from .._sources import origin

CAPACITY = 1000
BODY_PREVIEW = 2000
MESSAGE_PREVIEW = 4000

Outcome = Literal["complete", "miss", "invalid_request", "replay_error", "broken", "disconnected"]
"""complete: the answer was sent in full (an error status or a truncation fault included);
miss: 404, nothing matched; invalid_request: 400, the body is not a JSON object; replay_error:
500, a fault could not fire; broken: the connection was cut on purpose (a drop, a connect-error
or timeout fault, shutdown); disconnected: the client went away first."""


@dataclass
class Entry:
    """One request to the server."""

    id: int
    session: str
    started: str
    method: str
    path: str
    headers: dict[str, str]
    body: str
    body_bytes: int
    matched: dict[str, Any] | None = None
    closest: dict[str, Any] | None = None
    status: int | None = None
    outcome: Outcome | None = None
    events: int = 0
    duration_ms: float = 0.0
    message: str | None = None
    _t0: float = field(default=0.0, repr=False)

    def answered(self, cassette: Cassette, interaction: Interaction | None, *, matched: bool) -> None:
        """Note the interaction that answered (or, for a miss, the closest one)."""
        if interaction is not None:
            path, id = origin(cassette, interaction)
            where = {"file": path, "interaction": id}
            if matched:
                self.matched = where
            else:
                self.closest = where

    def finish(self, status: int | None, outcome: Outcome, *, events: int = 0, message: str | None = None) -> None:
        self.status, self.outcome, self.events = status, outcome, events
        self.message = None if message is None else message[:MESSAGE_PREVIEW]
        self.duration_ms = round((time.monotonic() - self._t0) * 1000, 3)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["_t0"]
        request = {k: data.pop(k) for k in ("method", "path", "headers", "body", "body_bytes")}
        return {"id": data.pop("id"), "session": data.pop("session"), "started": data.pop("started"),
                "request": request, **data}

    def line(self) -> str:
        """`19:50:01.123 POST /v1/messages tool_use.jsonl:1 200 12 events 3.2 ms`, for the request log."""
        clock = self.started[11:23]
        session = "" if self.session == "default" else f" [{self.session}]"
        if self.matched is not None:
            what = _short(self.matched)
        elif self.outcome == "miss":
            what = f"MISS (closest {_short(self.closest)})" if self.closest else "MISS"
        else:
            what = "-"
        status = self.status if self.status is not None else "---"
        ending = "" if self.outcome in ("complete", "miss", None) else f" {self.outcome}"
        return (f"{clock} {self.method} {self.path}{session} {what} {status} {self.events} events "
                f"{self.duration_ms:.1f} ms{ending}")


def _short(where: dict[str, Any] | None) -> str:
    if where is None:
        return "-"
    return f"{Path(where['file']).name if where['file'] else 'cassette'}:{where['interaction']}"


class Journal:
    """The last `capacity` requests, and a log of each on `log` (None: silent)."""

    def __init__(self, *, capacity: int = CAPACITY, log: TextIO | None = None,
                 redactor: Redactor | None = None) -> None:
        self.entries: deque[Entry] = deque(maxlen=capacity)
        self.log = log
        self.redactor = redactor or Redactor.default()
        self.total = 0
        self._ids = itertools.count()
        self._lock = threading.Lock()

    def begin(self, session: str, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Entry:
        """A new entry for a request that has just arrived (added once finished)."""
        # Redacted before it is cut, so a key the cut splits is still recognised.
        text = self.redactor.text(body[: BODY_PREVIEW * 4 + 256].decode("utf-8", errors="replace"))[:BODY_PREVIEW]
        started = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return Entry(next(self._ids), session, started, method, path, self.redactor.headers_of(headers),
                     text, len(body), _t0=time.monotonic())

    def add(self, entry: Entry) -> None:
        with self._lock:
            self.entries.append(entry)
            self.total += 1
        if self.log is not None:
            try:
                print(entry.line(), file=self.log, flush=True)
            except (OSError, ValueError):  # the log went away (a closed pipe): serving goes on
                pass

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    def to_json(self, *, limit: int | None = None, session: str | None = None) -> dict[str, Any]:
        """WireMock's journal shape: `{"requests": [newest first], "meta": {"total": ...}}`."""
        with self._lock:
            entries = [e for e in reversed(self.entries) if session is None or e.session == session]
            total = self.total
        if limit is not None:
            entries = entries[:limit]
        return {"requests": [e.to_json() for e in entries],
                "meta": {"total": total, "kept": len(self.entries), "capacity": self.entries.maxlen}}
