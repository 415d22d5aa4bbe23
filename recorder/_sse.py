"""An I/O-free, incremental Server-Sent Events decoder.

Follows https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
with one deliberate difference: like the anthropic SDK's own decoder, an event is dispatched
whenever any field was set, even without `data`, so nothing the SDK would see is dropped.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_BOM = b"\xef\xbb\xbf"
# What almost every chunk from the Messages API looks like; decoded without the general path.
_SIMPLE_EVENT = re.compile(rb"event: ([^\r\n]*)\ndata: ([^\r\n]*)\n\n")
_new = tuple.__new__  # builds an SSEEvent without NamedTuple's Python-level __new__


class SSEEvent(NamedTuple):
    """One dispatched event: its type (None when the stream gave none) and its data lines joined by "\\n"."""

    event: str | None
    data: str
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Turn byte chunks cut anywhere into events.

    >>> decoder = SSEDecoder()
    >>> decoder.decode(b"event: ping\\ndata: {}\\n") + decoder.decode(b"\\n")
    [SSEEvent(event='ping', data='{}', id=None, retry=None)]
    """

    def __init__(self) -> None:
        self._partial = b""
        self._skip_lf = False
        self._started = False
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None
        self._dirty = False
        self._raw: list[bytes] = []

    def decode(self, chunk: bytes) -> list[SSEEvent]:
        """Feed one chunk; return the events it completes."""
        if not chunk:
            return []
        if self._started and not (self._partial or self._skip_lf or self._dirty or self._raw):
            events, end = self._simple(chunk)
            if end == len(chunk):
                return events
            return events + self._general(chunk[end:])
        return self._general(chunk)

    @staticmethod
    def _simple(chunk: bytes) -> tuple[list[SSEEvent], int]:
        """Whole `event:`/`data:` events at the start of a chunk cut at an event boundary, and where they end."""
        try:
            text = chunk.decode()
        except UnicodeDecodeError:
            text = ""  # invalid UTF-8 is replaced field by field below
        if text.startswith("event: ") and text.endswith("\n\n") and "\r" not in text:
            # The usual chunk, one whole event: cut with str methods, cheaper than the regex engine.
            name_end = text.find("\n")
            data_end = len(text) - 2
            if text.startswith("data: ", name_end + 1) and text.find("\n", name_end + 1) == data_end:
                return [_new(SSEEvent, (text[7:name_end] or None, text[name_end + 7:data_end], None, None))], len(chunk)
        events = []
        end = 0
        size = len(chunk)
        while end < size and (match := _SIMPLE_EVENT.match(chunk, end)) is not None:
            name, data = match.groups()
            events.append(SSEEvent(name.decode("utf-8", errors="replace") or None,
                                   data.decode("utf-8", errors="replace")))
            end = match.end()
        return events, end

    def _general(self, chunk: bytes) -> list[SSEEvent]:
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        data = self._partial + chunk
        if not self._started:
            if len(data) < len(_BOM) and _BOM.startswith(data):
                self._partial = data
                return []
            self._started = True
            if data.startswith(_BOM):
                data = data[len(_BOM) :]
        # bytes.splitlines splits on exactly the SSE line endings: \r\n, \n and \r.
        lines = data.splitlines(keepends=True)
        self._partial = lines.pop() if lines and not lines[-1].endswith((b"\n", b"\r")) else b""
        # A trailing lone \r may be the first half of a \r\n cut by the chunk boundary.
        self._skip_lf = bool(lines) and not self._partial and lines[-1].endswith(b"\r")
        events = []
        for line in lines:
            text = line.rstrip(b"\r\n")
            if text:
                self._raw.append(line)
                self._line(text.decode("utf-8", errors="replace"))
            else:
                self._raw.clear()
                if self._dirty:
                    events.append(self._dispatch())
        return events

    def flush(self) -> bytes:
        """End the stream: return the bytes of the unfinished event, which the spec discards."""
        tail = b"".join(self._raw) + self._partial
        self.__init__()  # type: ignore[misc]
        return tail

    def _line(self, line: str) -> None:
        if line[0] == ":":
            return
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self._retry = int(value)
        else:
            return
        self._dirty = True

    def _dispatch(self) -> SSEEvent:
        event = SSEEvent(self._event or None, "\n".join(self._data), self._id, self._retry)
        # The spec keeps the last event id across events; a recorder wants the id each event carried.
        self._event, self._data, self._id, self._retry, self._dirty = None, [], None, None, False
        return event


def encode_event(event: str | None, data: str, *, id: str | None = None, retry: int | None = None) -> bytes:
    """Serialise one event as it goes on the wire, LF-framed."""
    lines = []
    if event is not None:
        lines.append(f"event: {event}")
    if id is not None:
        lines.append(f"id: {id}")
    if retry is not None:
        lines.append(f"retry: {retry}")
    if data:
        lines.extend(f"data: {part}" for part in data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()
