"""The cassette model: frozen dataclasses, one per line kind, with their JSON line form."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

FORMAT_VERSION = 1

Outcome = Literal["complete", "error_event", "disconnected", "truncated", "cancelled", "incomplete"]
OUTCOMES: tuple[str, ...] = ("complete", "error_event", "disconnected", "truncated", "cancelled", "incomplete")


TRANSPORT_ERRORS: tuple[str, ...] = tuple(f"httpx2.{name}" for name in (
    "CloseError", "ConnectError", "ConnectTimeout", "LocalProtocolError", "NetworkError", "PoolTimeout",
    "ProtocolError", "ProxyError", "ReadError", "ReadTimeout", "RemoteProtocolError", "SSEError",
    "TimeoutException", "TransportError", "UnsupportedProtocol", "WriteError", "WriteTimeout"))
"""The exceptions a recorded exchange may end with: what an httpx2 transport raises (httpx2.TransportError)."""

# One encoder for every call: json.dumps with options builds a new JSONEncoder each time.
# allow_nan=False: a non-finite number in a model fails loudly here instead of making a file no reader loads.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _decode(text: Any) -> Any:
    try:
        return msgspec.json.decode(text)
    except msgspec.ValidationError:  # a number beyond float range, which the json module reads as inf
        return json.loads(bytes(text))


def dumps(value: Any) -> str:
    """Compact JSON as stored in cassettes.

    Keys keep their order instead of being sorted: the SDK shows payloads in wire order (e.g. the
    text of an in-stream error), so sorting would change what a replayed app sees. Lines are
    still deterministic, since each line kind writes its own keys in a fixed order.
    """
    return _encode(value)


def payload_fields(text: str) -> dict[str, Any]:
    """How a wire payload is stored: parsed JSON under `data`, anything else verbatim under `raw`."""
    if not text:
        return {}
    try:
        return {"data": _strict_loads(text)}
    except (ValueError, RecursionError):
        return {"raw": text}


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is beyond the range of a float")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Standard JSON only: what a reader accepts as `data` (NaN, Infinity or 1e400 would be written
# back as NaN or Infinity, which no reader accepts), so anything else is kept verbatim as `raw`.
_strict_loads = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constant).decode


@dataclass(frozen=True, init=False, eq=False)
class Payload:
    """A body or event payload: JSON `data`, or `raw` text when it was not JSON, or neither when empty.

    A loaded payload keeps the JSON text it was recorded as and decodes it only when `data` is
    read: replay puts the text back on the wire and never needs the objects.
    """

    # Fields for dataclasses.replace / fields / asdict; `data` is read through the property below.
    data: Any
    raw: str | None

    def __init__(self, data: Any = None, raw: str | None = None) -> None:
        _set(self, "_data", data)
        _set(self, "_json", None)
        _set(self, "raw", raw)

    @classmethod
    def of_json(cls, text: Any, raw: str | None = None) -> Payload:
        """A payload whose data is the JSON `text` (bytes-like, already validated), decoded on first use."""
        payload = cls(_UNDECODED, raw)
        _set(payload, "_json", text)
        return payload

    @property  # type: ignore[no-redef]
    def data(self) -> Any:
        """The parsed JSON payload (None when there is none)."""
        if self._data is _UNDECODED:
            _set(self, "_data", _decode(self._json))
        return self._data

    @property
    def text(self) -> str:
        """The payload as it goes on the wire."""
        if self.raw is not None:
            return self.raw
        if self._json is not None:
            return bytes(self._json).decode()
        return "" if self._data is None else _encode(self._data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Payload):
            return NotImplemented
        return self.raw == other.raw and self.data == other.data

    def __hash__(self) -> int:
        return hash((self.data, self.raw))

    def __reduce__(self) -> tuple[Any, ...]:
        return Payload, (self.data, self.raw)

    def _fields(self) -> dict[str, Any]:
        if self.raw is not None:
            return {"raw": self.raw}
        data = self.data
        return {} if data is None else {"data": data}


_set = object.__setattr__
_UNDECODED: Any = object()


@dataclass(frozen=True, slots=True)
class Request:
    """The request as sent, with secrets already redacted."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Payload = Payload()

    @property
    def path(self) -> str:
        """The URL path, e.g. `/v1/messages`."""
        from urllib.parse import urlsplit

        return urlsplit(self.url).path

    def to_json(self, id: int) -> dict[str, Any]:
        return {"id": id, "kind": "request", "method": self.method, "url": self.url,
                "headers": dict(self.headers), **_rename(self.body._fields(), "data", "body")}


