"""Record, then replay: what the SDK gives the app is identical to what it gave on the original bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest

import recorder
from replayer.fuzzing._synthetic import error_event, sse_bytes, text_message, thinking_message, tool_use_message
from tests.helpers import (
    BODY,
    Upstream,
    aobserve,
    async_direct,
    async_recording,
    direct,
    json_reply,
    observe,
    recording,
    replayer,
    run,
    sse_reply,
)

TEXT = text_message("Bonjour 👋 — naïve café, 日本語 too. " * 3)
TOOL = tool_use_message("get_weather", {"location": "Paris, \"France\"", "unit": "celsius", "n": [1, 2.5, None]},
                        preamble="Let me check.")
THINKING = thinking_message("First, consider the question carefully.", "The answer is 42.")
MESSAGE = json.dumps({
    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
    "content": [{"type": "text", "text": "Hello!"}], "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 5, "output_tokens": 2},
}).encode()
OVERLOADED = json.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}).encode()
DROP = httpx2.RemoteProtocolError("peer closed connection without sending complete message body (incomplete chunked read)")
ODD = (b": keep-alive comment\n\n" + sse_bytes(TEXT[:2]) + b"event: future_event\ndata: {\"type\": \"future_event\"}\n\n"
       + b"event: ping\ndata: {\"type\": \"ping\"}\n\n" + sse_bytes(TEXT[2:]))

STREAMS: dict[str, Callable[[], list]] = {
    "text": lambda: [sse_reply(sse_bytes(TEXT))],
    "tool_use": lambda: [sse_reply(sse_bytes(TOOL))],
    "thinking": lambda: [sse_reply(sse_bytes(THINKING))],
    "crlf_cut_every_7_bytes": lambda: [sse_reply(sse_bytes(TEXT, newline="\r\n"), per_chunk=7)],
    "byte_by_byte": lambda: [sse_reply(sse_bytes(TOOL), per_chunk=1)],
    "comments_unknown_events_pings": lambda: [sse_reply(ODD, per_chunk=13)],
    "error_event": lambda: [sse_reply(sse_bytes([*TEXT[:5], error_event()]))],
    "truncated": lambda: [sse_reply(sse_bytes(TEXT[:-2]))],  # no message_delta, no message_stop
    "cut_mid_event": lambda: [sse_reply(sse_bytes(TEXT), cut=len(sse_bytes(TEXT[:6])) + 20)],
    "dropped": lambda: [sse_reply(sse_bytes(TEXT[:6]), error=DROP)],
    "529_twice_then_ok": lambda: [json_reply(529, OVERLOADED, **{"retry-after-ms": "1"})] * 2
    + [sse_reply(sse_bytes(TEXT))],
}


@pytest.mark.parametrize("how", ["stream", "create-stream"])
@pytest.mark.parametrize("name", sorted(STREAMS))
def test_sync_stream_round_trip(tmp_path: Path, name: str, how: str) -> None:
    path = tmp_path / "c.jsonl"
    original = observe(lambda: direct(Upstream(STREAMS[name]())), how)
    assert observe(lambda: recording(Upstream(STREAMS[name]()), path), how) == original  # stream-through
    assert observe(lambda: replayer.FakeAnthropic(path), how) == original
    assert original.events, "the SDK saw events"


@pytest.mark.parametrize("how", ["stream", "create-stream"])
@pytest.mark.parametrize("name", ["text", "tool_use", "crlf_cut_every_7_bytes", "error_event", "dropped",
                                  "529_twice_then_ok"])
def test_async_stream_round_trip(tmp_path: Path, name: str, how: str) -> None:
    path = tmp_path / "c.jsonl"
    original = run(aobserve(lambda: async_direct(Upstream(STREAMS[name]())), how))
    assert run(aobserve(lambda: async_recording(Upstream(STREAMS[name]()), path), how)) == original
    assert run(aobserve(lambda: replayer.FakeAsyncAnthropic(path), how)) == original


NON_STREAMING = {
    "create": ("create", lambda: [json_reply(200, MESSAGE)]),
    "count_tokens": ("count", lambda: [json_reply(200, b'{"input_tokens": 12}')]),
    "rate_limited_no_retries": ("create", lambda: [json_reply(
        429, b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}', **{"retry-after": "3"})]),
}


@pytest.mark.parametrize("name", sorted(NON_STREAMING))
def test_non_streaming_round_trip(tmp_path: Path, name: str) -> None:
    how, replies = NON_STREAMING[name]
    path = tmp_path / "c.jsonl"
    original = observe(lambda: direct(Upstream(replies()), max_retries=0), how)
    assert observe(lambda: recording(Upstream(replies()), path, max_retries=0), how) == original
    assert observe(lambda: replayer.FakeAnthropic(path, max_retries=0), how) == original
    assert run(aobserve(lambda: replayer.FakeAsyncAnthropic(path, max_retries=0), how)) == original


@pytest.mark.parametrize(("name", "outcome", "error"), [
    ("text", "complete", None),
    ("error_event", "error_event", None),
    ("truncated", "truncated", None),
    ("dropped", "disconnected", "httpx2.RemoteProtocolError"),
])
def test_outcome_is_recorded(tmp_path: Path, name: str, outcome: str, error: str | None) -> None:
    path = tmp_path / "c.jsonl"
    observe(lambda: recording(Upstream(STREAMS[name]()), path), "create-stream")
    [interaction] = recorder.load(path).interactions
    assert interaction.outcome == outcome
    assert (interaction.end.error and interaction.end.error.type) == error


def test_truncated_stream_ends_silently_with_no_stop_reason(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    observe(lambda: recording(Upstream(STREAMS["truncated"]()), path), "stream")
    seen = observe(lambda: replayer.FakeAnthropic(path), "stream")
    assert seen.error is None
    assert seen.final["stop_reason"] is None


def test_unfinished_event_bytes_are_kept_and_replayed(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    observe(lambda: recording(Upstream(STREAMS["cut_mid_event"]()), path), "create-stream")
    [interaction] = recorder.load(path).interactions
    assert interaction.end.tail and interaction.end.tail == "event: content_block"


def test_retried_calls_are_separate_interactions_replayed_in_order(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    upstream = Upstream(STREAMS["529_twice_then_ok"]())
    observe(lambda: recording(upstream, path), "stream")
    cassette = recorder.load(path)
    assert [i.response.status for i in cassette] == [529, 529, 200]
    client = replayer.FakeAnthropic(path)
    observe(lambda: client, "stream")
    assert [i.id for i in replayer.transport_of(client).calls] == [0, 1, 2]


def test_request_and_interaction_details_are_recorded(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    observe(lambda: recording(Upstream(STREAMS["text"]()), path), "stream")
    [interaction] = recorder.load(path).interactions
    assert interaction.request.method == "POST"
    assert interaction.request.path == "/v1/messages"
    assert interaction.request.body.data == {**BODY, "stream": True}
    assert interaction.request.headers["authorization"] == "REDACTED"
    assert interaction.response.status == 200
    assert interaction.response.headers["request-id"] == "req_test"
    assert [e.event for e in interaction.events][:2] == ["message_start", "content_block_start"]
    ts = [interaction.response.t] + [e.t for e in interaction.events] + [interaction.end.t]
    assert ts == sorted(ts)
