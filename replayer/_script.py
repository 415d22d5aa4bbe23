"""A Script is what one replayed call puts on the wire: timed chunks and pauses, then how it ends."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from weakref import WeakKeyDictionary

from recorder import Cassette, Interaction
from recorder._gc import paused
from recorder._lines import LoadedEvents, wire_steps

from ._errors import exception_from


@dataclass(frozen=True, slots=True)
class Pause:
    """Silence on the wire for `seconds` of the replay clock (free under a VirtualClock)."""

    seconds: float


Step = tuple[float, "bytes | Pause"]
"""(recorded offset in seconds, what happens then)."""


@dataclass(frozen=True, slots=True)
class Script:
    """Steps in order, then at `end_t` either `error` is raised or the body ends cleanly."""

    steps: tuple[Step, ...]
    end_t: float
    error: Exception | None = None

    @classmethod
    def of(cls, interaction: Interaction) -> Script:
        """The bytes the recorded interaction delivered, when it delivered them, and how it ended."""
        if interaction.body is not None:
            steps: tuple[Step, ...] = ((interaction.body.t, interaction.body.payload.text.encode()),)
        else:
            steps = tuple(wire_steps(interaction.events))
        return _ending(steps, interaction)

    @property
    def size(self) -> int:
        """Bytes on the wire."""
        return sum(len(item) for _, item in self.steps if isinstance(item, bytes))

    @property
    def chunks(self) -> int:
        """Number of byte chunks (events, for an SSE stream)."""
        return sum(1 for _, item in self.steps if isinstance(item, bytes))

    def joined(self, limit: int = 65536) -> Script:
        """The same bytes in fewer chunks of up to `limit` bytes, for instant replay; pauses stay put."""
        times, items = zip(*self.steps) if self.steps else ((), ())
        if Pause not in map(type, items):
            return Script(_joined(times, items, limit), self.end_t, self.error)  # type: ignore[arg-type]
        steps: list[Step] = []
        pending: list[bytes] = []
        size, last_t = 0, 0.0

        def flush() -> None:
            if pending:
                steps.append((last_t, b"".join(pending)))
                pending.clear()

        for t, item in self.steps:
            if isinstance(item, bytes):
                if size + len(item) > limit:
                    flush()
                    size = 0
                pending.append(item)
                size += len(item)
                last_t = t
            else:
                flush()
                size = 0
                steps.append((t, item))
        flush()
        return Script(tuple(steps), self.end_t, self.error)


def _joined(times: tuple[float, ...], items: tuple[bytes, ...], limit: int) -> tuple[Step, ...]:
    """Consecutive chunks joined up to `limit` bytes (a bigger one alone), found by bisection: few Python steps."""
    ends = list(accumulate(map(len, items)))
    steps: list[Step] = []
    start, done = 0, 0
    while start < len(items):
        stop = max(start + 1, bisect_right(ends, done + limit, lo=start))
        steps.append((times[stop - 1], b"".join(items[start:stop])))
        start, done = stop, ends[stop - 1]
    return tuple(steps)


def _ending(steps: tuple[Step, ...], interaction: Interaction) -> Script:
    """`steps`, then the interaction's unfinished last event (if any), and how it ended."""
    end = interaction.end
    if end is not None and end.tail:
        steps += ((end.t, end.tail.encode()),)
    last = steps[-1][0] if steps else 0.0
    error = exception_from(end.error) if end is not None and end.error is not None else None
    return Script(steps, end.t if end is not None else last, error)


def _joined_of(interaction: Interaction, limit: int = 65536) -> Script | None:
    """`Script.of(interaction).joined(limit)` built straight from loaded lines, when they allow it."""
    events = interaction.events
    steps = events.joined_steps(limit) if isinstance(events, LoadedEvents) and interaction.body is None else None
    return _ending(tuple(steps), interaction) if steps else None


# Keyed by the interaction object's id(): the cassette keeps its interactions alive.
_CACHE: WeakKeyDictionary[Cassette, dict[tuple[int, bool], Script]] = WeakKeyDictionary()


def script_of(cassette: Cassette, interaction: Interaction, *, joined: bool = False) -> Script:
    """Script.of(interaction), computed once per cassette object (and `joined` if asked)."""
    cache = _CACHE.setdefault(cassette, {})
    key = (id(interaction), joined)
    script = cache.get(key)
    if script is None:
        with paused():
            if not joined:
                script = Script.of(interaction)
            else:
                script = _joined_of(interaction) or script_of(cassette, interaction).joined()
        cache[key] = script
    return script
