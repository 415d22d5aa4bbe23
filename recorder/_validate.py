"""Protocol checks beyond the parser's structural ones: would the SDK accept this cassette?

The parser (`load`/`parse`) guarantees well-formed lines; these checks look at the Messages
streaming protocol (https://docs.anthropic.com/en/docs/build-with-claude/streaming) and at
time, and return readable problems instead of raising, so a tool can list them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from ._model import Body, Cassette, End, Event, Interaction, Request, Response

Part = Request | Response | Event | Body | End

# The event types the SDK turns into objects (anthropic/_streaming.py, Stream.__stream__);
# it skips `ping` and unknown types, so those may appear anywhere.
MESSAGE_EVENTS = frozenset({"message_start", "message_delta", "message_stop",
                            "content_block_start", "content_block_delta", "content_block_stop"})


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing `findings()` found: where (interaction id, file line if known), what, and how bad.

    A `warning` is a cassette that loads and replays but may not be what was meant (a recorder
    that died before the end, a stream without events); an `error` is a protocol problem.
    """

    interaction: int
    line: int | None
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        return f"interaction {self.interaction}: {self.message}"


def findings(cassette: Cassette) -> list[Finding]:
    """Every protocol problem (error) and doubtful ending (warning) in `cassette`, in file order."""
    found = []
    for interaction in cassette.interactions:
        for part, message, severity in _interaction(interaction):
            found.append(Finding(interaction.id, interaction.line_of(part), message, severity))
    return found


def problems(cassette: Cassette) -> list[str]:
    """Every protocol problem in `cassette`, each naming the interaction, the event and what was expected.

    An empty list means the cassette is fine (warnings aside: see `findings`).

    >>> for problem in problems(load("chat.jsonl")):
    ...     print(problem)
    interaction 0: event 4 (content_block_delta): index 1 was never started; expected a content_block_start ...
    """
    return [str(finding) for finding in findings(cassette) if finding.severity == "error"]


Found = tuple[Part | None, str, Literal["error", "warning"]]


def _errors(found: Iterator[tuple[Part | None, str]]) -> Iterator[Found]:
    return ((part, message, "error") for part, message in found)


def _interaction(interaction: Interaction) -> Iterator[Found]:
    yield from _errors(_times(interaction))
    if interaction.end is None:
        last = interaction.parts()[-1] if interaction.parts() else None
        yield last, ("outcome incomplete: no 'end' line, the recorder stopped before the exchange ended; "
                     "it replays up to its last line"), "warning"
    if interaction.response is None:
        if interaction.outcome == "complete":
            yield (interaction.end, "outcome is complete but there is no response line; expected a response before "
                   "the end", "error")
        return
    if not interaction.is_stream:
        if interaction.outcome == "complete" and interaction.body is None:
            yield (interaction.end, "non-streaming response marked complete has no body; expected a 'body' line "
                   "before the end", "error")
        return
    if not interaction.events:
        yield interaction.response, "the stream has no events; a replay of it ends at once, with no message", "warning"
        return
    yield from _errors(_blocks(interaction.events))
    if interaction.outcome == "complete":
        yield from _errors(_framing(interaction.events))


def _times(interaction: Interaction) -> Iterator[tuple[Part, str]]:
    """Offsets are read from one monotonic clock, so they never decrease."""
    parts: list[tuple[str, Part]] = []
    if interaction.response is not None:
        parts.append(("the response", interaction.response))
    parts += [(_where(index, event), event) for index, event in enumerate(interaction.events)]
    if interaction.body is not None:
        parts.append(("the body", interaction.body))
    if interaction.end is not None:
        parts.append(("the end", interaction.end))
    for (before, p0), (name, p1) in zip(parts, parts[1:]):
        if p1.t < p0.t:
            yield p1, f"{name}: t={p1.t:g} goes back in time; expected t >= {p0.t:g} (the t of {before})"


def _framing(events: tuple[Event, ...]) -> Iterator[tuple[Event | None, str]]:
    """A complete message stream opens with message_start and closes with message_stop."""
    framed = [(index, event) for index, event in enumerate(events) if event.event in MESSAGE_EVENTS]
    if not framed:
        yield None, "outcome is complete but there are no message events; expected message_start ... message_stop"
        return
    index, first = framed[0]
    if first.event != "message_start":
        yield first, f"{_where(index, first)}: a complete stream must start with message_start"
    index, last = framed[-1]
    if last.event != "message_stop":
        yield last, f"{_where(index, last)}: a complete stream must end with message_stop"


def _blocks(events: tuple[Event, ...]) -> Iterator[tuple[Event, str]]:
    """Content blocks are started in order (0, 1, ...), then deltas and one stop refer to an open one."""
    started = 0
    stopped: set[int] = set()
    for position, event in enumerate(events):
        where = _where(position, event)
        if event.event not in MESSAGE_EVENTS:
            continue
        data = event.data
        if not isinstance(data, dict):
            yield event, f"{where}: expected a JSON object payload, got {_short(event.payload.text)}"
            continue
        if data.get("type") != event.event:
            yield event, f"{where}: payload type {data.get('type')!r} differs from the event name; expected them equal"
        if not event.event.startswith("content_block_"):
            continue
        index = data.get("index")
        if isinstance(index, bool) or not isinstance(index, int):
            yield event, f"{where}: expected an integer 'index', got {index!r}"
            continue
        if event.event == "content_block_start":
            # The SDK appends each started block and looks deltas up by position (accumulate_event).
            if index != started:
                yield event, f"{where}: index {index} out of order; expected the next block index, {started}"
            started = max(started, index + 1)
        elif index >= started:
            yield event, f"{where}: index {index} was never started; expected a content_block_start with index {index} first"
        elif index in stopped:
            yield event, f"{where}: index {index} was already stopped; expected no {event.event} after its content_block_stop"
        elif event.event == "content_block_stop":
            stopped.add(index)


def _where(index: int, event: Event) -> str:
    return f"event {index} ({event.event or 'unnamed'})"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
