"""httpx2 transports that record every exchange while passing it through untouched."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx2

from ._cassette import CassetteWriter, StrPath
from ._model import (
    Body,
    End,
    ErrorInfo,
    Outcome,
    Payload,
    Request,
    Response,
    payload_fields,
)
from ._redact import Redactor
from ._sse import SSEDecoder

# Stored bodies are decoded, so these no longer describe them.
_ENCODING_HEADERS = ("content-encoding", "content-length", "transfer-encoding")


class Recorder:
    """Writes exchanges into one cassette; shared by transports, `record()` and the proxy.

    `path` may also be an open CassetteWriter (several recorders can share one file); it stays
    open when the recorder closes: whoever created it closes it.
    """

    def __init__(self, path: StrPath | CassetteWriter, *, redactor: Redactor | None = None,
                 append: bool = False) -> None:
        self._owns_writer = not isinstance(path, CassetteWriter)
        self.writer = CassetteWriter(path, redactor=redactor, append=append) if self._owns_writer else path

    @property
    def redactor(self) -> Redactor:
        return self.writer.redactor

    def send(self, request: httpx2.Request, send: Callable[[httpx2.Request], httpx2.Response]) -> httpx2.Response:
        """Send `request` with `send`, recording the request, the response and (as it is read) its body."""
        request.read()
        exchange = self._begin(request)
        try:
            response = send(request)
        except Exception as exc:
            exchange.fail(exc)
            raise
        response = exchange.respond(response)
        if _is_error_body(response):
            try:
                return _with_body(response, b"".join(response.stream))  # type: ignore[arg-type]
            finally:
                response.close()  # gives the connection back to the pool
        return response

    async def asend(self, request: httpx2.Request,
                    send: Callable[[httpx2.Request], Awaitable[httpx2.Response]]) -> httpx2.Response:
        """`send` for async transports."""
        await request.aread()
        exchange = self._begin(request)
        try:
            response = await send(request)
        except Exception as exc:
            exchange.fail(exc)
            raise
        response = exchange.respond(response)
        if _is_error_body(response):
            try:
                return _with_body(response, b"".join([chunk async for chunk in response.stream]))  # type: ignore[union-attr]
            finally:
                await response.aclose()  # gives the connection back to the pool
        return response

    def close(self) -> None:
        """Close the writer if this recorder opened it."""
        if self._owns_writer:
            self.writer.close()

    def _begin(self, request: httpx2.Request) -> _Exchange:
        id = self.writer.new_id()
        body = Payload(**payload_fields(request.content.decode("utf-8", errors="replace")))
        headers = self.redactor.headers_of(request.headers.multi_items())
        self.writer.write(id, Request(request.method, str(request.url), headers, body))
        return _Exchange(self.writer, id)


def _is_error_body(response: httpx2.Response) -> bool:
    """An error response with a plain body. It is read at once, so the cassette has it even when
    the SDK retries without ever reading it (anthropic/_base_client.py closes retried responses)."""
    return response.status_code >= 400 and not response.headers.get("content-type", "").startswith(
        "text/event-stream")


def _with_body(response: httpx2.Response, raw: bytes) -> httpx2.Response:
    """The response again, its body (still encoded as received) already read off the wire."""
    return httpx2.Response(response.status_code, headers=response.headers, stream=httpx2.ByteStream(raw),
                           extensions=response.extensions)


class _Exchange:
    """One request in flight: turns what arrives into cassette lines as it arrives."""

    def __init__(self, writer: CassetteWriter, id: int) -> None:
        self.writer = writer
        self.id = id
        self.started = time.monotonic()
        self.sse: SSEDecoder | None = None
        self.body = bytearray()
        self.seen: set[str | None] = set()
        self.done = False
        self.decoder: Any = None

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 6)

    def respond(self, response: httpx2.Response) -> httpx2.Response:
        headers = self.writer.redactor.headers_of(response.headers.multi_items())
        stored = {k: v for k, v in headers.items() if k not in _ENCODING_HEADERS}
        recorded = Response(self.elapsed(), response.status_code, stored)
        self.writer.write(self.id, recorded)
        if recorded.is_stream:
            self.sse = SSEDecoder()
        if "content-encoding" in response.headers:
            # httpx2 keeps its decoders private; this is the one it would pick for the app.
            self.decoder = httpx2.Response(200, headers=response.headers)._get_content_decoder()
        return httpx2.Response(
            response.status_code, headers=response.headers, stream=_RecordingStream(response.stream, self),
            extensions=response.extensions,
        )

    def feed(self, chunk: bytes) -> None:
        t = round(time.monotonic() - self.started, 6)  # elapsed(), inlined on the hot path
        if self.decoder is not None:
            chunk = b"".join(self.decoder.decode(chunk))
        if self.sse is None:
            self.body += chunk
            return
        events = self.sse.decode(chunk)
        if events:
            for sse in events:
                self.seen.add(sse.event)
            self.writer.write_events(self.id, t, events)

    def finish(self, outcome: Outcome | None = None) -> None:
        """The body ended (or the app closed it early, `outcome="cancelled"`)."""
        if outcome == "cancelled" and self.seen & {"message_stop", "error"}:
            outcome = None  # the app stops reading once the stream has ended for it
        self._end(outcome or self._outcome())

    def fail(self, exc: BaseException) -> None:
        self._end("disconnected", ErrorInfo.of(exc))

    def _outcome(self) -> Outcome:
        if self.sse is None or "message_stop" in self.seen:
            return "complete"
        return "error_event" if "error" in self.seen else "truncated"

    def _end(self, outcome: Outcome, error: ErrorInfo | None = None) -> None:
        if self.done:
            return
        self.done = True
        t = self.elapsed()
        tail = None
        if self.sse is not None:
            tail = self.sse.flush().decode("utf-8", errors="replace") or None
        elif self.body or outcome == "complete":
            self.writer.write(self.id, Body(t, Payload(**payload_fields(self.body.decode("utf-8", errors="replace")))))
        self.writer.write(self.id, End(t, outcome, error, tail))


class _RecordingStream(httpx2.SyncByteStream, httpx2.AsyncByteStream):
    """Hands every chunk to the app unchanged, right after noting it in the cassette."""

    def __init__(self, inner: Any, exchange: _Exchange) -> None:
        self.inner = inner
        self.exchange = exchange

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.inner:
                self.exchange.feed(chunk)
                yield chunk
        except Exception as exc:
            self.exchange.fail(exc)
            raise
        self.exchange.finish()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.inner:
                self.exchange.feed(chunk)
                yield chunk
        except Exception as exc:
            self.exchange.fail(exc)
            raise
        self.exchange.finish()

    def close(self) -> None:
        try:
            self.exchange.finish("cancelled")
        finally:
            self.inner.close()

    async def aclose(self) -> None:
        try:
            self.exchange.finish("cancelled")
        finally:
            await self.inner.aclose()


class RecordingTransport(httpx2.BaseTransport):
    """Record every exchange into `path` while passing it through to `transport`.

    >>> client = anthropic.Anthropic(http_client=httpx2.Client(transport=RecordingTransport("chat.jsonl")))
    """

    def __init__(self, path: StrPath | CassetteWriter, transport: httpx2.BaseTransport | None = None, *,
                 redactor: Redactor | None = None, append: bool = False) -> None:
        self.recorder = Recorder(path, redactor=redactor, append=append)
        self.transport = transport if transport is not None else httpx2.HTTPTransport()

    @property
    def path(self) -> StrPath:
        return self.recorder.writer.path

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return self.recorder.send(request, self.transport.handle_request)

    def close(self) -> None:
        self.transport.close()
        self.recorder.close()


class AsyncRecordingTransport(httpx2.AsyncBaseTransport):
    """The async twin of RecordingTransport, for `httpx2.AsyncClient` / `AsyncAnthropic`."""

    def __init__(self, path: StrPath | CassetteWriter, transport: httpx2.AsyncBaseTransport | None = None, *,
                 redactor: Redactor | None = None, append: bool = False) -> None:
        self.recorder = Recorder(path, redactor=redactor, append=append)
        self.transport = transport if transport is not None else httpx2.AsyncHTTPTransport()

    @property
    def path(self) -> StrPath:
        return self.recorder.writer.path

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self.recorder.asend(request, self.transport.handle_async_request)

    async def aclose(self) -> None:
        await self.transport.aclose()
        self.recorder.close()
