"""A bounded soak of a real `cassette serve` on 127.0.0.1 (issue 12): matches, misses, 5 MB bodies,
malformed requests, clients leaving mid-body and mid-stream, sessions and resets, in rounds.
No crash, no traceback, flat file descriptors and memory, and a match answered promptly while
a large miss is being explained."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import anthropic
import httpx2
import pytest

import recorder
from tests.helpers import CASSETTES, cli_server, conversation, conversations, observe

HEADERS = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
ROUNDS = 6
# Memory: on main this test once saw RSS go 143 -> 225 MB over 5 rounds (139 -> 273 MB over 12).
# Two causes. A leak: each miss's traceback held the request's frames, so its body (5 MB here),
# in a cycle through the anyio worker's future, freed only by a rare full collection (the start-up
# heap is frozen out of the collector); gc.collect() in the server gave back ~40 MB. Fixed in
# ReplayApp._answer (test_a_miss_leaves_no_cycle_holding_its_request_body); since then 124 ->
# 142 MB over 7 rounds. And allocator retention: matching runs in worker threads, each with a
# glibc malloc arena of its own that keeps what a 5 MB body once needed (steps of ~20 MB, which
# malloc_trim(0) gives back). So the server runs with two arenas here, and the criterion is that
# growth flattens once warmed up: a leak grows linearly with rounds (keeping the 5 MB body each
# round sends twice is >= 10 MB a round); the bounded journal (1,000 entries) and retention do not.
ARENAS = "2"
LATER_GROWTH_MB = 5.0
"""The most RSS may grow in the median round of the later half (retention steps of ~10-20 MB come once)."""


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, int]]:
    """`cassette serve` on a folder of 202 interactions, paced (20x) so that streams can be left midway."""
    monkeypatch.setenv("MALLOC_ARENA_MAX", ARENAS)  # see the comment on ARENAS
    folder = tmp_path / "cassettes"
    folder.mkdir()
    for name in ("text.jsonl", "tool_use.jsonl"):
        (folder / name).write_bytes((CASSETTES / name).read_bytes())
    recorder.save(conversations(200), folder / "conversations.jsonl")
    printed: list[str] = []
    started: list[subprocess.Popen[str]] = []
    with cli_server("serve", str(folder), "--speed", "20", "--quiet", stderr=printed, started=started) as url:
        yield url, started[0].pid
    # --quiet: no request log; what is left is uvicorn's one line per request that is not HTTP.
    assert "Traceback" not in printed[0]
    assert set(printed[0].splitlines()) <= {"Invalid HTTP request received."}


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def raw(url: str, data: bytes, *, read: bool = True) -> bytes:
    """Send `data` on a fresh socket; read what comes back until the server closes or 2 s pass."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=2) as sock:
        sock.sendall(data)
        if not read:
            return b""
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except TimeoutError:
            pass
        return out


def one_round(url: str, big: bytes) -> None:
    sdk = anthropic.Anthropic(base_url=url, api_key="sk-ant-test-not-a-key", max_retries=0)
    text = recorder.load(CASSETTES / "text.jsonl")[0].request.body.data  # type: ignore[union-attr]
    with httpx2.Client(base_url=url, timeout=30) as http:
        for n in range(20):  # matches, over the SDK and raw
            assert observe(lambda: sdk, "stream", {k: v for k, v in text.items() if k != "stream"}).error is None
            assert http.post("/v1/messages", json=conversation(n * 7), headers=HEADERS).status_code == 200
        for n in range(10):  # misses
            miss = http.post("/v1/messages", json={**conversation(n), "max_tokens": n}, headers=HEADERS)
            assert miss.status_code == 404 and "Closest:" in miss.json()["error"]["message"]
        for body in (b"{not json", b"\xff\xfe\x00garbage", b"[" * 100_000, json.dumps([1, 2]).encode()):
            assert http.post("/v1/messages", content=body, headers=HEADERS).status_code == 400  # as the API
        assert http.post("/v1/messages", content=b"", headers=HEADERS).status_code == 404
        assert http.get("/v1/messages").status_code == 404
        assert http.post("/v1/messages", content=big, headers=HEADERS).status_code == 404
        assert http.post("/v1/messages", json=conversation(3), headers={**HEADERS, "x-cassette-session": "s"}
                         ).status_code == 200
        assert http.post("/_cassette/reset").status_code == 200
        assert len(http.get("/_cassette/requests", params={"limit": 5}).json()["requests"]) == 5
        for _ in range(5):  # clients leaving mid-stream
            with http.stream("POST", "/v1/messages", json=text, headers=HEADERS) as response:
                next(response.iter_raw())
    for _ in range(5):  # not HTTP, a body cut short, a header block cut short
        raw(url, b"NOT HTTP AT ALL\r\n\r\n")
        raw(url, b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: 9999\r\n\r\n{\"a\"", read=False)
        raw(url, b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-le", read=False)


def test_serve_soak(server: tuple[str, int]) -> None:
    url, pid = server
    big = json.dumps({**conversation(39), "padding": ["notes " * 30] * 28_000}).encode()
    assert len(big) > 5_000_000
    slowest = 0.0
    rss: list[float] = []  # after each round
    for n in range(ROUNDS + 1):  # round 0 warms up: imports, caches, the allocator's arenas for 5 MB bodies
        if n == 1:
            time.sleep(0.3)
            fds_before = fds(pid)
        explaining = threading.Thread(target=lambda: httpx2.post(f"{url}/v1/messages", content=big,
                                                                 headers=HEADERS, timeout=60))
        explaining.start()
        while explaining.is_alive():
            started = time.monotonic()
            assert httpx2.post(f"{url}/v1/messages", json=conversation(1), headers=HEADERS).status_code == 200
            slowest = max(slowest, time.monotonic() - started)
        one_round(url, big)
        time.sleep(0.1)
        rss.append(rss_mb(pid))
        print(f"round {n}: {fds(pid)} fds, {rss[-1]:.0f} MB")
    time.sleep(0.3)
    journal = httpx2.get(f"{url}/_cassette/requests").json()
    assert journal["meta"]["total"] > ROUNDS * 60 and journal["meta"]["kept"] <= 1000
    assert fds(pid) <= fds_before + 4, "file descriptors leak"
    # The median step: a leak grows every round, while the allocator's retention comes as one step.
    later = sorted(b - a for a, b in zip(rss[len(rss) // 2:], rss[len(rss) // 2 + 1:]))
    growth = later[len(later) // 2]
    assert growth < LATER_GROWTH_MB, f"memory grows {growth:.1f} MB a round: {' -> '.join(f'{r:.0f}' for r in rss)}"
    assert rss[-1] < rss[0] + 60, f"memory grows: {rss[0]:.0f} -> {rss[-1]:.0f} MB"
    assert slowest < 3.0  # generous: a match never waits for a miss's explanation
