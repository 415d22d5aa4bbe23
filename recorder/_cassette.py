"""Reading and writing cassette files (JSONL, one tagged object per line)."""

from __future__ import annotations

import datetime as _dt
import gc
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import jsonlines
import orjson

from ._errors import (
    CassetteBusyError,
    CassetteClosedError,
    CassetteError,
    CassetteNotFoundError,
    CassetteVersionError,
)
from ._model import (
    FORMAT_VERSION,
    OUTCOMES,
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
from ._redact import DeltaJoiner, Redactor
from ._sse import SSEEvent

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

StrPath = str | os.PathLike[str]
_KINDS = ("request", "response", "event", "body", "end")


def header(**extra: Any) -> dict[str, Any]:
    """The first line of a new cassette; `extra` keys (e.g. `synthetic`) are kept verbatim."""
    from importlib.metadata import PackageNotFoundError, version

    def version_of(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "unknown"

    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return {"cassette": FORMAT_VERSION, "created": created,
            "recorder": f"claude-cassette {version_of('claude-cassette')}",
            "sdk": f"anthropic {version_of('anthropic')}", **extra}


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
    lines = data.split(b"\n" if isinstance(data, bytes) else "\n")
    if lines and lines[-1].strip():
        try:
            jsonlines.Reader(lines[-1:]).read()
        except jsonlines.InvalidLineError:
            lines.pop()  # no newline and not JSON: cut short by a killed recorder
    builder = _Builder(path)
    numbered = _Numbered(lines)
    # Loading makes many objects and no reference cycles; collecting midway only costs time
    # (it made loading 100k events twice as slow per event as 1k).
    collecting = gc.isenabled()
    gc.disable()
    try:
        for line in jsonlines.Reader(numbered).iter(type=dict, skip_empty=True):
            builder.add(line, numbered.number)
    except jsonlines.InvalidLineError as exc:
        problem = str(exc).rsplit(" (line", 1)[0]
        raise CassetteError(f"expected one JSON object per line: {problem}", path=path, line=exc.lineno) from None
    finally:
        if collecting:
            gc.enable()
    return builder.build()


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
    """

    def __init__(self, path: StrPath, *, redactor: Redactor | None = None, meta: dict[str, Any] | None = None,
                 append: bool = False, share: bool = True) -> None:
        self.path = Path(path)
        self.redactor = redactor or Redactor.default()
        self._lines = _Lines(self.redactor)
        self._sink = _Sink.open(self.path, append=append, share=share,
                                first_line=lambda: self._lines.encode(meta if meta is not None else header()))
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
            _write_all(sink.fd, data)


class _Lines:
    """Turns lines into redacted text, keeping what redaction across consecutive deltas needs."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.joiner = DeltaJoiner(redactor)
        self.names: dict[str | None, str] = {}
        self.clean = redactor.is_clean

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
            try:
                value = orjson.loads(data)
            except orjson.JSONDecodeError:
                pass  # not strict JSON (or not JSON at all): the general path below decides
            else:
                stored = self._delta(id, value)
                if stored is not value:
                    return self.redactor.text(dumps(Event(t, sse.event, Payload(stored)).to_json(id))) + "\n"
                name = self.names.get(sse.event)
                if name is None:
                    name = self.names[sse.event] = self.redactor.text(dumps(sse.event))
                if self.clean(data):
                    return f'{{"id":{id},"kind":"event","t":{t!r},"event":{name},"data":{data}}}\n'
                return self.redactor.text(f'{{"id":{id},"kind":"event","t":{t!r},"event":{name},"data":{data}}}') + "\n"
        return self.encode(Event(t, sse.event, Payload(**payload_fields(data)), sse.id, sse.retry).to_json(id))

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


class _Sink:
    """One open cassette file, shared by every CassetteWriter of this process that writes it."""

    _open: ClassVar[dict[tuple[int, int], _Sink]] = {}
    _registry: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, fd: int, key: tuple[int, int], next_id: int) -> None:
        self.fd, self.key, self.next_id, self.users = fd, key, next_id, 1
        self.lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, *, append: bool, share: bool, first_line: Callable[[], str]) -> _Sink:
        """The file's sink: joined if this process writes it already, else locked, continued or started."""
        path.parent.mkdir(parents=True, exist_ok=True)
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
                if next_id is None:
                    os.ftruncate(fd, 0)
                    _write_all(fd, first_line().encode())
                    next_id = 0
            except BaseException:
                os.close(fd)
                raise
            sink = cls._open[key] = cls(fd, key, next_id)
            return sink

    def new_id(self) -> int:
        with self.lock:
            self.next_id += 1
            return self.next_id - 1

    def release(self) -> None:
        with self._registry:
            self.users -= 1
            if self.users == 0:
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

    A last line without its newline is kept (newline added) when it is JSON, and cut off when
    it is not, exactly as `load` reads it; a file that does not load is left untouched.
    """
    data = path.read_bytes()
    keep = len(data)
    if data and not data.endswith(b"\n"):
        start = data.rfind(b"\n") + 1
        try:
            json.loads(data[start:])
        except ValueError:
            keep = start
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


class _Numbered:
    """Lines that remember the number of the one handed out last."""

    def __init__(self, lines: list[Any]) -> None:
        self.lines = lines
        self.number = 0

    def __iter__(self) -> Iterator[Any]:
        for self.number, line in enumerate(self.lines, 1):
            yield line


class _Builder:
    """Validates lines one at a time and groups them into interactions."""

    def __init__(self, path: StrPath | None) -> None:
        self.path = path
        self.header: dict[str, Any] | None = None
        self.parts: dict[int, dict[str, Any]] = {}
        self.number = 0

    def fail(self, expected: str) -> CassetteError:
        return CassetteError(expected, path=self.path, line=self.number)

    def add(self, line: dict[str, Any], number: int) -> None:
        self.number = number
        if self.header is None:
            self._header(line)
            return
        id = self._get(line, "id", int, "an integer interaction 'id'")
        kind = self._get(line, "kind", str, f"'kind' (one of {', '.join(_KINDS)})")
        parts = self.parts.get(id)
        if kind == "request":
            if parts is not None:
                raise self.fail(f"a new interaction, but id {id} was already used on an earlier line")
            self.parts[id] = {"request": self._request(line), "events": []}
            return
        if parts is None:
            if kind != "response":
                raise self.fail(f"a 'request' or 'response' line before this {kind!r} line of interaction {id}")
            parts = self.parts[id] = {"request": None, "events": []}
        if "end" in parts:
            raise self.fail(f"nothing after the 'end' line of interaction {id}")
        t = self._t(line)
        if kind == "response":
            if "response" in parts:
                raise self.fail(f"one 'response' line for interaction {id}, found a second")
            status = self._get(line, "status", int, "an integer HTTP 'status'")
            parts["response"] = Response(t, status, self._headers(line))
        elif kind in ("event", "body"):
            if "response" not in parts:
                raise self.fail(f"a 'response' line of interaction {id} before its {kind!r} lines")
            if kind == "event":
                name = line.get("event")
                if name is not None and not isinstance(name, str):
                    raise self.fail("'event' to be a string or null")
                parts["events"].append(Event(t, name, self._payload(line), line.get("sse_id"), line.get("retry")))
            else:
                parts["body"] = Body(t, self._payload(line))
        elif kind == "end":
            outcome = self._get(line, "outcome", str, f"an 'outcome' (one of {', '.join(OUTCOMES)})")
            if outcome not in OUTCOMES:
                raise self.fail(f"an 'outcome' (one of {', '.join(OUTCOMES)}), got {outcome!r}")
            parts["end"] = End(t, outcome, self._error(line), line.get("tail"))  # type: ignore[arg-type]
        else:
            raise self.fail(f"'kind' to be one of {', '.join(_KINDS)}, got {kind!r}")

    def build(self) -> Cassette:
        if self.header is None:
            raise CassetteError("empty file, expected a cassette header line", path=self.path)
        interactions = tuple(
            Interaction(id, p["request"], p.get("response"), tuple(p["events"]), p.get("body"), p.get("end"))
            for id, p in self.parts.items()
        )
        return Cassette(interactions, self.header, None if self.path is None else str(self.path))

    def _header(self, line: dict[str, Any]) -> None:
        version = line.get("cassette")
        if version is None:
            raise self.fail('a header line like {"cassette": 1, ...} first; is this a cassette file?')
        if version != FORMAT_VERSION:
            raise CassetteVersionError(
                f"cassette format version {version!r}, this release reads version {FORMAT_VERSION}; "
                "upgrade claude-cassette or re-record", path=self.path, line=self.number)
        self.header = line

    def _get(self, line: dict[str, Any], key: str, kind: type, expected: str) -> Any:
        value = line.get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            got = "nothing" if key not in line else repr(value)
            raise self.fail(f"{expected}, got {got}")
        return value

    def _t(self, line: dict[str, Any]) -> float:
        t = line.get("t")
        if isinstance(t, bool) or not isinstance(t, int | float) or t < 0:
            raise self.fail(f"'t' to be seconds since the request (a number >= 0), got {t!r}")
        return float(t)

    def _headers(self, line: dict[str, Any]) -> dict[str, str]:
        headers = line.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise self.fail("'headers' to be an object of strings")
        return headers

    def _payload(self, line: dict[str, Any], data_key: str = "data") -> Payload:
        raw = line.get("raw")
        if raw is not None and not isinstance(raw, str):
            raise self.fail(f"'raw' to be a string, got {raw!r}")
        return Payload(line.get(data_key), raw)

    def _request(self, line: dict[str, Any]) -> Request:
        method = self._get(line, "method", str, "a 'method' string")
        url = self._get(line, "url", str, "a 'url' string")
        return Request(method, url, self._headers(line), self._payload(line, "body"))

    def _error(self, line: dict[str, Any]) -> ErrorInfo | None:
        error = line.get("error")
        if error is None:
            return None
        if not isinstance(error, dict) or not isinstance(error.get("type"), str):
            raise self.fail("'error' to be an object with 'type' and 'message' strings")
        return ErrorInfo(error["type"], str(error.get("message", "")))
