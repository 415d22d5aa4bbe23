"""Protocol checks beyond the parser's structural ones: would the SDK accept this cassette?

The parser (`load`/`parse`) guarantees well-formed lines; these checks look at the Messages
streaming protocol (https://docs.anthropic.com/en/docs/build-with-claude/streaming) and at
time, and return readable problems instead of raising, so a tool can list them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._model import Cassette, Event, Interaction

# The event types the SDK turns into objects (anthropic/_streaming.py, Stream.__stream__);
# it skips `ping` and unknown types, so those may appear anywhere.
MESSAGE_EVENTS = frozenset({"message_start", "message_delta", "message_stop",
                            "content_block_start", "content_block_delta", "content_block_stop"})


def problems(cassette: Cassette) -> list[str]:
    """Every protocol problem in `cassette`, each naming the interaction, the event and what was expected.

    An empty list means the cassette is fine.

    >>> for problem in problems(load("chat.jsonl")):
    ...     print(problem)
    interaction 0: event 4 (content_block_delta): index 1 was never started; expected a content_block_start ...
    """
    return [f"interaction {i.id}: {problem}" for i in cassette.interactions for problem in _interaction(i)]


def _interaction(interaction: Interaction) -> Iterator[str]:
    yield from _times(interaction)
    if interaction.response is None:
        if interaction.outcome == "complete":
            yield "outcome is complete but there is no response line; expected a response before the end"
        return
    if not interaction.is_stream:
        if interaction.outcome == "complete" and interaction.body is None:
            yield "non-streaming response marked complete has no body; expected a 'body' line before the end"
        return
    yield from _blocks(interaction.events)
    if interaction.outcome == "complete":
        yield from _framing(interaction.events)


def _times(interaction: Interaction) -> Iterator[str]:
    """Offsets are read from one monotonic clock, so they never decrease."""
    parts: list[tuple[str, float]] = []
    if interaction.response is not None:
        parts.append(("the response", interaction.response.t))
    parts += [(_where(index, event), event.t) for index, event in enumerate(interaction.events)]
    if interaction.body is not None:
        parts.append(("the body", interaction.body.t))
    if interaction.end is not None:
        parts.append(("the end", interaction.end.t))
    for (before, t0), (name, t1) in zip(parts, parts[1:]):
        if t1 < t0:
            yield f"{name}: t={t1:g} goes back in time; expected t >= {t0:g} (the t of {before})"


def _framing(events: tuple[Event, ...]) -> Iterator[str]:
    """A complete message stream opens with message_start and closes with message_stop."""
    framed = [(index, event) for index, event in enumerate(events) if event.event in MESSAGE_EVENTS]
    if not framed:
        yield "outcome is complete but there are no message events; expected message_start ... message_stop"
        return
    index, first = framed[0]
    if first.event != "message_start":
        yield f"{_where(index, first)}: a complete stream must start with message_start"
    index, last = framed[-1]
    if last.event != "message_stop":
        yield f"{_where(index, last)}: a complete stream must end with message_stop"


def _blocks(events: tuple[Event, ...]) -> Iterator[str]:
    """Content blocks are started in order (0, 1, ...), then deltas and one stop refer to an open one."""
    started = 0
    stopped: set[int] = set()
    for position, event in enumerate(events):
        where = _where(position, event)
        if event.event not in MESSAGE_EVENTS:
            continue
        data = event.data
        if not isinstance(data, dict):
            yield f"{where}: expected a JSON object payload, got {_short(event.payload.text)}"
            continue
        if data.get("type") != event.event:
            yield f"{where}: payload type {data.get('type')!r} differs from the event name; expected them equal"
        if not event.event.startswith("content_block_"):
            continue
        index = data.get("index")
        if isinstance(index, bool) or not isinstance(index, int):
            yield f"{where}: expected an integer 'index', got {index!r}"
            continue
        if event.event == "content_block_start":
            # The SDK appends each started block and looks deltas up by position (accumulate_event).
            if index != started:
                yield f"{where}: index {index} out of order; expected the next block index, {started}"
            started = max(started, index + 1)
        elif index >= started:
            yield f"{where}: index {index} was never started; expected a content_block_start with index {index} first"
        elif index in stopped:
            yield f"{where}: index {index} was already stopped; expected no {event.event} after its content_block_stop"
        elif event.event == "content_block_stop":
            stopped.add(index)


def _where(index: int, event: Event) -> str:
    return f"event {index} ({event.event or 'unnamed'})"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
