"""`recorder._asgi.arrival()`: when a request reached the server, not when its busy event loop got to it."""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from recorder._asgi import Receive, Scope, Send, arrival, serve_app
from recorder._received import SUPPORTED

BLOCK = 0.6  # how long one request holds the server's event loop


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """/block holds the loop (a synchronous sleep); any other path answers when it arrived and was handled."""
    if scope["type"] != "http":
        return
    await receive()
    if scope["path"] == "/block":
        time.sleep(BLOCK)  # noqa: ASYNC251 - holding the loop is the point
    body = json.dumps({"arrived": arrival(), "handled": time.monotonic()}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def get(sock: socket.socket, path: str) -> dict[str, Any]:
    sock.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
    raw = b""
    while b"\r\n\r\n" not in raw or len(raw.partition(b"\r\n\r\n")[2]) < int(
            raw.split(b"content-length: ")[1].split(b"\r\n")[0]):
        raw += sock.recv(65536)
    return json.loads(raw.partition(b"\r\n\r\n")[2])


@pytest.mark.skipif(not SUPPORTED, reason="kernel receive timestamps are read on Linux only")
def test_a_request_that_waits_for_a_busy_loop_arrived_when_the_kernel_received_it() -> None:
    with serve_app(app) as url:
        parts = urlsplit(url)
        waiting = socket.create_connection((parts.hostname, parts.port))
        blocker = socket.create_connection((parts.hostname, parts.port))
        time.sleep(0.1)  # both accepted: their first reads are the server's own
        blocker.sendall(b"GET /block HTTP/1.1\r\nhost: x\r\n\r\n")
        time.sleep(0.1)  # the loop is now held
        sent = time.monotonic()
        first = get(waiting, "/when")
        second = get(waiting, "/again")  # the same connection, read by its transport again
        blocker.close()
        waiting.close()
    # It was read only once the loop was free, some 0.5 s later, but arrived when it was sent.
    assert first["handled"] - sent > BLOCK / 2
    assert sent - 0.05 < first["arrived"] < sent + BLOCK / 4
    # A later request on a kept-alive connection: arrived when read.
    assert second["arrived"] >= first["handled"]


def test_connections_beyond_the_cap_are_read_by_their_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each connection waiting for its first read holds a second descriptor: past the cap, none is taken."""
    from recorder._received import FirstRead

    monkeypatch.setattr(FirstRead, "most", 1)
    with serve_app(app) as url:
        parts = urlsplit(url)
        socks = [socket.create_connection((parts.hostname, parts.port)) for _ in range(3)]
        time.sleep(0.1)
        assert FirstRead.armed == (1 if SUPPORTED else 0)
        answers = [get(sock, "/when") for sock in socks]
        assert FirstRead.armed == 0
        for sock in socks:
            sock.close()
    assert all(a["arrived"] is not None for a in answers)
