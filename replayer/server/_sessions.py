"""Playback sessions of a long-running server: each `x-cassette-session` replays from the start on its own."""

from __future__ import annotations

import threading
from collections import OrderedDict

from .._transport import ReplayTransport

SESSION_HEADER = "x-cassette-session"
DEFAULT_SESSION = "default"
MAX_SESSIONS = 1000
"""Named sessions kept at once; the one used longest ago is forgotten (and starts over if it returns)."""


class Sessions:
    """The default session (`base`, the transport the server was given) and one fork of it per session name."""

    def __init__(self, base: ReplayTransport, *, limit: int = MAX_SESSIONS) -> None:
        self.base = base
        self.limit = limit
        self._named: OrderedDict[str, ReplayTransport] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str | None) -> ReplayTransport:
        """The transport that plays for session `name` (None or "default": the base)."""
        if not name or name == DEFAULT_SESSION:
            return self.base
        with self._lock:
            transport = self._named.get(name)
            if transport is None:
                transport = self._named[name] = self.base.fork()
                if len(self._named) > self.limit:
                    self._named.popitem(last=False)
            else:
                self._named.move_to_end(name)
            return transport

    def reset(self, name: str | None = None) -> list[str]:
        """Start session `name` (None: every session) from the beginning; the names reset."""
        with self._lock:
            if name is None:
                names = [DEFAULT_SESSION, *self._named]
                self._named.clear()
                self.base.reset()
                return names
            if name == DEFAULT_SESSION:
                self.base.reset()
            elif self._named.pop(name, None) is None:
                return []
            return [name]

    def names(self) -> list[str]:
        with self._lock:
            return [DEFAULT_SESSION, *self._named]
