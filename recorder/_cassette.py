"""Reading and writing cassette files (JSONL, one tagged object per line)."""

from __future__ import annotations

import codecs
import datetime as _dt
import json
import math
import os
import re
import stat
import threading
from array import array
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import msgspec

from . import _lines
from ._errors import (
    CassetteBusyError,
    CassetteClosedError,
    CassetteError,
    CassetteNotFoundError,
    CassetteVersionError,
)
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
from ._redact import KEY_STARTS, DeltaJoiner, Redactor, holds_no_key
from ._sse import SSEDecoder, SSEEvent

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

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
    regular_file(path, "a .jsonl cassette file", missing="no such cassette; record one first, or check the path")
    return parse(Path(path).read_bytes(), path=path)


def regular_file(path: StrPath, expected: str, *, missing: str = "no such file") -> None:
    """Raise CassetteError unless `path` is a regular file (`expected` says what it should be).

    Checked before opening: reading a FIFO waits for a writer, and a device such as /dev/zero never ends.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise CassetteNotFoundError(missing, path=path) from None
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise CassetteError(f"is a directory; expected {expected}", path=path)
    kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
    raise CassetteError(f"not a regular file ({kind}); expected {expected}", path=path)


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
            if len(lines) != count or _NOT_A_LINE_START.search(data, start - 1, stop):
                return None
            builder.add_all(lines, number)
            start, number = stop, number + count
    except (msgspec.MsgspecError, RecursionError, CassetteError):
        return None
    return builder.build()


# A line break not followed by the `{` of a line's object (a blank, indented or continued line).
_NOT_A_LINE_START = re.compile(rb"\n[^{]")
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
    # Its ids are the cassette's own, so it may not join a file this process is recording into.
    with CassetteWriter(path, meta=dict(cassette.header), share=False) as writer:
        for line in cassette.lines()[1:]:
            writer.write_line(line)
    return path


def redacted(cassette: Cassette, redactor: Redactor | None = None) -> Cassette:
    """The cassette as it would be read back after `save`: what every other format must export."""
    lines = _Lines(redactor or Redactor.default())
    text = "".join(lines.encode(line) for line in cassette.lines())
    return replace(parse(text), path=cassette.path)


class CassetteWriter:
    """Append redacted lines to a cassette, each written to the OS in one call; safe to share between threads.

    With `append=True` an existing cassette is continued: new ids follow the recorded ones, and
    a last line cut short by a killed recorder is dropped first (see docs/cassette-format.md).
    Every writer of this process on one file shares it (ids never repeat, lines never mix, a
    second writer never truncates it); another process recording into the file at the same
    time gets CassetteBusyError (so does a writer with `share=False` on a file this process
    writes already). A write after `close()` raises CassetteClosedError.

    `meta` is the header line of a new cassette (default: `header()`). A function instead is called
    when the first line is written (or at the last close, if none is), so that a header may
    describe what only the first request tells, such as the proxy's client; the file is created
    and taken at once either way.
    """

    def __init__(self, path: StrPath, *, redactor: Redactor | None = None,
                 meta: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
                 append: bool = False, share: bool = True) -> None:
        self.path = Path(path)
        self.redactor = redactor or Redactor.default()
        self._lines = _Lines(self.redactor)

        def first_line() -> str:
            return self._lines.encode(meta() if callable(meta) else meta if meta is not None else header())

        self._sink = _Sink.open(self.path, append=append, share=share, first_line=first_line,
                                defer_header=callable(meta))
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether this writer was closed (the file stays open while other writers share it)."""
        return self._closed

    def new_id(self) -> int:
        """Reserve the id of a new interaction."""
        return self._sink.new_id()

    def write_line(self, line: dict[str, Any]) -> None:
        """Write one line and hand it to the OS, so a killed process keeps it."""
        self._emit(self._lines.encode(line))

    def write(self, id: int, part: Request | Response | Event | Body | End) -> None:
        """Write one part of interaction `id`."""
        self.write_line(part.to_json(id))

    def write_event(self, id: int, t: float, sse: SSEEvent) -> None:
        """Write one event as it arrives."""
        self._emit(self._lines.event(id, t, sse))

    def write_events(self, id: int, t: float, events: list[SSEEvent]) -> None:
        """Write the events one chunk completed, in one system call: the recording hot path."""
        event = self._lines.event
        self._emit(event(id, t, events[0]) if len(events) == 1 else "".join([event(id, t, sse) for sse in events]))

    def close(self) -> None:
        """Stop writing; the file closes when the last writer of this process on it closes."""
        with self._sink.lock:
            if self._closed:
                return
            self._closed = True
        self._sink.release()

    def __enter__(self) -> CassetteWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _emit(self, text: str) -> None:
        data = text.encode()
        sink = self._sink
        with sink.lock:
            if self._closed:
                raise CassetteClosedError(
                    f"this CassetteWriter was closed, so the line was not written: {text[:80]!r}; keep the "
                    "writer open while clients record through it (whoever created it closes it)", path=self.path)
            sink.write(data)