@dataclass(frozen=True, slots=True)
class Response:
    """Status line and headers, `t` seconds after the request was sent."""

    t: float
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_stream(self) -> bool:
        """Whether the body is an SSE stream."""
        return self.headers.get("content-type", "").startswith("text/event-stream")

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The headers as bytes for the wire, values in UTF-8.

        httpx2 decodes header values as ASCII, else UTF-8, else Latin-1, so UTF-8 gives a
        replayed application the very strings that were recorded, whatever their characters.
        """
        return [(name.encode("latin-1"), value.encode()) for name, value in self.headers.items()]

    def to_json(self, id: int) -> dict[str, Any]:
        return {"id": id, "kind": "response", "t": self.t, "status": self.status, "headers": dict(self.headers)}


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event, `t` seconds after the request was sent."""

    t: float
    event: str | None
    payload: Payload = Payload()
    sse_id: str | None = None
    retry: int | None = None

    @property
    def data(self) -> Any:
        """The parsed JSON payload (None when the payload was not JSON)."""
        return self.payload.data

    def to_json(self, id: int) -> dict[str, Any]:
        line = {"id": id, "kind": "event", "t": self.t, "event": self.event, **self.payload._fields()}
        if self.sse_id is not None:
            line["sse_id"] = self.sse_id
        if self.retry is not None:
            line["retry"] = self.retry
        return line


@dataclass(frozen=True, slots=True)
class Body:
    """A whole non-streaming response body, complete `t` seconds after the request was sent."""

    t: float
    payload: Payload = Payload()

    def to_json(self, id: int) -> dict[str, Any]:
        return {"id": id, "kind": "body", "t": self.t, **self.payload._fields()}


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """An exception that broke the exchange: its qualified class name and message."""

    type: str
    message: str

    @classmethod
    def of(cls, exc: BaseException) -> ErrorInfo:
        kind = type(exc)
        module = kind.__module__.split("._")[0]  # httpx2._exceptions -> httpx2, as users import it
        return cls(f"{module}.{kind.__qualname__}", str(exc))

    def replayable(self) -> ErrorInfo:
        """This error if a transport can raise it, else an `httpx2.ReadError` naming it.

        Replay raises only what a real transport raises (TRANSPORT_ERRORS): anything else that
        broke a recorded exchange (a custom transport's bug, say) is stored as a broken connection.
        """
        if self.type in TRANSPORT_ERRORS:
            return self
        return ErrorInfo("httpx2.ReadError", f"{self.type}: {self.message}")


@dataclass(frozen=True, slots=True)
class End:
    """How the exchange ended, `t` seconds after the request was sent."""

    t: float
    outcome: Outcome
    error: ErrorInfo | None = None
    tail: str | None = None  # bytes of an event that never finished, kept as text

    def to_json(self, id: int) -> dict[str, Any]:
        line: dict[str, Any] = {"id": id, "kind": "end", "t": self.t, "outcome": self.outcome}
        if self.error is not None:
            error = self.error.replayable()
            line["error"] = {"type": error.type, "message": error.message}
        if self.tail:
            line["tail"] = self.tail
        return line


@dataclass(frozen=True, slots=True)
class Interaction:
    """One HTTP exchange: request, response, then SSE events or a body, then how it ended.

    `request` is None for imported captures, which answer any request. `events` is a tuple, or
    for a loaded cassette a sequence that builds its Events the first time it is read.
    """

    id: int
    request: Request | None
    response: Response | None = None
    events: Sequence[Event] = ()
    body: Body | None = None
    end: End | None = None

    @property
    def outcome(self) -> Outcome:
        """How it ended; `incomplete` when the recorder died before writing the end."""
        return self.end.outcome if self.end is not None else "incomplete"

    @property
    def is_stream(self) -> bool:
        """Whether the response was an SSE stream."""
        return self.response is not None and self.response.is_stream

    def lines(self) -> list[dict[str, Any]]:
        """The JSON lines of this interaction, in cassette order."""
        parts: list[Any] = [self.request, self.response, *self.events, self.body, self.end]
        return [part.to_json(self.id) for part in parts if part is not None]


@dataclass(frozen=True, eq=False)
class Cassette:
    """A loaded cassette: its header and its interactions in recorded order.

    Compared and hashed by identity, so replay can cache per cassette what it derives from it.
    """

    interactions: tuple[Interaction, ...] = ()
    header: Mapping[str, Any] = field(default_factory=lambda: {"cassette": FORMAT_VERSION})
    path: str | None = None

    def __len__(self) -> int:
        return len(self.interactions)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.interactions)

    def __getitem__(self, index: int) -> Interaction:
        return self.interactions[index]

    def lines(self) -> list[dict[str, Any]]:
        """Every JSON line, header first."""
        return [dict(self.header)] + [line for i in self.interactions for line in i.lines()]


def _rename(fields: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    return {new if key == old else key: value for key, value in fields.items()}
