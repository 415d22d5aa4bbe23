"""ScriptedUpstream driven by the real anthropic SDK and raw httpx2, on 127.0.0.1 only."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import anthropic
import httpx2
import pytest

from replayer.server._upstream import Chunk, Reply, ScriptedUpstream, sse

MODEL = "claude-haiku-4-5"  # not in the SDK's DEPRECATED_MODELS, so no DeprecationWarning
TEXTS = ("Hello", ", ", "world", "!")


def message_events(texts: tuple[str, ...] = TEXTS, msg_id: str = "msg_01") -> list[bytes]:
    """A protocol-valid SSE event sequence for a single text block."""
    events = [
        sse("message_start", {
            "type": "message_start",
            "message": {
                "id": msg_id, "type": "message", "role": "assistant", "model": MODEL, "content": [],
                "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": 12, "output_tokens": 1},
            },
        }),
        sse("content_block_start", {"type": "content_block_start", "index": 0,
                                    "content_block": {"type": "text", "text": ""}}),
        sse("ping", {"type": "ping"}),
    ]
    events += [
        sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                    "delta": {"type": "text_delta", "text": t}})
        for t in texts
    ]
    events += [
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse("message_delta", {"type": "message_delta",
                              "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                              "usage": {"output_tokens": 7}}),
        sse("message_stop", {"type": "message_stop"}),
    ]
    return events


def stream_reply(events: list[bytes], **kwargs: object) -> Reply:
    return Reply(chunks=tuple(Chunk(e) for e in events), **kwargs)  # type: ignore[arg-type]


def rate_limited() -> Reply:
    error = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    return Reply.json(429, error, headers=(("retry-after", "1"), ("retry-after-ms", "1")))


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as up:
        yield up


def sdk(upstream: ScriptedUpstream, **kwargs: object) -> anthropic.Anthropic:
    kwargs.setdefault("max_retries", 0)
    return anthropic.Anthropic(api_key="test", base_url=upstream.base_url, **kwargs)  # type: ignore[arg-type]


def ask(client: anthropic.Anthropic) -> anthropic.types.Message:
    with client.messages.stream(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}]) as s:
        return s.get_final_message()


def test_sdk_assembles_clean_stream(upstream: ScriptedUpstream) -> None:
    upstream.add(stream_reply(message_events()))
    with sdk(upstream) as client:
        message = ask(client)
    assert message.id == "msg_01"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Hello, world!"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 7)
    [request] = upstream.requests
    assert (request.method, request.path) == ("POST", "/v1/messages")
    # SDK 2.14 sends api_key= as a bearer token, not as x-api-key.
    assert request.headers["authorization"] == "Bearer test"
    assert "x-api-key" not in request.headers
    assert request.headers["anthropic-version"]
    assert request.json()["stream"] is True
    assert request.json()["messages"] == [{"role": "user", "content": "hi"}]


def test_abort_raises_remote_protocol_error_after_delivered_text(upstream: ScriptedUpstream) -> None:
    upstream.add(stream_reply(message_events()[:5], ending="abort"))  # start, block start, ping, 2 deltas
    received: list[str] = []
    with sdk(upstream) as client:
        with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
            with client.messages.stream(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}]) as s:
                for text in s.text_stream:
                    received.append(text)
    assert received == ["Hello", ", "]
    assert len(upstream.requests) == 1


def test_rate_limit_without_retries_raises(upstream: ScriptedUpstream) -> None:
    upstream.add(rate_limited())
    with sdk(upstream) as client, pytest.raises(anthropic.RateLimitError) as info:
        ask(client)
    assert info.value.status_code == 429
    assert info.value.body == {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    assert info.value.response.headers["retry-after"] == "1"


def test_sdk_retries_through_rate_limits(upstream: ScriptedUpstream) -> None:
    upstream.add(rate_limited(), rate_limited(), stream_reply(message_events()))
    with sdk(upstream, max_retries=2) as client:
        message = ask(client)
    assert message.content[0].text == "Hello, world!"  # type: ignore[union-attr]
    assert len(upstream.requests) == 3
    assert [r.headers.get("x-stainless-retry-count") for r in upstream.requests] == ["0", "1", "2"]


def test_sdk_reuses_connection(upstream: ScriptedUpstream) -> None:
    upstream.add(stream_reply(message_events(msg_id="msg_a")), stream_reply(message_events(msg_id="msg_b")))
    with sdk(upstream) as client:
        assert ask(client).id == "msg_a"
        assert ask(client).id == "msg_b"
    assert [r.connection for r in upstream.requests] == [1, 1]


def test_exhausted_script_answers_500_without_retry(upstream: ScriptedUpstream) -> None:
    with sdk(upstream, max_retries=3) as client, pytest.raises(anthropic.InternalServerError, match="exhausted"):
        ask(client)
    assert len(upstream.requests) == 1  # x-should-retry: false stopped the SDK


def test_raw_chunks_arrive_separately_on_schedule(upstream: ScriptedUpstream) -> None:
    parts = [b"one", b"two", b"three"]
    upstream.add(Reply(chunks=tuple(Chunk(p, delay=0.05) for p in parts)))
    with httpx2.Client(base_url=upstream.base_url) as client:
        start = time.monotonic()
        with client.stream("POST", "/v1/messages", content=b"{}") as response:
            assert response.headers["transfer-encoding"] == "chunked"
            arrivals = [(raw, time.monotonic() - start) for raw in response.iter_raw()]
    assert [raw for raw, _ in arrivals] == parts
    for i, (_, at) in enumerate(arrivals, start=1):
        assert 0.05 * i - 0.01 <= at < 0.05 * i + 0.04
    assert upstream.requests[0].body == b"{}"


def test_raw_json_reply_and_keep_alive(upstream: ScriptedUpstream) -> None:
    upstream.add(Reply.json(200, {"n": 1}), Reply.json(201, {"n": 2}, headers=(("x-extra", "yes"),)))
    with httpx2.Client(base_url=upstream.base_url) as client:
        first = client.get("/a")
        second = client.post("/b", json={"q": 1})
    assert (first.status_code, first.json()) == (200, {"n": 1})
    assert (second.status_code, second.json(), second.headers["x-extra"]) == (201, {"n": 2}, "yes")
    assert "transfer-encoding" not in second.headers
    assert [r.connection for r in upstream.requests] == [1, 1]
    assert upstream.requests[1].json() == {"q": 1}


def test_stall_times_out_client_and_close_is_prompt() -> None:
    upstream = ScriptedUpstream([Reply(chunks=(Chunk(b"partial"),), ending="stall")] * 2).__enter__()
    try:
        with httpx2.Client(base_url=upstream.base_url, timeout=httpx2.Timeout(5.0, read=0.1)) as client:
            with client.stream("GET", "/") as response:
                chunks = response.iter_raw()
                assert next(chunks) == b"partial"
                with pytest.raises(httpx2.ReadTimeout):
                    next(chunks)

        # A second, still-stalled connection must not hold close() up; the client sees the drop.
        errors: list[BaseException] = []
        got_first = threading.Event()

        def read_forever() -> None:
            try:
                with httpx2.Client(base_url=upstream.base_url, timeout=5.0) as client:
                    with client.stream("GET", "/") as response:
                        for _ in response.iter_raw():
                            got_first.set()
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                errors.append(exc)

        reader = threading.Thread(target=read_forever, daemon=True)
        reader.start()
        assert got_first.wait(2.0)
    finally:
        start = time.monotonic()
        upstream.close()
        assert time.monotonic() - start < 0.5
    reader.join(2.0)
    assert not reader.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], httpx2.RemoteProtocolError)
