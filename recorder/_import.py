"""Import a raw SSE capture (e.g. `curl -N`, or `curl -i -N` with its header block) as a cassette."""

from __future__ import annotations

import json

from ._cassette import header
from ._errors import CassetteError
from ._model import Body, Cassette, End, Event, Interaction, Outcome, Payload, Response, payload_fields
from ._redact import Redactor
from ._sse import SSEDecoder

# Stored bodies are decoded, so these no longer describe them (as in the recorder).
_ENCODING_HEADERS = ("content-encoding", "content-length", "transfer-encoding")
_SSE_HEADERS = {"content-type": "text/event-stream"}


def import_sse(data: bytes, *, gap: float = 0.0, source: str | None = None) -> Cassette:
    """Turn the bytes of a captured SSE stream into a one-interaction cassette.

    The interaction has no request, so during replay it answers any request. A capture has
    no timing, so none is invented: event `i` is placed at `i * gap` seconds and the header
    says so (`"timing": "none"` or `"synthetic gap of N ms"`). An optional leading HTTP
    header block (`curl -i`) becomes the response status and headers.

    Raises CassetteError when a stream capture holds no SSE event, saying what the data looks
    like instead (empty, binary, already a cassette, JSON).

    >>> cassette = import_sse(Path("capture.sse").read_bytes(), source="capture.sse")
    """
    if not gap >= 0:
        raise ValueError(f"gap must be a number of seconds >= 0, got {gap!r}")
    status, headers, body = _split_head(data, source)
    response = Response(0.0, status, headers)
    if response.is_stream:
        interaction = _stream_interaction(response, body, gap)
        if not interaction.events:
            raise CassetteError(f"{_looks_like(body)}; expected an SSE capture ('event: ...' and 'data: ...' lines, "
                                "events separated by a blank line), e.g. the output of curl -N", path=source)
    else:
        # A captured non-stream answer (e.g. a JSON error body): kept whole, as the recorder would.
        payload = Payload(**payload_fields(body.decode("utf-8", errors="replace")))
        interaction = Interaction(0, None, response, body=Body(0.0, payload), end=End(0.0, "complete"))
    timing = "none" if gap == 0 else f"synthetic gap of {gap * 1000:g} ms"
    extra = {"imported": "sse", "timing": timing}
    if source is not None:
        extra["source"] = source
    return Cassette((interaction,), header(**extra))


def _stream_interaction(response: Response, body: bytes, gap: float) -> Interaction:
    decoder = SSEDecoder()
    decoded = decoder.decode(body)
    tail = decoder.flush().decode("utf-8", errors="replace") or None
    events = tuple(
        Event(round(i * gap, 6), sse.event, Payload(**payload_fields(sse.data)), sse.id, sse.retry)
        for i, sse in enumerate(decoded)
    )
    seen = {e.event for e in events}
    outcome: Outcome = "complete" if "message_stop" in seen else "error_event" if "error" in seen else "truncated"
    end_t = events[-1].t if events else 0.0
    return Interaction(0, None, response, events, end=End(end_t, outcome, tail=tail))


def _looks_like(body: bytes) -> str:
    """What a capture without a single SSE event is, in words."""
    if not body.strip():
        return "empty: no SSE event"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = "\0"
    if "\0" in text:
        return "binary data, not an SSE capture"
    first = text.lstrip().split("\n", 1)[0]
    try:
        value = json.loads(first)
    except ValueError:
        return "no complete SSE event found"
    if isinstance(value, dict) and "cassette" in value:
        return "this is already a cassette (JSONL); play, show or check it as it is"
    return "JSON, not an SSE stream"


def _split_head(data: bytes, source: str | None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a capture; a capture without a header block is a 200 SSE stream.

    `curl -i` through a proxy prints several blocks (`100 Continue`, `Connection established`):
    the last one describes the body.
    """
    status, headers = 200, dict(_SSE_HEADERS)
    while data.startswith(b"HTTP/"):
        ends = [(i, sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := data.find(sep)) >= 0]
        cut, sep = min(ends) if ends else (len(data), b"")
        head, data = data[:cut].decode("latin-1"), data[cut + len(sep):]
        status_line, *lines = head.splitlines()
        parts = status_line.split()
        if len(parts) < 2 or not parts[1].isdigit():
            raise CassetteError(f"expected an HTTP status line like 'HTTP/1.1 200 OK', got {status_line!r}",
                                path=source)
        status = int(parts[1])
        items = [(name.strip(), value.strip()) for name, colon, value in (line.partition(":") for line in lines)
                 if colon]
        headers = {k: v for k, v in Redactor.default().headers_of(items).items() if k not in _ENCODING_HEADERS}
    if "content-type" not in headers:
        headers.update(_SSE_HEADERS)  # an SSE capture is SSE unless its own headers say otherwise
    return status, headers, data
