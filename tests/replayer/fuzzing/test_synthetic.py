"""replayer.fuzzing._synthetic: every builder's stream, served to the real SDK, assembles the expected Message."""

from __future__ import annotations

import json

import anthropic
import httpx2
import pytest

from recorder import SSEDecoder
from replayer.fuzzing._synthetic import (
    error_event,
    message,
    split,
    sse_bytes,
    text_block,
    text_message,
    thinking_message,
    tool_use_message,
)

NEWLINES = pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
TEXT = "The quick brown fox jumps over the lazy dog. Then it rests, content — ünïcödé and all."
WEATHER = {"location": "Paris, France", "unit": "celsius", "nested": {"days": [1, 2, 3], "note": "« ok »"}}


def client_for(body: bytes) -> anthropic.Anthropic:
    """A real SDK client whose every request is answered with `body` as an SSE stream."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    http_client = httpx2.Client(transport=httpx2.MockTransport(handler))
    return anthropic.Anthropic(api_key="x", max_retries=0, http_client=http_client)


def final_message(body: bytes) -> anthropic.types.Message:
    client = client_for(body)
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=256,
                                messages=[{"role": "user", "content": "hi"}]) as stream:
        return stream.get_final_message()


@NEWLINES
def test_text_message(newline: str) -> None:
    events = text_message(TEXT, msg_id="msg_x", input_tokens=42)
    msg = final_message(sse_bytes(events, newline=newline))
    assert msg.id == "msg_x"
    assert msg.model == "claude-haiku-4-5"
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == TEXT
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens == 42
    assert msg.usage.output_tokens == len(TEXT) // 4 + 1
    assert msg.usage.cache_read_input_tokens == 0
    assert msg.usage.cache_creation is not None and msg.usage.cache_creation.ephemeral_5m_input_tokens == 0


@NEWLINES
def test_text_message_pieces_and_no_ping(newline: str) -> None:
    events = text_message(TEXT, pieces=5, ping=False, stop_reason="max_tokens")
    deltas = [d for name, d in events if name == "content_block_delta"]
    assert len(deltas) == 5
    assert "ping" not in [name for name, _ in events]
    msg = final_message(sse_bytes(events, newline=newline))
    assert msg.content[0].text == TEXT
    assert msg.stop_reason == "max_tokens"


@NEWLINES
@pytest.mark.parametrize("preamble", [None, "Let me check the weather."])
def test_tool_use_message(newline: str, preamble: str | None) -> None:
    events = tool_use_message("get_weather", WEATHER, preamble=preamble, tool_id="toolu_x", fragments=7)
    fragments = [d["delta"]["partial_json"] for name, d in events if name == "content_block_delta"
                 and d["delta"]["type"] == "input_json_delta"]
    assert len(fragments) == 7
    assert "".join(fragments) == json.dumps(WEATHER)
    msg = final_message(sse_bytes(events, newline=newline))
    *before, tool = msg.content
    assert [b.text for b in before] == ([] if preamble is None else [preamble])
    assert tool.type == "tool_use"
    assert (tool.id, tool.name, tool.input) == ("toolu_x", "get_weather", WEATHER)
    assert msg.stop_reason == "tool_use"


@NEWLINES
def test_thinking_message(newline: str) -> None:
    thinking = "The user greets me. A short, friendly reply is best."
    events = thinking_message(thinking, "Hello! How can I help?", signature="sig-123")
    deltas = [d["delta"]["type"] for name, d in events if name == "content_block_delta" and d["index"] == 0]
    assert deltas[-1] == "signature_delta" and set(deltas[:-1]) == {"thinking_delta"}
    msg = final_message(sse_bytes(events, newline=newline))
    first, second = msg.content
    assert (first.type, first.thinking, first.signature) == ("thinking", thinking, "sig-123")
    assert (second.type, second.text) == ("text", "Hello! How can I help?")
    assert msg.stop_reason == "end_turn"


def test_thinking_default_signature() -> None:
    msg = final_message(sse_bytes(thinking_message("hmm", "ok")))
    assert msg.content[0].signature == "EqQBCkYIBxgCKkB...synthetic"


@NEWLINES
def test_error_event_breaks_the_stream(newline: str) -> None:
    events = text_message(TEXT)[:5] + [error_event()]
    client = client_for(sse_bytes(events, newline=newline))
    seen = []
    with pytest.raises(anthropic.APIStatusError) as info:
        with client.messages.stream(model="claude-haiku-4-5", max_tokens=64,
                                    messages=[{"role": "user", "content": "hi"}]) as stream:
            seen.extend(stream.text_stream)
    assert info.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert "".join(seen) == "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")


def test_error_event_shape() -> None:
    assert error_event("api_error", "boom") == ("error", {"type": "error", "error": {"type": "api_error",
                                                                                  "message": "boom"}})


def test_message_composes_blocks() -> None:
    events = message(text_block("a b"), text_block("c"), model="claude-sonnet-4-5", output_tokens=9)
    msg = final_message(sse_bytes(events))
    assert [b.text for b in msg.content] == ["a b", "c"]
    assert msg.model == "claude-sonnet-4-5" and msg.usage.output_tokens == 9


@pytest.mark.parametrize("pieces", [None, 1, 3, 1000])
def test_split_round_trips(pieces: int | None) -> None:
    for text in ["", "x", "  leading and trailing  ", TEXT, "a\nb\n\nc"]:
        parts = split(text, pieces)
        assert "".join(parts) == text
        assert all(parts)


@NEWLINES
def test_sse_bytes_framing(newline: str) -> None:
    events = text_message("hi there")
    data = sse_bytes(events, newline=newline)
    assert data.count(b"\r\n") == (3 * len(events) if newline == "\r\n" else 0)
    decoded = SSEDecoder().decode(data)
    assert [(e.event, json.loads(e.data)) for e in decoded] == events
