"""A scripted, real HTTP/1.1 upstream on 127.0.0.1 for recording without an API key.

Point the real SDK at it (``anthropic.Anthropic(base_url=upstream.base_url)``) and
each request is answered with the next queued :class:`Reply`, written to the socket
chunk by chunk at scripted times, optionally failing the way a real server fails.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal

__all__ = ["Chunk", "Reply", "ReceivedRequest", "ScriptedUpstream", "sse"]


def sse(event: str, data: object) -> bytes:
    """Encode one server-sent event: ``event: X\\ndata: <compact json>\\n\\n``."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@dataclass(frozen=True)
class Chunk:
    """One write to the socket, made ``delay`` seconds after the previous chunk's slot."""

    data: bytes
    delay: float = 0.0


@dataclass(frozen=True)
class Reply:
    """A scripted response.

    Without a ``content-length`` header the body is sent with chunked transfer-encoding,
    one HTTP chunk per :class:`Chunk`. ``ending`` decides what happens after the last chunk:
    ``clean`` finishes the message (keep-alive continues), ``abort`` closes the socket
    without finishing it, ``stall`` keeps the connection open and silent until close().
    """

    status: int = 200
    headers: tuple[tuple[str, str], ...] = (("content-type", "text/event-stream"),)
    chunks: tuple[Chunk, ...] = ()
    ending: Literal["clean", "abort", "stall"] = "clean"

    @classmethod
    def json(cls, status: int, obj: object, headers: Iterable[tuple[str, str]] = ()) -> Reply:
        """A non-streaming JSON reply with a content-length body."""
        body = json.dumps(obj).encode()
        base = (("content-type", "application/json"), ("content-length", str(len(body))))
        return cls(status=status, headers=base + tuple(headers), chunks=(Chunk(body),))


@dataclass(frozen=True)
class ReceivedRequest:
    """A request as the upstream received it; header names are lowercased.

    ``connection`` numbers the TCP connection it arrived on (from 1), so keep-alive reuse shows.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    connection: int = 0

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


def _exhausted(method: str, path: str) -> Reply:
    error = {"type": "api_error", "message": f"ScriptedUpstream script exhausted: no reply queued for {method} {path}"}
    return Reply.json(500, {"type": "error", "error": error}, headers=(("x-should-retry", "false"),))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, upstream: ScriptedUpstream, port: int) -> None:
        self.upstream = upstream
        super().__init__(("127.0.0.1", port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-reply is routine here, not worth a traceback


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        up = self.server.upstream
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with up._lock:
            up._conns.add(sock)
            up._conn_count += 1
            conn_no = up._conn_count
        rfile = sock.makefile("rb")
        try:
            while not up._closing.is_set():
                line = rfile.readline(65537)
                if not line.strip():
                    return
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (h := rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
                    name, _, value = h.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = rfile.read(int(headers.get("content-length", 0)))
                with up._lock:
                    up.requests.append(ReceivedRequest(method, path, headers, body, conn_no))
                    reply = up._queue.popleft() if up._queue else _exhausted(method, path)
                if not self._send(sock, reply) or headers.get("connection", "").lower() == "close":
                    return
        finally:
            rfile.close()  # a live makefile() would defer the socket's real close
            with up._lock:
                up._conns.discard(sock)

    def _send(self, sock: socket.socket, reply: Reply) -> bool:
        """Write ``reply``; return whether the connection may be reused."""
        closing = self.server.upstream._closing
        names = {name.lower() for name, _ in reply.headers}
        chunked = "content-length" not in names
        headers = list(reply.headers)
        if chunked and "transfer-encoding" not in names:
            headers.append(("transfer-encoding", "chunked"))
        try:
            reason = HTTPStatus(reply.status).phrase
        except ValueError:
            reason = ""
        head = f"HTTP/1.1 {reply.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
        sock.sendall((head + "\r\n").encode("latin-1"))
        # Deadlines are absolute from the headers so slow writes don't push later chunks back.
        deadline = time.monotonic()
        for chunk in reply.chunks:
            deadline += chunk.delay
            if closing.wait(max(0.0, deadline - time.monotonic())):
                return False
            if chunked and chunk.data:  # an empty HTTP chunk would end the body early
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk.data), chunk.data))
            elif not chunked:
                sock.sendall(chunk.data)
        if reply.ending == "abort":
            return False
        if reply.ending == "stall":
            closing.wait()
            return False
        if chunked:
            sock.sendall(b"0\r\n\r\n")
        return "close" not in {v.lower() for k, v in headers if k.lower() == "connection"}


class ScriptedUpstream:
    """A real HTTP/1.1 server on 127.0.0.1 that answers each request with the next scripted Reply.

    Replies are consumed FIFO across all connections; once they run out every request gets a
    500 (with ``x-should-retry: false``) saying the script is exhausted. ``requests`` records
    every request received, in arrival order.
    """

    def __init__(self, replies: Iterable[Reply] = (), *, port: int = 0) -> None:
        self.requests: list[ReceivedRequest] = []
        self._queue: deque[Reply] = deque(replies)
        self._port = port
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._conns: set[socket.socket] = set()
        self._conn_count = 0
        self._server: _Server | None = None
        self._address: tuple[str, int] | None = None
        self._thread: threading.Thread | None = None

    def add(self, *replies: Reply) -> None:
        """Queue more replies after the ones already scripted."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``; available once started (and still after close)."""
        if self._address is None:
            raise RuntimeError("ScriptedUpstream has not been started")
        return f"http://127.0.0.1:{self._address[1]}"

    def start(self) -> None:
        """Bind and begin serving in a daemon thread."""
        if self._server is not None:
            return
        self._closing.clear()
        self._server = _Server(self, self._port)
        self._address = self._server.server_address[:2]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="ScriptedUpstream", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and drop every open connection, including stalled ones."""
        if self._server is None or self._thread is None:
            return
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone
        self._server = self._thread = None

    def __enter__(self) -> ScriptedUpstream:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
