"""Reading and writing cassette files (JSONL, one tagged object per line)."""

from __future__ import annotations

import codecs
import datetime as _dt
import json
import math
import os
import threading
from array import array
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import jsonlines
import msgspec

from . import _lines
from ._errors import CassetteError, CassetteNotFoundError, CassetteVersionError
from ._gc import paused
from ._lines import LoadedEvents, payload_of
from ._model import (
    FORMAT_VERSION,
    Body,
    Cassette,
    End,
    ErrorInfo,
    Event,
    Interaction,
    Payload,
    Request,
    Response,
    dumps,
    payload_fields,
)
from ._redact import Redactor
from ._sse import SSEDecoder, SSEEvent

StrPath = str | os.PathLike[str]


# What a client says about itself in every request (the official SDKs send all three).
CLIENT_HEADERS = ("user-agent", "x-stainless-lang", "x-stainless-package-version")


def header(*, client: Mapping[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """The first line of a new cassette; `extra` keys (e.g. `synthetic`) are kept verbatim.

    `client` is the headers of the first request, for a recorder that is not in the process that
    makes the calls (the proxy): the cassette then names that client (`"client"`, and as `"sdk"`
    its user-agent when it is an official SDK), not the Python SDK installed beside the recorder.
    """
    from importlib.metadata import PackageNotFoundError, version

    def version_of(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "unknown"

    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    made: dict[str, Any] = {"cassette": FORMAT_VERSION, "created": created,
                            "recorder": f"claude-cassette {version_of('claude-cassette')}"}
    if client is None:
        made["sdk"] = f"anthropic {version_of('anthropic')}"
    else:
        seen = {name: client[name] for name in CLIENT_HEADERS if name in client}
        if "x-stainless-package-version" in seen and "user-agent" in seen:
            made["sdk"] = seen["user-agent"]
        made["client"] = seen
    return {**made, **extra}


def load(path: StrPath) -> Cassette:
    """Read and validate a cassette file.

    Raises CassetteError naming the file, the line and what was expected. A last line cut
    short without its newline (a recorder killed mid-write) is dropped, not an error.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise CassetteNotFoundError("no such cassette; record one first, or check the path", path=path) from None
    except IsADirectoryError:
        raise CassetteError("is a directory, expected a .jsonl cassette file", path=path) from None
    return parse(data, path=path)


def parse(data: bytes | str, *, path: StrPath | None = None) -> Cassette:
    """Build a Cassette from the text of a cassette file; `path` only names the source in errors."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")  # a lone surrogate is then invalid UTF-8, reported below
    if data.startswith(codecs.BOM_UTF8):  # as some editors save UTF-8
        data = data[len(codecs.BOM_UTF8):]
    end = _kept(data)
    _check_utf8(data, end, path)
    with paused():
        return _fast(data, end, path) or _exact(data, end, path)


def _kept(data: bytes) -> int:
    """Where the text to read ends: a last line cut short by a killed recorder (no newline, an
    unfinished JSON object) is left out."""
    if data.endswith(b"\n"):
        return len(data)
    start = data.rfind(b"\n") + 1
    if data[start:].lstrip().startswith(b"{"):
        try:
            msgspec.json.decode(data[start:])
        except msgspec.DecodeError:
            return start
        except RecursionError:
            pass
    return len(data)


def _check_utf8(data: bytes, end: int, path: StrPath | None) -> None:
    if data.isascii():
        return
    try:
        # Piece by piece, so that the check never holds a decoded copy of a big file.
        decoder = codecs.getincrementaldecoder("utf-8")()
        view = memoryview(data)[:end]
        for at in range(0, end, 1 << 20):
            decoder.decode(view[at:at + (1 << 20)], final=at + (1 << 20) >= end)
    except UnicodeDecodeError:
        try:
            data[:end].decode()
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            raise CassetteError(f"expected UTF-8 text, got byte 0x{data[exc.start]:02x} at column {column}",
                                path=path, line=line) from None


def _fast(data: bytes, end: int, path: StrPath | None) -> Cassette | None:
    """Decode the interaction lines a megabyte at a time; None when only the line-by-line path can tell
    what is wrong (or the file has blank or indented lines, which that path reads too)."""
    first = data.find(b"\n", 0, end)
    if not data.startswith(b"{") or first < 0:
        return None
    view = memoryview(data)
    try:
        builder = _Builder(path, _header(data[:first], path, 1), crlf=data.find(b"\r", 0, end) >= 0)
        start, number = first + 1, 2
        while start < end:
            stop = data.find(b"\n", min(start + _CHUNK, end - 1), end) + 1 or end
            lines = _lines.decoder.decode_lines(view[start:stop])
            # One value per line: every line starts an object and none is blank or holds two.
            count = data.count(b"\n", start, stop) + (not data.endswith(b"\n", 0, stop))
            if len(lines) != count or data.count(b"\n{", start - 1, stop) != count:
                return None
            builder.add_all(lines, number)
            start, number = stop, number + count
    except (msgspec.MsgspecError, RecursionError, CassetteError):
        return None
    return builder.build()


# Lines are decoded this many bytes at a time, so that only one piece of them is ever held twice
# (as decoded values not yet deduplicated by the builder).
_CHUNK = 1 << 20


def _exact(data: bytes, end: int, path: StrPath | None) -> Cassette:
    """Read line by line, so that an error names its line."""
    builder: _Builder | None = None
    for number, text in enumerate(data[:end].split(b"\n"), 1):
        if not text.strip():
            continue
        if builder is None:
            builder = _Builder(path, _header(text, path, number))
        else:
            builder.add(_decode(text, path, number), number)
    if builder is None:
        raise CassetteError("empty file, expected a cassette header line", path=path)
    return builder.build()


def _header(text: bytes, path: StrPath | None, number: int) -> dict[str, Any]:
    try:
        header = msgspec.json.decode(text)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise CassetteError(f"expected one JSON object per line: {_malformed(exc)}", path=path, line=number) from None
    version = header.get("cassette") if isinstance(header, dict) else None
    if version is None:
        raise CassetteError('expected a header line like {"cassette": 1, ...} first; is this a cassette file?',
                            path=path, line=number)
    if type(version) is not int:
        raise CassetteVersionError(f"cassette format version {version!r} is not an integer; this release reads "
                                   f"version {FORMAT_VERSION}: fix the header or re-record", path=path, line=number)
    if version != FORMAT_VERSION:
        raise CassetteVersionError(
            f"cassette format version {version!r}, this release reads version {FORMAT_VERSION}; "
            "upgrade claude-cassette or re-record", path=path, line=number)
    return header


def _decode(text: bytes, path: StrPath | None, number: int) -> _lines.Line:
    try:
        return _lines.decoder.decode(text)
    except msgspec.ValidationError as exc:
        raise CassetteError(_invalid(text, exc), path=path, line=number) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        line = _lenient(text)
        if isinstance(line, dict):  # standard JSON but for NaN or Infinity, which the json module allows
            for key, value in line.items():
                if isinstance(value, float) and not math.isfinite(value):
                    expected = _lines.EXPECTED.get(key, f"{key!r} to be a finite number")
                    raise CassetteError(f"{expected}, got {value!r}", path=path, line=number) from None
        raise CassetteError(f"expected one JSON object per line: {_malformed(exc)}", path=path, line=number) from None


def _malformed(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply to read (recorded lines never are)"
    return str(exc)


def _invalid(text: bytes, exc: msgspec.ValidationError) -> str:
    """What a structurally wrong line should have been, in words."""
    line = _lenient(text)
    if line is None:  # msgspec read it, so only the json module's recursion limit stopped it
        return f"expected one JSON object per line, got a value {_malformed(RecursionError())}"
    if not isinstance(line, dict):
        return f"expected one JSON object per line, got {_lines.got(line)}"
    key = _lines.field_of(exc)
    if key is None or key not in _lines.EXPECTED:
        return f"expected a valid {line.get('kind', 'cassette')!s} line: {exc}"
    expected = _lines.EXPECTED[key]
    if key not in line:
        return f"{expected}, got nothing"
    nested = f"`$.{key}." in str(exc) or f"`$.{key}[" in str(exc)
    return f"{expected}, got {_lines.got(line[key])}" + (f" ({exc})" if nested else "")


def _lenient(text: bytes) -> Any:
    """The line as the json module reads it, for error messages only (None if it cannot)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def save(cassette: Cassette, path: StrPath) -> Path:
    """Write a whole cassette (redacted like a recording) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with CassetteWriter(path, meta=dict(cassette.header)) as writer:
        for line in cassette.lines()[1:]:
            writer.write_line(line)
    return path


class CassetteWriter:
    """Append redacted lines to a cassette, flushed one by one; safe to share between threads.

    With `append=True` an existing cassette is continued (new ids follow the recorded ones).
    """

    def __init__(self, path: StrPath, *, redactor: Redactor | None = None, meta: dict[str, Any] | None = None,
                 append: bool = False) -> None:
        self.path = Path(path)
        self.redactor = redactor or Redactor.default()
        self._lock = threading.Lock()
        self._next_id = 0
        continuing = append and self.path.exists() and self.path.stat().st_size > 0
        if continuing:
            existing = load(self.path)
            self._next_id = max((i.id for i in existing.interactions), default=-1) + 1
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = open(self.path, "a" if continuing else "w", encoding="utf-8")
        self._writer = jsonlines.Writer(self._file, flush=True, dumps=self._dumps)
        if not continuing:
            self.write_line(meta if meta is not None else header())

    def new_id(self) -> int:
        """Reserve the id of a new interaction."""
        with self._lock:
            self._next_id += 1
            return self._next_id - 1

    def write_line(self, line: dict[str, Any]) -> None:
        """Write one line and flush it to the OS, so a killed process keeps it."""
        with self._lock:
            if not self._file.closed:
                self._writer.write(line)

    def write(self, id: int, part: Request | Response | Event | Body | End) -> None:
        """Write one part of interaction `id`."""
        self.write_line(part.to_json(id))

    def write_event(self, id: int, t: float, sse: SSEEvent) -> None:
        """Write one event as it arrives: the recording hot path.

        Data that is single-line JSON (nearly all of it) goes into the line verbatim instead of
        being parsed into objects and serialised again; the line is the same JSON value.
        """
        data = sse.data
        if data and sse.id is None and sse.retry is None and "\n" not in data and _is_json(data):
            name = _NAMES.get(sse.event) or _NAMES.setdefault(sse.event, dumps(sse.event))
            line = f'{{"id":{id},"kind":"event","t":{t!r},"event":{name},"data":{data}}}'
            encoded = (self.redactor.text(line) + "\n").encode()
            with self._lock:
                if not self._file.closed:
                    # One system call; lines written through jsonlines are flushed too, so order holds.
                    os.write(self._file.fileno(), encoded)
        else:
            self.write(id, Event(t, sse.event, Payload(**payload_fields(data)), sse.id, sse.retry))

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._writer.close()
                self._file.close()

    def __enter__(self) -> CassetteWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _dumps(self, line: dict[str, Any]) -> str:
        return self.redactor.text(dumps(line))


_NAMES: dict[str | None, str] = {}


_scan = json.JSONDecoder().scan_once  # json.loads without its Python-level wrapping


def _is_json(text: str) -> bool:
    """Whether `text` is exactly one JSON value with no surrounding white space.

    The scanner also takes NaN and Infinity, which are not JSON and which readers refuse: text
    holding either name takes the careful path (payload_fields), which stores it as `raw`.
    """
    if "NaN" in text or "Infinity" in text:
        return False
    try:
        return _scan(text, 0)[1] == len(text)
    except (StopIteration, ValueError, RecursionError):
        return False


class _Parts:
    """What has been read of one interaction so far."""

    __slots__ = ("body", "end", "events", "lines", "request", "response")

    def __init__(self, request: Request | None) -> None:
        self.request = request
        self.lines = array("I")  # the file line of each part, compactly: a cassette may hold a million
        self.response: Response | None = None
        self.events: list[_lines.EventLine] = []
        self.body: Body | None = None
        self.end: End | None = None


class _Builder:
    """Checks the order of lines and groups them into interactions (their types are checked by the decoder)."""

    def __init__(self, path: StrPath | None, header: dict[str, Any], *, crlf: bool = True) -> None:
        self.path = path
        self.header = header
        self.crlf = crlf
        self.parts: dict[int, _Parts] = {}
        self.names: dict[str, str] = {}

    def add(self, line: _lines.Line, number: int) -> None:
        parts = self.parts.get(line.id)
        kind = type(line)
        if kind is _lines.EventLine:  # nearly every line: checked first, with the least work
            if parts is None or parts.response is None or parts.end is not None:
                raise self._misplaced(line, parts, number)
            name = line.event
            if name is not None:
                known = self.names.get(name)
                if known is None:
                    known = self._name(name, number)
                line.event = known  # one string per event type, not one per event
            parts.events.append(line)
            parts.lines.append(number)
        elif kind is _lines.RequestLine:
            if parts is not None:
                raise self._fail(f"a new interaction, but id {line.id} was already used on an earlier line", number)
            try:
                urlsplit(line.url).port  # what matching reads: the path, and the port if asked
            except ValueError as exc:
                raise self._fail(f"{_lines.EXPECTED['url']} that parses as a URL, got {line.url!r} ({exc})",
                                 number) from None
            parts = self.parts[line.id] = _Parts(Request(line.method, line.url, line.headers,
                                                         payload_of(line.body, line.raw)))
            parts.lines.append(number)
        elif kind is _lines.ResponseLine:
            if parts is None:
                parts = self.parts[line.id] = _Parts(None)
            elif parts.end is not None:
                raise self._misplaced(line, parts, number)
            elif parts.response is not None:
                raise self._fail(f"one 'response' line for interaction {line.id}, found a second", number)
            parts.response = Response(line.t, line.status, line.headers)
            parts.lines.append(number)
        elif kind is _lines.BodyLine:
            if parts is None or parts.response is None or parts.end is not None:
                raise self._misplaced(line, parts, number)
            if parts.body is not None:
                raise self._fail(f"one 'body' line for interaction {line.id}, found a second", number)
            parts.body = Body(line.t, payload_of(line.data, line.raw))
            parts.lines.append(number)
        else:
            if parts is None or parts.end is not None:
                raise self._misplaced(line, parts, number)
            parts.end = self._end(line, number)
            parts.lines.append(number)

    def add_all(self, lines: list[_lines.Line], first: int) -> None:
        """`add` consecutive lines, the first on line `first`; a run of events of one interaction takes
        the short way."""
        names, events, numbers, events_id = self.names, None, None, -1
        for number, line in enumerate(lines, first):
            if type(line) is _lines.EventLine and line.id == events_id:
                name = line.event
                if name is not None:
                    line.event = names.get(name) or self._name(name, number)
                events.append(line)  # type: ignore[union-attr]
                numbers.append(number)  # type: ignore[union-attr]
            else:
                self.add(line, number)
                if type(line) is _lines.EventLine:  # added: the interaction has a response and no end yet
                    parts = self.parts[line.id]
                    events, numbers, events_id = parts.events, parts.lines, line.id
                else:
                    events_id = -1

    def build(self) -> Cassette:
        interactions = tuple(
            Interaction(id, p.request, p.response, LoadedEvents(p.events, crlf=self.crlf) if p.events else (), p.body,
                        p.end, p.lines)
            for id, p in self.parts.items()
        )
        return Cassette(interactions, self.header, None if self.path is None else str(self.path))

    def _name(self, name: str, number: int) -> str:
        if "\n" in name or "\r" in name:
            raise self._fail(f"{_lines.EXPECTED['event']}, got {_lines.got(name)}", number)
        self.names[name] = name
        return name

    def _end(self, line: _lines.EndLine, number: int) -> End:
        if line.tail and SSEDecoder().decode(line.tail.encode()):
            raise self._fail("a 'tail' holding the start of an event that never finished, got one with a "
                             f"complete event (a blank line): {_lines.got(line.tail)}", number)
        error = None if line.error is None else ErrorInfo(line.error.type, line.error.message)
        return End(line.t, line.outcome, error, line.tail)

    def _misplaced(self, line: _lines.Line, parts: _Parts | None, number: int) -> CassetteError:
        kind = line.__struct_config__.tag
        if parts is None:
            return self._fail(f"a 'request' or 'response' line before this {kind!r} line of interaction {line.id}",
                              number)
        if parts.end is not None:
            return self._fail(f"nothing after the 'end' line of interaction {line.id}", number)
        return self._fail(f"a 'response' line of interaction {line.id} before its {kind!r} lines", number)

    def _fail(self, expected: str, number: int) -> CassetteError:
        return CassetteError(expected, path=self.path, line=number)
