"""Run an ASGI app on a real socket (uvicorn, in a background thread) and break connections on purpose.

Shared by the record-through proxy (`recorder.proxy`) and the replay server (`replayer.serve`):
both stream bodies chunk by chunk and, when the body they relay breaks, must break the
client's connection the same way, with no terminating chunk, as a dying server does.

The stack is uvicorn with httptools and uvloop (benchmarks/README.md says why). ASGI has no
"abort this connection" message, so uvicorn's httptools protocol is subclassed to
tell each request's task which asyncio transport it writes to (`_CONNECTION`), and when the
request reached the server (`_ARRIVED`, for pacing that ignores time spent queueing).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import socket
import struct
import threading
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    MutableMapping,
)
from contextlib import contextmanager
from typing import Any

import anyio
import anyio.lowlevel
import httpx2

from . import _received
from ._extras import extra

with extra("server", feature="serving over HTTP (replayer.serve, recorder.proxy)"):
    import uvicorn
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# RFC 9110 §7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "proxy-connection", "te", "trailer", "trailers", "transfer-encoding", "upgrade"})
# How long in-flight requests may run on at shutdown before uvicorn cancels them (they are
# normally aborted at once; this is the safety net).
SHUTDOWN_GRACE = 1

_CONNECTION: contextvars.ContextVar[asyncio.Transport | None] = contextvars.ContextVar(
    "claude_cassette_connection", default=None)
_ARRIVED: contextvars.ContextVar[float | None] = contextvars.ContextVar("claude_cassette_arrived", default=None)


class Aborted(Exception):
    """Unwinds an ASGI app after its connection was broken on purpose; uvicorn does not log it."""


@contextmanager
def _request_context(transport: asyncio.Transport, arrived: float) -> Iterator[None]:
    """Within the block, a task created for a request copies its connection and arrival time."""
    connection = _CONNECTION.set(transport)
    arrived_token = _ARRIVED.set(arrived)
    try:
        yield
    finally:
        _ARRIVED.reset(arrived_token)
        _CONNECTION.reset(connection)


class _Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; the task it starts for a request knows its connection and arrival time.

    httptools (a C parser) rather than h11: parsing a request's headers costs microseconds, not
    the ~0.5 ms of h11's checks, which under a burst of requests delays reading the later ones.
    A connection's first request arrives when the kernel received it (`_received.FirstRead`,
    on Linux), later ones on a kept-alive connection when they are read.
    """

    _first: _received.FirstRead | None = None
    _stamp: float | None = None  # when the kernel received the bytes being parsed, if known

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if _received.FirstRead.available():
            # The loop starts the transport's reading after this returns (uvloop) or on its next
            # turn (asyncio); take the first read over after that.
            self.loop.call_soon(self._read_first)

    def _read_first(self) -> None:
        if self.cycle is not None or self.transport.is_closing():
            return  # the transport read first (uvloop can, on the turn in between)
        try:
            self._first = _received.FirstRead(self.transport, self._first_data)
        except (OSError, RuntimeError, AttributeError):
            pass  # not a socket this can duplicate: the transport reads, arrival is when it does

    def _first_data(self, data: bytes, received: float | None) -> None:
        self._first = None
        if data:
            self._stamp = received
            self.data_received(data)
            self._stamp = None
        if not self.transport.is_closing() and not self.flow.read_paused:
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._first is not None:
            self._first.cancel()
            self._first = None
        super().connection_lost(exc)

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        arrived = self._stamp if self._stamp is not None else time.monotonic()
        self._stamp = None  # a request pipelined behind this one arrives when it is read
        with _request_context(self.transport, arrived):  # uvicorn creates the request's task in here
            super()._start_asgi_task(cycle, app)


