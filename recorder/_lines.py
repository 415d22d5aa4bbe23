"""The schema of interaction lines: one msgspec Struct per `kind`, type-checked in C as it is decoded.

Every field a replay puts on the wire or waits on is constrained here, so a hostile cassette is
refused at load instead of breaking replay: offsets are finite and bounded, methods and header
names are HTTP tokens and header values have no line breaks, request URLs are absolute http(s)
URLs, event names and ids stay on one SSE line, and an error names an exception a real transport
raises. Payloads (`data`, `body`) are kept as the JSON text they were recorded as (`msgspec.Raw`),
validated but not decoded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from operator import attrgetter
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Raw, Struct, UnsetType

from ._model import OUTCOMES, TRANSPORT_ERRORS, Event, Payload
from ._sse import encode_event

MAX_T = 86_400.0
"""The largest `t` a cassette may hold, in seconds: no recorded exchange lasts a day."""

_TOKEN = r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$"  # RFC 9110 section 5.6.2
Seconds = Annotated[float, Meta(ge=0, le=MAX_T)]
Id = Annotated[int, Meta(ge=0)]
HeaderName = Annotated[str, Meta(pattern=_TOKEN)]
# An absolute http(s) URL: a scheme and a host (what matching reads); its path and query are
# only compared, never sent, so they may hold any text a recorded one did.
Url = Annotated[str, Meta(pattern=r"^(?i:https?)://[^\s/?#]+(?:[/?#]|\Z)")]
HeaderValue = Annotated[str, Meta(pattern=r"^[^\r\n\x00]*$")]
Headers = dict[HeaderName, HeaderValue]
OneLine = Annotated[str, Meta(pattern=r"^[^\r\n]*$")]  # an SSE field value: a line break would start a new field
DataLines = Annotated[str, Meta(pattern=r"^[^\r]*$")]  # SSE data lines joined by "\n", as the decoder gives them
ErrorType = Literal[tuple(sorted(TRANSPORT_ERRORS))]  # type: ignore[valid-type]
Outcome = Literal[OUTCOMES]  # type: ignore[valid-type]


class RequestLine(Struct, tag_field="kind", tag="request", gc=False):
    id: Id
    method: Annotated[str, Meta(pattern=_TOKEN)]
    url: Url
    headers: dict[str, str] = {}  # only matched against, never sent: any text
    body: Raw | UnsetType = UNSET
    raw: str | None = None


class ResponseLine(Struct, tag_field="kind", tag="response", gc=False):
    id: Id
    t: Seconds
    status: Annotated[int, Meta(ge=200, le=599)]  # a final response: 1xx never is
    headers: Headers = {}


class EventLine(Struct, tag_field="kind", tag="event", gc=False):
    id: Id
    t: Seconds
    event: str | None = None  # without line breaks: checked once per name by the reader, not per event
    data: Raw | UnsetType = UNSET
    raw: DataLines | None = None
    sse_id: OneLine | None = None
    retry: Annotated[int, Meta(ge=0)] | None = None


class BodyLine(Struct, tag_field="kind", tag="body", gc=False):
    id: Id
    t: Seconds
    data: Raw | UnsetType = UNSET
    raw: str | None = None


class ErrorField(Struct, gc=False):
    type: ErrorType
    message: str = ""


class EndLine(Struct, tag_field="kind", tag="end", gc=False):
    id: Id
    t: Seconds
    outcome: Outcome
    error: ErrorField | None = None
    tail: str | None = None


Line = RequestLine | ResponseLine | EventLine | BodyLine | EndLine
KINDS = ("request", "response", "event", "body", "end")
decoder: msgspec.json.Decoder[Line] = msgspec.json.Decoder(Line)  # type: ignore[arg-type]

EXPECTED: dict[str, str] = {
    "id": "an integer interaction 'id' (>= 0)",
    "kind": f"'kind' to be one of {', '.join(KINDS)}",
    "t": f"'t' to be seconds since the request (a finite number from 0 to {MAX_T:g})",
    "status": "an integer HTTP 'status' from 200 to 599 (a final response)",
    "headers": ("'headers' to be an object of strings (a response's: header names that are HTTP tokens, "
                "values without CR, LF or NUL)"),
    "method": "a 'method' string (an HTTP token such as POST)",
    "url": "a 'url' string holding an absolute http(s) URL (like https://api.anthropic.com/v1/messages)",
    "event": "'event' to be a string without line breaks, or null",
    "raw": "'raw' to be a string (an event's has no CR: its lines are joined by LF)",
    "sse_id": "'sse_id' to be a string without line breaks",
    "retry": "'retry' to be an integer >= 0",
    "outcome": f"an 'outcome' (one of {', '.join(OUTCOMES)})",
    "error": ("'error' to be an object with a 'message' string and a 'type' naming an exception a "
              f"transport raises ({', '.join(sorted(TRANSPORT_ERRORS))})"),
    "tail": "'tail' to be a string",
}
"""What each field must be, for error messages."""


def field_of(error: msgspec.ValidationError) -> str | None:
    """The top-level key a msgspec validation error is about, if it names one."""
    found = _PATH.search(str(error)) or _REQUIRED.search(str(error))
    return None if found is None else found.group(1)


_PATH = re.compile(r"`\$\.(\w+)")
_REQUIRED = re.compile(r"required field `(\w+)`")


def got(value: Any) -> str:
    """A short description of a wrong value."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class LoadedEvents(Sequence[Event]):
    """The events of a loaded interaction: kept as their decoded lines, built into Events on first use.

    Behaves as a tuple of Event (indexing, slicing, equality with tuples); replay reads the lines
    directly (`wire_steps`), so most loaded events are never built.
    """

    __slots__ = ("_built", "_crlf", "_lines")

    def __init__(self, lines: list[EventLine], *, crlf: bool = True) -> None:
        self._lines = lines
        self._crlf = crlf  # False: the file has no CR at all, so no JSON text needs checking for one
        self._built: tuple[Event, ...] | None = None

    def events(self) -> tuple[Event, ...]:
        """The events as a tuple (built once)."""
        if self._built is None:
            self._built = tuple(Event(line.t, line.event, payload_of(line.data, line.raw), line.sse_id, line.retry)
                                for line in self._lines)
        return self._built

    def __len__(self) -> int:
        return len(self._lines)

    def __getitem__(self, index: Any) -> Any:
        return self.events()[index]

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, tuple | LoadedEvents):
            return self.events() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.events())

    def __repr__(self) -> str:
        return repr(self.events())

    def __reduce__(self) -> tuple[Any, ...]:
        return tuple, (self.events(),)  # pickled and copied as the tuple it stands for

    def wire_steps(self) -> list[tuple[float, bytes]]:
        steps: list[tuple[float, bytes]] = []
        append, heads, crlf = steps.append, _HEADS, self._crlf
        for line in self._lines:
            data = line.data
            if (data is UNSET or line.raw is not None or line.sse_id is not None or line.retry is not None
                    or len(data) == 4 and bytes(data) == b"null"):
                text = payload_of(data, line.raw).text
                append((line.t, encode_event(line.event, text, id=line.sse_id, retry=line.retry)))
                continue
            head = heads.get(line.event)
            if head is None:
                name = line.event
                head = heads[name] = b"data: " if name is None else f"event: {name}\ndata: ".encode()
            wire = b"%s%s\n\n" % (head, data)
            if crlf and b"\r" in wire:
                wire = wire.replace(b"\r", b" ")  # see payload_of
            append((line.t, wire))
        return steps

    def joined_steps(self, limit: int) -> list[tuple[float, bytes]] | None:
        """`wire_steps()` joined into chunks of about `limit` bytes (instant replay), with no Python step
        per event; None unless every event is a plain `event:`/`data:` pair with data in a CR-free file."""
        lines = self._lines
        if self._crlf or any(list(map(extra, lines)).count(None) != len(lines) for extra in _EXTRAS):
            return None
        datas = list(map(_DATA, lines))
        try:
            sizes = list(map(len, datas))
        except TypeError:  # UNSET: an event without data
            return None
        if min(sizes, default=0) <= 4:  # `null` (no data) is the shortest: the general path decides
            return None
        names = list(map(_EVENT, lines))
        for name in set(names).difference(_HEADS):
            _HEADS[name] = b"data: " if name is None else f"event: {name}\ndata: ".encode()
        pieces: list[Any] = [b"\n\n"] * (3 * len(lines))
        pieces[0::3] = map(_HEADS.__getitem__, names)
        pieces[1::3] = datas
        per = max(1, limit * len(lines) // (sum(sizes) + sum(map(len, pieces[0::3])) + 2 * len(lines)))
        return [(lines[min(at + per, len(lines)) - 1].t, b"".join(pieces[3 * at:3 * (at + per)]))
                for at in range(0, len(lines), per)]


_HEADS: dict[str | None, bytes] = {}
_DATA, _EVENT = attrgetter("data"), attrgetter("event")
_EXTRAS = (attrgetter("raw"), attrgetter("sse_id"), attrgetter("retry"))  # None in a plain `event:`/`data:` pair


def payload_of(data: Raw | UnsetType, raw: str | None) -> Payload:
    """The model payload of a line's `data` (JSON text, `null` meaning none) and `raw` keys."""
    text = b"null" if data is UNSET else bytes(data)
    if text == b"null":
        return Payload(None, raw)
    # A CR in valid JSON is white space between tokens (one in a string must be escaped), but on
    # the wire a line break in SSE: a space keeps the JSON the same and the event on one line.
    return Payload.of_json(text.replace(b"\r", b" ") if b"\r" in text else text, raw)


def wire_steps(events: Sequence[Event]) -> list[tuple[float, bytes]]:
    """(t, bytes) of each event as it goes back on the wire, in order."""
    if isinstance(events, LoadedEvents):
        return events.wire_steps()
    return [(e.t, encode_event(e.event, e.payload.text, id=e.sse_id, retry=e.retry)) for e in events]
