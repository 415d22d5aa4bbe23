"""The base URL is announced as soon as the socket listens, before the server has started.

`cassette serve` and `cassette record --listen` print it (their first line of stdout) through
`on_listen`; a client that connects at once waits in the socket's backlog and is answered.
"""

from __future__ import annotations

import json
import socket
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

import recorder
from replayer import serve
from tests.helpers import CASSETTES

TEXT = CASSETTES / "text.jsonl"


def early_request(url: str) -> socket.socket:
    """Connect to `url` and send the recorded request at once; the answer is read later."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    body = json.dumps(recorder.load(TEXT)[0].request.body.data).encode()  # type: ignore[union-attr]
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                 b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
    return sock


def read_all(sock: socket.socket) -> bytes:
    with sock:
        return b"".join(iter(lambda: sock.recv(65536), b""))




@pytest.mark.parametrize("start", ["serve", "proxy"])
def test_the_url_is_announced_before_the_server_starts_and_an_early_client_is_answered(
        start: str, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def on_listen(url: str) -> None:
        seen["url"], seen["threads"] = url, {t.name for t in threading.enumerate()}
        seen["sock"] = early_request(url)

    with ExitStack() as stack:
        if start == "serve":
            name, url = "cassette serve", stack.enter_context(serve(TEXT, on_listen=on_listen))
        else:
            upstream = stack.enter_context(serve(TEXT))
            name = "cassette record proxy"
            url = stack.enter_context(recorder.proxy(tmp_path / "p.jsonl", upstream=upstream, on_listen=on_listen))
        answer = read_all(seen["sock"])
    assert seen["url"] == url
    assert name not in seen["threads"]  # announced before the server's thread was started
    assert answer.startswith(b"HTTP/1.1 200") and b"event: message_stop" in answer