class _Lines:
    """Turns lines into redacted text, keeping what redaction across consecutive deltas needs."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.joiner = DeltaJoiner(redactor)
        self.names: dict[str | None, str] = {}
        self.clean = redactor.is_clean
        self.quick = redactor.builtin

    def encode(self, line: dict[str, Any]) -> str:
        kind = line.get("kind")
        if kind == "event":
            data = line.get("data")
            stored = self._delta(line["id"], data)
            if stored is not data:
                line = {**line, "data": stored}
        elif kind == "end":
            self.joiner.forget(line["id"])
        return self.redactor.text(dumps(line)) + "\n"

    def event(self, id: int, t: float, sse: SSEEvent) -> str:
        """The line of one recorded event.

        Data that is single-line JSON (nearly all of it) goes into the line verbatim instead of
        being serialised again; the line is the same JSON value, and redaction sees escapes decoded.
        """
        data = sse.data
        if data and sse.id is None and sse.retry is None and "\n" not in data:
            # Clean (no key, no escape: nearly every event) is told without the regex engine here.
            clean = self.quick and holds_no_key(data)
            name = self.names.get(sse.event) or self._name(sse.event)
            line = f'{{"id":{id},"kind":"event","t":{t!r},"event":{name},"data":{data}}}'
            try:
                # The data must be one JSON value and nothing after it (`1,"kind":"end"` would add keys to
                # the line); long data also in its line, as a reader decodes it (one level deeper).
                value = _read_json(data)
                if len(data) >= _SHALLOW:
                    _read_json(line)
            except (msgspec.DecodeError, RecursionError):
                pass  # not JSON a reader takes: the general path below decides
            else:
                stored = self._stored(id, value) if clean else self._delta(id, value)
                if stored is not value:
                    return self._rewritten(id, t, sse.event, stored)
                return line + "\n" if clean or self.clean(data) else self.redactor.text(line) + "\n"
        return self.encode(Event(t, sse.event, Payload(**payload_fields(data)), sse.id, sse.retry).to_json(id))

    def _rewritten(self, id: int, t: float, event: str | None, stored: Any) -> str:
        return self.redactor.text(dumps(Event(t, event, Payload(stored)).to_json(id))) + "\n"

    def _stored(self, id: int, data: Any) -> Any:
        """`_delta(id, data)` for clean `data` (no key, no escape in it), the usual delta answered quickly."""
        delta = data.get("delta") if type(data) is dict else None
        if type(delta) is not dict or self.joiner.tails:
            return self._delta(id, data)
        for field, value in delta.items():
            if type(value) is str and value.endswith(KEY_STARTS) and field != "type":
                return self._delta(id, data)
        return data

    def _name(self, event: str | None) -> str:
        name = self.names[event] = self.redactor.text(dumps(event))
        return name

    def _delta(self, id: int, data: Any) -> Any:
        """`data` with the parts of secrets split across deltas replaced (the same object when none)."""
        if type(data) is not dict:
            return data
        delta = data.get("delta")
        if type(delta) is not dict:
            if data.get("type") == "content_block_stop":
                self.joiner.forget(id, data.get("index"))
            return data
        joiner = self.joiner
        changed = None
        for field, value in delta.items():
            if type(value) is str and field != "type":
                if not joiner.tails and joiner.needs_no_tail(value):
                    continue  # the usual delta: nothing pending, nothing to keep
                piece = joiner.piece((id, data.get("index"), field), value)
                if piece is not value:
                    changed = {**(changed or {}), field: piece}
        return data if changed is None else {**data, "delta": {**delta, **changed}}


_read_json = msgspec.json.decode  # the decoder readers use
# Data shorter than this nests less deep than msgspec's recursion limit (about 900 levels) allows,
# with one level to spare for the line around it.
_SHALLOW = 1800


class _Sink:
    """One open cassette file, shared by every CassetteWriter of this process that writes it."""

    _open: ClassVar[dict[tuple[int, int], _Sink]] = {}
    _registry: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, fd: int, key: tuple[int, int], next_id: int, header: Callable[[], str] | None) -> None:
        self.fd, self.key, self.next_id, self.users = fd, key, next_id, 1
        self.header = header  # a header line not written yet
        self.lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, *, append: bool, share: bool, first_line: Callable[[], str],
             defer_header: bool = False) -> _Sink:
        """The file's sink: joined if this process writes it already, else locked, continued or started."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            regular_file(path, "a .jsonl cassette file to record into")
        except CassetteNotFoundError:
            pass  # a new cassette
        with cls._registry:
            # Neither truncated nor written before we know no one else writes it.
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0), 0o644)
            try:
                status = os.fstat(fd)
                key = (status.st_dev, status.st_ino)
                if (sink := cls._open.get(key)) is not None:
                    if not share:
                        raise CassetteBusyError("this process is recording into this cassette; write the whole "
                                                "cassette to another file", path=path)
                    os.close(fd)
                    sink.users += 1
                    return sink
                _lock(fd, path)
                next_id = _continue(fd, path) if append else None
                pending = None
                if next_id is None:
                    os.ftruncate(fd, 0)
                    next_id = 0
                    if defer_header:
                        pending = first_line
                    else:
                        _write_all(fd, first_line().encode())
            except BaseException:
                os.close(fd)
                raise
            sink = cls._open[key] = cls(fd, key, next_id, pending)
            return sink

    def write(self, data: bytes) -> None:
        """Write `data` (under `lock`), after the header if it is still to be written."""
        if self.header is not None:
            data, self.header = self.header().encode() + data, None
        _write_all(self.fd, data)

    def new_id(self) -> int:
        with self.lock:
            self.next_id += 1
            return self.next_id - 1

    def release(self) -> None:
        with self._registry:
            self.users -= 1
            if self.users == 0:
                with self.lock:
                    self.write(b"")  # a cassette nobody wrote to still gets its header
                del self._open[self.key]
                os.close(self.fd)  # also releases the lock other processes see


