"""Upstream error responses must not leak connections while recording (issue 12, item 7).

The recorder reads a 4xx/5xx body at once (so the cassette has it even when the SDK retries
without reading it); the upstream response must still be closed, or every error keeps one
pooled connection and two file descriptors, and the proxy stops after the pool's 100.
"""

from __future__ import annotations

import os
from pathlib import Path

import anthropic
import httpx2

import recorder
from replayer import Reply, ScriptedUpstream
from tests.helpers import BODY

ERRORS = 160  # more than httpx2's default pool of 100 connections
ERROR = {"type": "error", "error": {"type": "api_error", "message": "upstream is failing"}}


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def errors_through_proxy(directory: Path, errors: int = ERRORS) -> int:
    """Send `errors` requests the upstream fails through a real proxy; return how much the open fds varied."""
    out = directory / "errors.jsonl"
    replies = [Reply.json(500 if i % 2 else 429, ERROR) for i in range(errors)]
    with ScriptedUpstream(replies) as upstream, recorder.proxy(out, upstream=upstream.base_url) as url:
        with httpx2.Client(base_url=url, timeout=10) as client:
            counts = []
            for i in range(errors):
                response = client.post("/v1/messages", json=BODY, headers={"anthropic-version": "2023-06-01"})
                assert response.status_code in (429, 500) and response.json() == ERROR, i
                counts.append(open_fds())
    cassette = recorder.load(out)
    assert len(cassette) == errors
    assert all(i.outcome == "complete" and i.body.payload.data == ERROR for i in cassette)  # type: ignore[union-attr]
    return max(counts[20:]) - min(counts[20:])


def test_the_proxy_survives_any_number_of_upstream_errors_with_flat_file_descriptors(tmp_path: Path) -> None:
    assert errors_through_proxy(tmp_path) <= 4, "file descriptors grew with the upstream errors"


def test_recording_transport_gives_error_connections_back_to_the_pool(tmp_path: Path) -> None:
    replies = [Reply.json(500, ERROR) for _ in range(ERRORS)]
    limits = httpx2.Limits(max_connections=2, max_keepalive_connections=2)
    with ScriptedUpstream(replies) as upstream:
        transport = recorder.RecordingTransport(tmp_path / "sdk.jsonl", httpx2.HTTPTransport(limits=limits))
        client = anthropic.Anthropic(api_key="k", base_url=upstream.base_url, max_retries=0, timeout=5,
                                     http_client=httpx2.Client(transport=transport))
        for _ in range(ERRORS // 20):  # with 2 pooled connections, a leak fails on the third error
            try:
                client.messages.create(**BODY)
            except anthropic.InternalServerError:
                pass
        transport.close()
        assert len({r.connection for r in upstream.requests}) <= 2