def _event_loop_runner() -> Callable[[Awaitable[None]], None]:
    """`uvloop.run` (libuv's loop: cheaper per write and per timer, so pacing under load stays on time)
    where uvloop is installed, else `asyncio.run` (e.g. on Windows, which uvloop does not support)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run  # type: ignore[return-value]
    return uvloop.run  # type: ignore[no-any-return]


def arrival() -> float | None:
    """When the current request reached the server (`time.monotonic()`), before it waited its turn.

    Under load, requests queue for the event loop; timing measured from here does not include
    that wait: it is when the kernel received the request (a connection's first, on Linux), or
    else when the request was read off the socket. None outside a server started by `serve_app`.
    """
    return _ARRIVED.get()


def break_connection(*, reset: bool = False) -> None:
    """Close the current request's connection now, mid-message: no terminating chunk follows.

    The client's HTTP library then reports an incomplete body (httpx2.RemoteProtocolError), or,
    with `reset=True`, a connection reset (httpx2.ReadError): the socket is closed with a TCP
    RST, unless bytes are still queued to send, which an RST would discard (then: a plain close).
    Outside a server started by `serve_app` (e.g. httpx2.ASGITransport) this does nothing.
    """
    transport = _CONNECTION.get()
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if reset and sock is not None and transport.get_write_buffer_size() == 0:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()  # sends what is queued, then FIN


async def relay(body: AsyncIterable[bytes], *, log: logging.Logger | None = None) -> AsyncIterator[bytes]:
    """Yield `body`'s chunks as they come; if it breaks, break the client's connection alike.

    A ReadError (connection reset) is passed on as a reset, anything else as an incomplete
    body; then Aborted is raised to end the response without its terminating chunk.
    """
    try:
        async for chunk in body:
            yield chunk
    except Exception as exc:
        if log is not None:
            log.warning("the body broke mid-stream (%s: %s); breaking the client's connection too",
                        type(exc).__name__, exc)
        break_connection(reset=isinstance(exc, httpx2.ReadError | ConnectionResetError))
        raise Aborted(f"{type(exc).__name__}: {exc}") from exc


async def stream_out(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: AsyncIterable[bytes], *,
                     on_chunk: Callable[[bytes], object] | None = None,
                     at_end: Callable[[], bool] | None = None) -> bool:
    """Send a response whose body is `body`'s chunks as they come; False if the client left before its end.

    Leaner than starlette's StreamingResponse, which runs a task per response to listen for the
    client leaving (a task group set up, cancelled and torn down: ~0.1 ms, paid by the streams
    due at the same instant): here the connection is looked at before each chunk. If `body`
    breaks, the connection is broken alike (`relay`). `at_end()`, asked after each chunk, says
    whether it was the last: then it goes out with the body's end in one write (one system call
    fewer per stream). Then the stream yields to the loop before it returns, so that other
    streams' events due at the same instant go out before this one's bookkeeping.
    """
    connection = _CONNECTION.get()
    await send({"type": "http.response.start", "status": status, "headers": headers})
    more = True
    async for chunk in relay(body):
        if connection is not None and connection.is_closing():
            return False
        if on_chunk is not None:
            on_chunk(chunk)
        more = at_end is None or not at_end()
        await send({"type": "http.response.body", "body": chunk, "more_body": more})
    if more:
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    await asyncio.sleep(0)
    return True


def raw_headers(items: Iterable[tuple[str, str]], *, drop: Iterable[str] = ()) -> list[tuple[bytes, bytes]]:
    """Headers for an ASGI response: hop-by-hop ones and `drop` removed, repeats kept."""
    dropped = HOP_BY_HOP | {name.lower() for name in drop}
    return [(name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in items if name.lower() not in dropped]


class _Abortable:
    """Wraps an ASGI app so that `abort()` breaks every request in flight (used at shutdown)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.scopes: set[anyio.CancelScope] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        with anyio.CancelScope() as cancel:
            self.scopes.add(cancel)
            try:
                await self.app(scope, receive, send)
            finally:
                self.scopes.discard(cancel)
        if cancel.cancelled_caught:
            break_connection()
            raise Aborted("the server is shutting down")

    def abort(self) -> None:
        for cancel in list(self.scopes):
            cancel.cancel()


class _QuietAborts(logging.Filter):
    """Keeps deliberate aborts (Aborted, alone or in an exception group) out of uvicorn's error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and _is_abort(record.exc_info[1]))


def _is_abort(exc: BaseException | None) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_abort(e) for e in exc.exceptions)
    return isinstance(exc, Aborted)


def _quiet_uvicorn() -> None:
    log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietAborts) for f in log.filters):
        log.addFilter(_QuietAborts())


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: a free one), ready to hand to uvicorn."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048)


def url_of(sock: socket.socket) -> str:
    """`http://HOST:PORT` for a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextmanager
def serve_app(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0,
              cleanup: Callable[[], Awaitable[None]] | None = None, name: str = "claude-cassette server",
              on_listen: Callable[[str], object] | None = None) -> Iterator[str]:
    """Serve `app` with uvicorn in a background thread; yield its base URL once it accepts requests.

    The socket is bound here first, so the URL names the real port even for `port=0`; it is
    passed to `on_listen` at once, before the server starts (connections made meanwhile wait in
    the socket's backlog and are answered once it has). On exit,
    requests still in flight are aborted (their connections broken), the server stops, and
    `cleanup()` runs on the server's event loop.
    """
    sock = bind(host, port)
    url = url_of(sock)
    if on_listen is not None:
        on_listen(url)
    guarded = _Abortable(app)
    _quiet_uvicorn()
    config = uvicorn.Config(guarded, http=_Protocol, proxy_headers=False, lifespan="off", log_config=None,
                            log_level="warning", access_log=False, server_header=False, date_header=False,
                            timeout_graceful_shutdown=SHUTDOWN_GRACE)
    server = uvicorn.Server(config)
    loops: list[asyncio.AbstractEventLoop] = []
    failures: list[BaseException] = []

    async def main() -> None:
        loops.append(asyncio.get_running_loop())
        await anyio.lowlevel.checkpoint()  # imports anyio's asyncio backend now (~30 ms), not during the first request
        try:
            await server.serve(sockets=[sock])
        finally:
            if cleanup is not None:
                await cleanup()

    run_loop = _event_loop_runner()

    def run() -> None:
        try:
            run_loop(main())
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            failures.append(exc)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the server did not start: {failures[0] if failures else 'unknown error'}")
            time.sleep(0.002)
        yield url
    finally:
        if loops and thread.is_alive():
            try:
                loops[0].call_soon_threadsafe(guarded.abort)
            except RuntimeError:
                pass  # the loop already closed
        server.should_exit = True
        thread.join()
        sock.close()