def _lock(fd: int, path: Path) -> None:
    """Take the file for this process, or raise CassetteBusyError if another process has it."""
    if fcntl is None:
        return  # no flock (Windows): one recorder per file is then up to the user
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise CassetteBusyError(
            "another process is recording into this cassette; wait for it to finish, or record into "
            "another file (cassettes can be merged afterwards)", path=path) from None


def _continue(fd: int, path: Path) -> int | None:
    """Prepare an existing cassette for appending; the next free id, or None if there is nothing to continue.

    A last line without its newline is kept (newline added) or cut off exactly as `load` reads
    it (`_kept`); a file that does not load is left untouched.
    """
    data = path.read_bytes()
    keep = _kept(data)
    if not data[:keep].strip():
        return None
    existing = parse(data[:keep], path=path)
    if keep < len(data):
        os.ftruncate(fd, keep)
    elif not data.endswith(b"\n"):
        _write_all(fd, b"\n")
    return max((i.id for i in existing.interactions), default=-1) + 1


def _write_all(fd: int, data: bytes) -> None:
    written = os.write(fd, data)
    if written < len(data):  # rare (a full disk, a signal): write the rest
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(fd, view):]


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
                raise self._fail(f"{_lines.EXPECTED['url']}, got {line.url!r}, which does not parse ({exc})",
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
