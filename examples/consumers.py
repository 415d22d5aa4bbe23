"""Streaming consumers with the bugs people really write, for `cassette fuzz` to find.

Each function takes an anthropic client (what `cassette fuzz` hands it: a FakeAnthropic replaying
a generated stream), makes its request and consumes the stream. `robust_tool_input` is the
fixed version of `naive_tool_input`; every other consumer hides one bug:

    cassette fuzz examples.consumers:naive_tool_input -n 200 --seed 1

- naive_tool_input      every input_json_delta of the response into one buffer (two tool calls)
- first_block_is_text   reads message.content[0].text (thinking first, a tool call, no content)
- strict_dispatch       a handler per event type, KeyError on a type it does not know
- normalize_each_delta  NFC-normalises each text delta on its own (a combining mark split off)
- decode_each_chunk     relays the raw body, decoding each network read on its own (UTF-8 split)

Pings cannot break a consumer written against the SDK: it drops them before any code sees them.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import anthropic

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
REQUEST: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 1024,
    "tools": [WEATHER_TOOL],
    "messages": [{"role": "user", "content": "What is the weather in Paris and in Tokyo?"}],
}


def naive_tool_input(client: anthropic.Anthropic) -> tuple[str, Any]:
    """The tool-use loop many guides teach: it works until Claude calls two tools in one turn."""
    parts: list[str] = []
    text: list[str] = []
    block_type = None
    with client.messages.create(**REQUEST, stream=True) as stream:
        for event in stream:
            if event.type == "content_block_start":
                block_type = event.content_block.type
            elif event.type == "content_block_delta":
                if block_type == "tool_use" and event.delta.type == "input_json_delta":
                    parts.append(event.delta.partial_json)  # BUG: one buffer for every tool call
                elif event.delta.type == "text_delta":
                    text.append(event.delta.text)
    tool_input = json.loads("".join(parts)) if parts else None
    return "".join(text), tool_input


def robust_tool_input(client: anthropic.Anthropic) -> tuple[str, list[Any]]:
    """The fix: one buffer per content block, keyed by the event's index."""
    buffers: dict[int, list[str]] = {}
    text: list[str] = []
    with client.messages.create(**REQUEST, stream=True) as stream:
        for event in stream:
            if event.type == "content_block_start" and event.content_block.type == "tool_use":
                buffers[event.index] = []
            elif event.type == "content_block_delta":
                if event.delta.type == "input_json_delta" and event.index in buffers:
                    buffers[event.index].append(event.delta.partial_json)
                elif event.delta.type == "text_delta":
                    text.append(event.delta.text)
    inputs = [json.loads("".join(parts)) if "".join(parts) else {} for _, parts in sorted(buffers.items())]
    return "".join(text), inputs


def first_block_is_text(client: anthropic.Anthropic) -> str:
    """Assumes the answer starts with a text block."""
    with client.messages.stream(**REQUEST) as stream:
        message = stream.get_final_message()
    return message.content[0].text  # type: ignore[union-attr]  # BUG: thinking, tool_use, or no content


_SEEN: dict[str, int] = {}


def _count(kind: str) -> None:
    _SEEN[kind] = _SEEN.get(kind, 0) + 1


HANDLERS = {name: (lambda event, name=name: _count(name)) for name in (
    "message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta",
    "message_stop")}


def strict_dispatch(client: anthropic.Anthropic) -> None:
    """A handler table over the raw events: fine for today's six event types only."""
    with client.messages.create(**REQUEST, stream=True) as stream:
        for event in stream:
            HANDLERS[event.type](event)  # BUG: a new event type is a KeyError


def normalize_each_delta(client: anthropic.Anthropic) -> str:
    """Shows each text delta NFC-normalised, then checks the display against the final text."""
    shown: list[str] = []
    with client.messages.stream(**REQUEST) as stream:
        for text in stream.text_stream:
            shown.append(unicodedata.normalize("NFC", text))  # BUG: a combining mark may come in the next delta
        message = stream.get_final_message()
    final = unicodedata.normalize("NFC", "".join(b.text for b in message.content if b.type == "text"))
    if "".join(shown) != final:
        raise AssertionError(f"display {''.join(shown)!a} differs from the final text {final!a}")
    return final


def decode_each_chunk(client: anthropic.Anthropic) -> str:
    """Relays the raw SSE body to a browser, decoding each network read as it comes."""
    out: list[str] = []
    with client.messages.with_streaming_response.create(**REQUEST, stream=True) as response:
        for chunk in response.iter_bytes():
            out.append(chunk.decode("utf-8"))  # BUG: a read can end inside a multi-byte character
    return "".join(out)


async def async_naive_tool_input(client: anthropic.AsyncAnthropic) -> Any:
    """`naive_tool_input` for AsyncAnthropic (`cassette fuzz` hands coroutine functions an async client)."""
    parts: list[str] = []
    block_type = None
    async with await client.messages.create(**REQUEST, stream=True) as stream:
        async for event in stream:
            if event.type == "content_block_start":
                block_type = event.content_block.type
            elif event.type == "content_block_delta" and block_type == "tool_use" \
                    and event.delta.type == "input_json_delta":
                parts.append(event.delta.partial_json)
    return json.loads("".join(parts)) if parts else None
