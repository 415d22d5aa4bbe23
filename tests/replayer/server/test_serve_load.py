"""The server's lean path under load (issue 14 item 11): what benchmarks/bench_serve.py times, checked for behaviour.

Raw sockets, as the benchmark's clients: many connections opened first, then every request
sent at one instant; a connection's first read is taken over to learn when the kernel received
it (`recorder._received`), and a matched body goes out through `stream_out`, its last chunk with
the body's end. These check that what travels is unchanged: byte-identical bodies, the journal's
counts, faults breaking connections as before, odd clients handled. Timing is measured in
benchmarks/, not here.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest

import recorder
from recorder import encode_event
from replayer import serve
from replayer._script import script_of
from replayer._timing import RealClock
from replayer._transport import ReplayStream
from tests.helpers import CASSETTES, run

TEXT = CASSETTES / "text.jsonl"
DROPPED = CASSETTES / "dropped.jsonl"


def expected_body(path: Path) -> bytes:
    """The recorded events re-encoded: what a raw client must read, byte for byte."""
    interaction = recorder.load(path)[0]
    return b"".join(encode_event(e.event, e.payload.text, id=e.sse_id, retry=e.retry) for e in interaction.events)


def head(url: str, body: bytes, *, close: bool = True) -> bytes:
    host = urlsplit(url).netloc
    return (f"POST /v1/messages HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
            f"anthropic-version: 2023-06-01\r\ncontent-length: {len(body)}\r\n"
            + ("connection: close\r\n" if close else "") + "\r\n").encode()


def dechunk(raw: bytes) -> tuple[int, bytes, bool]:
    """Status, de-chunked body, and whether the terminating chunk came."""
    top, _, rest = raw.partition(b"\r\n\r\n")
    status, body = int(top.split(b" ", 2)[1]), bytearray()
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return status, bytes(body), True
        body += rest[:size]
        rest = rest[size + 2:]
    return status, bytes(body), False


async def burst(url: str, payload: bytes, clients: int) -> list[bytes]:
    """`clients` connections opened first, then every request written at once; each one's raw answer."""
    parts = urlsplit(url)
    pairs = [await asyncio.open_connection(parts.hostname, parts.port) for _ in range(clients)]
    await asyncio.sleep(0.05)  # every connection accepted and waiting
    for _, writer in pairs:
        writer.write(head(url, payload) + payload)

    async def read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        try:
            return await reader.read(-1)
        finally:
            writer.close()

    return await asyncio.gather(*(read(r, w) for r, w in pairs))


def journal(url: str) -> list[dict[str, Any]]:
    return httpx2.get(f"{url}/_cassette/requests").json()["requests"]


@pytest.mark.parametrize("speed", [None, 8.0])
def test_a_burst_of_paced_streams_each_get_the_recorded_bytes(speed: float | None) -> None:
    payload = json.dumps(recorder.load(TEXT)[0].request.body.data).encode()  # type: ignore[union-attr]
    events = len(recorder.load(TEXT)[0].events)
    with serve(TEXT, speed=speed) as url:
        answers = run(burst(url, payload, 40))
        entries = journal(url)
    assert [dechunk(raw) for raw in answers] == [(200, expected_body(TEXT), True)] * 40
    assert len(entries) == 40
    assert all(e["outcome"] == "complete" and e["events"] == events and e["status"] == 200 for e in entries)


def test_a_drop_in_a_burst_still_ends_without_the_terminating_chunk() -> None:
    payload = json.dumps(recorder.load(DROPPED)[0].request.body.data).encode()  # type: ignore[union-attr]
    with serve(DROPPED, speed=8.0) as url:
        answers = run(burst(url, payload, 10))
        entries = journal(url)
    for raw in answers:
        status, body, terminated = dechunk(raw)
        assert status == 200 and not terminated and body == expected_body(DROPPED)
    assert {e["outcome"] for e in entries} == {"broken"}


def test_a_request_split_over_two_writes_is_read_whole() -> None:
    """The first read (taken over for its kernel timestamp) gets only the headers; the transport reads the rest."""
    payload = json.dumps(recorder.load(TEXT)[0].request.body.data).encode()  # type: ignore[union-attr]
    with serve(TEXT) as url:
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port)) as sock:
            time.sleep(0.05)
            sock.sendall(head(url, payload))
            time.sleep(0.1)
            sock.sendall(payload)
            raw = b"".join(iter(lambda: sock.recv(65536), b""))
    assert dechunk(raw) == (200, expected_body(TEXT), True)


def test_kept_alive_connections_answer_request_after_request() -> None:
    """After the first request (read by the server itself), the connection's transport reads the next ones."""
    with serve(TEXT, speed=50.0) as url, httpx2.Client(base_url=url) as http:
        bodies = [http.post("/v1/messages", json=recorder.load(TEXT)[0].request.body.data,  # type: ignore[union-attr]
                            headers={"anthropic-version": "2023-06-01"}).content for _ in range(3)]
    assert bodies == [expected_body(TEXT)] * 3


def test_clients_that_leave_before_asking_do_not_disturb_the_server() -> None:
    payload = json.dumps(recorder.load(TEXT)[0].request.body.data).encode()  # type: ignore[union-attr]
    with serve(TEXT) as url:
        parts = urlsplit(url)
        for reset in (False, True):
            sock = socket.create_connection((parts.hostname, parts.port))
            time.sleep(0.05)  # accepted: its first read is waited for
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        answers = run(burst(url, payload, 3))
        entries = journal(url)
    assert [dechunk(raw) for raw in answers] == [(200, expected_body(TEXT), True)] * 3
    assert len(entries) == 3  # the silent clients made no request


def test_a_client_leaving_mid_stream_is_journaled_as_disconnected() -> None:
    payload = json.dumps(recorder.load(TEXT)[0].request.body.data).encode()  # type: ignore[union-attr]
    events = len(recorder.load(TEXT)[0].events)
    with serve(TEXT, speed=1.0) as url:
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port)) as sock:
            sock.sendall(head(url, payload) + payload)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        deadline = time.monotonic() + 10
        while not (entries := journal(url)) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(entries) == 1 and entries[0]["outcome"] == "disconnected" and entries[0]["events"] < events


def test_a_replay_stream_knows_when_its_last_chunk_was_yielded() -> None:
    """What lets the server send the last chunk and the body's end together: never early, never after an error."""
    cassette = recorder.load(TEXT)
    dropped = recorder.load(DROPPED)

    async def ends(stream: ReplayStream) -> list[bool]:
        return [stream.at_end() async for _ in stream]

    clean = run(ends(ReplayStream(script_of(cassette, cassette[0]), None, RealClock())))
    assert clean == [False] * (len(clean) - 1) + [True]
    broken = ReplayStream(script_of(dropped, dropped[0]), None, RealClock())
    with pytest.raises(httpx2.RemoteProtocolError):
        run(ends(broken))
    assert not broken.at_end()
