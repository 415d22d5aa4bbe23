"""Reading and writing cassette files (JSONL, one tagged object per line)."""

from __future__ import annotations

import datetime as _dt
import gc
import json
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import jsonlines

from ._errors import CassetteError, CassetteNotFoundError, CassetteVersionError
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
from ._redact import Redactor
from ._sse import SSEEvent

StrPath = str | os.PathLike[str]
_KINDS = ("request", "response", "event", "body", "end")


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
    """Whether `text` is exactly one JSON value with no surrounding white space."""
    try:
        return _scan(text, 0)[1] == len(text)
    except (StopIteration, ValueError):
        return False


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
