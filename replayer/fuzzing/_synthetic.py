"""Synthetic, protocol-valid Anthropic Messages API SSE streams.

Nothing here was recorded from the API: these builders produce event sequences with the
shapes the real API streams (checked against the anthropic SDK's `types/raw_*_event.py`,
`message.py`, `usage.py` and the delta types), so the real SDK assembles them into the
Message you would expect. Used for example cassettes, tests, benchmarks and fuzzing.

>>> events = text_message("Hello, world!")
>>> [name for name, _ in events][:3]
['message_start', 'content_block_start', 'ping']
>>> sse_bytes(events).startswith(b"event: message_start\\ndata: {")
True
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TypedDict

from typing_extensions import Unpack

Events = list[tuple[str, dict]]
"""(event name, data) pairs in wire order."""

Block = tuple[dict, list[dict]]
"""One content block: its `content_block_start` value and the `delta` values that fill it."""


class MessageOptions(TypedDict, total=False):
    """The keyword options of `message`, accepted by every message builder."""

    model: str
    msg_id: str
    input_tokens: int
    output_tokens: int | None
    stop_reason: str | None
    stop_sequence: str | None
    ping: bool
    usage: dict | None
    delta_usage: dict | None
    stop_details: dict | None

_WORD_BOUNDARY = re.compile(r"(?<=\s)(?=\S)")
_GROUPS = (2, 1, 3, 1, 2)  # words per fragment, cycled: deterministic, uneven like real tokens


def split(text: str, pieces: int | None = None) -> list[str]:
    """Cut `text` into fragments that join back to it: `pieces` near-equal ones, else chunks of 1-3 words.

    Empty text gives no fragments.
    """
    if not text:
        return []
    if pieces is not None:
        n = max(1, min(pieces, len(text)))
        cuts = [round(i * len(text) / n) for i in range(n + 1)]
        return [text[a:b] for a, b in zip(cuts, cuts[1:])]
    words = _WORD_BOUNDARY.split(text)
    fragments, i = [], 0
    while i < len(words):
        size = _GROUPS[len(fragments) % len(_GROUPS)]
        fragments.append("".join(words[i:i + size]))
        i += size
    return fragments


def text_block(text: str, *, pieces: int | None = None) -> Block:
    """A text block streamed as `text_delta` fragments (see `split`)."""
    return {"type": "text", "text": ""}, [{"type": "text_delta", "text": t} for t in split(text, pieces)]


def tool_use_block(name: str, tool_input: dict, *, tool_id: str = "toolu_synthetic_01", fragments: int = 4) -> Block:
    """A tool_use block whose `input_json_delta` fragments join to `json.dumps(tool_input)`."""
    start = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
    return start, [{"type": "input_json_delta", "partial_json": p} for p in split(json.dumps(tool_input), fragments)]


def thinking_block(thinking: str, *, signature: str, pieces: int | None = None) -> Block:
    """A thinking block: `thinking_delta` fragments, then one `signature_delta`, as the API sends them."""
    deltas = [{"type": "thinking_delta", "thinking": t} for t in split(thinking, pieces)]
    return {"type": "thinking", "thinking": "", "signature": ""}, deltas + [
        {"type": "signature_delta", "signature": signature}]


def message(*blocks: Block, model: str = "claude-haiku-4-5", msg_id: str = "msg_synthetic_01",
            input_tokens: int = 25, output_tokens: int | None = None, stop_reason: str | None = "end_turn",
            stop_sequence: str | None = None, ping: bool = True, usage: dict | None = None,
            delta_usage: dict | None = None, stop_details: dict | None = None) -> Events:
    """A whole message stream around `blocks`: the composer the other builders use.

    `output_tokens` defaults to about one token per four characters of streamed content.
    A `ping` follows the first `content_block_start`, where the API puts it.
    `usage` replaces message_start's usage, `delta_usage` message_delta's (`{"output_tokens": N}`);
    `stop_details` (e.g. a refusal's) goes in message_delta next to the stop reason.
    """
    if usage is None:
        usage = {"input_tokens": input_tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                 "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                 "output_tokens": 1, "service_tier": "standard"}
    start = {"id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
             "stop_reason": None, "stop_sequence": None, "usage": usage}
    events: Events = [("message_start", {"type": "message_start", "message": start})]
    for index, (content_block, deltas) in enumerate(blocks):
        events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                               "content_block": content_block}))
        if ping and index == 0:
            events.append(("ping", {"type": "ping"}))
        events += [("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
                   for delta in deltas]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    if output_tokens is None and delta_usage is None:
        output_tokens = streamed_chars(delta for _, deltas in blocks for delta in deltas) // 4 + 1
    ending: dict = {"stop_reason": stop_reason, "stop_sequence": stop_sequence}
    if stop_details is not None:
        ending["stop_details"] = stop_details
    events.append(("message_delta", {"type": "message_delta", "delta": ending,
                                     "usage": delta_usage if delta_usage is not None else {"output_tokens": output_tokens}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def streamed_chars(deltas: Iterable[dict]) -> int:
    """Characters of content the deltas stream (their text, thinking, JSON; not types or signatures)."""
    return sum(len(v) for delta in deltas for k, v in delta.items()
               if k not in ("type", "signature") and isinstance(v, str))


def text_message(text: str, *, pieces: int | None = None, **options: Unpack[MessageOptions]) -> Events:
    """A plain text answer, `text` streamed in `pieces` fragments (default: chunks of 1-3 words).

    `options` are those of `message` (model, msg_id, input_tokens, stop_reason, ping, ...).
    """
    return message(text_block(text, pieces=pieces), **options)


def tool_use_message(name: str, tool_input: dict, *, preamble: str | None = None, tool_id: str = "toolu_synthetic_01",
                     fragments: int = 4, **options: Unpack[MessageOptions]) -> Events:
    """An optional text `preamble` block, then a `name` tool call with `tool_input`; stop_reason `tool_use`."""
    options.setdefault("stop_reason", "tool_use")
    blocks = [text_block(preamble)] if preamble is not None else []
    return message(*blocks, tool_use_block(name, tool_input, tool_id=tool_id, fragments=fragments), **options)


def thinking_message(thinking: str, text: str, *, signature: str = "EqQBCkYIBxgCKkB...synthetic",
                     pieces: int | None = None, **options: Unpack[MessageOptions]) -> Events:
    """Extended thinking: a thinking block (deltas, then its signature), then the text answer."""
    return message(thinking_block(thinking, signature=signature, pieces=pieces), text_block(text, pieces=pieces),
                   **options)


def error_event(kind: str = "overloaded_error", message: str = "Overloaded") -> tuple[str, dict]:
    """An in-stream `error` event, as the API sends when it fails after the stream started."""
    return "error", {"type": "error", "error": {"type": kind, "message": message}}


def sse_bytes(events: Events, *, newline: str = "\n") -> bytes:
    """Serialise `events` for the wire: `event: X`, `data: <compact JSON>`, blank line, each line ending `newline`."""
    return "".join(
        f"event: {name}{newline}data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}{newline}{newline}"
        for name, data in events
    ).encode()
