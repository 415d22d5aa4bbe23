"""Compare two recordings of the same conversation, interaction by interaction.

Interactions are paired by order. For each pair the comparison looks at what an application
would notice: the request (method, path, JSON body, non-volatile headers), the response
status, the sequence of event types (pings aside), the assembled content blocks (text,
thinking, tool names and parsed tool inputs), the stop reason and the outcome. Timing (time
to first token, duration) is reported too, but only as information: two recordings that
differ only in timing are `equivalent`.

>>> report = diff("cassettes/text.jsonl", "rerecorded.jsonl")    # doctest: +SKIP
>>> report.equivalent, [str(d) for d in report]                 # doctest: +SKIP
(True, ['#0 timing: time_to_first_token 0.557 s -> 0.612 s (+9.8%)'])
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from recorder import Interaction

from ._stats import CassetteLike, content_blocks, duration_of, first_token_time, interaction_stats, loaded

VOLATILE_HEADERS = frozenset({
    "host", "content-length", "user-agent", "accept-encoding", "connection", "date", "authorization",
    "x-api-key", "cookie", "traceparent", "tracestate", "request-id", "x-request-id", "idempotency-key",
})
"""Request headers never compared (plus every `x-stainless-*` header): they name the machine,
the connection or the attempt, not the conversation."""



class _Missing:
    """A key or header absent on one side."""

    def __repr__(self) -> str:
        return "(missing)"


_MISSING: Any = _Missing()

IGNORED_EVENTS = frozenset({"ping"})
"""Event types left out of the sequence comparison: keep-alives come and go with timing."""

TIMING_TOLERANCE = 0.001
"""Seconds: smaller timing differences (scheduling noise between two recordings) are not noted."""


@dataclass(frozen=True, slots=True)
class Difference:
    """One way two recordings differ.

    `interaction` is the position of the pair (None for the cassette as a whole), `aspect` what
    was compared (`interactions`, `request`, `status`, `events`, `blocks`, `text`, `tool`,
    `stop_reason`, `outcome`, `timing`), `a` and `b` the two values. A `timing` difference is
    information only: it never makes recordings non-equivalent.
    """

    interaction: int | None
    aspect: str
    message: str
    a: Any = None
    b: Any = None

    @property
    def timing(self) -> bool:
        """Whether this is a timing note, which does not break equivalence."""
        return self.aspect == "timing"

    def __str__(self) -> str:
        where = f"#{self.interaction} " if self.interaction is not None else ""
        return f"{where}{self.aspect}: {self.message}"


@dataclass(frozen=True, slots=True)
class Diff:
    """The differences between recordings `a` and `b`, in order; iterable like a list."""

    a: str | None
    b: str | None
    differences: tuple[Difference, ...]

    @property
    def equivalent(self) -> bool:
        """True when nothing but timing differs."""
        return all(d.timing for d in self.differences)

    @property
    def substantive(self) -> list[Difference]:
        """The differences that break equivalence."""
        return [d for d in self.differences if not d.timing]

    @property
    def timing(self) -> list[Difference]:
        """The timing notes."""
        return [d for d in self.differences if d.timing]

    def __iter__(self) -> Iterator[Difference]:
        return iter(self.differences)

    def __len__(self) -> int:
        return len(self.differences)


def diff(a: CassetteLike, b: CassetteLike, *, ignore_headers: Iterable[str] = (),
         timing_tolerance: float = TIMING_TOLERANCE) -> Diff:
    """Compare two recordings (Cassettes or paths) of the same conversation.

    `ignore_headers` adds request header names to `VOLATILE_HEADERS`; timing notes are only
    made when a time differs by at least `timing_tolerance` seconds (or is missing on one side).
    """
    left, right = loaded(a), loaded(b)
    ignored = VOLATILE_HEADERS | {h.lower() for h in ignore_headers}
    found: list[Difference] = []
    if len(left) != len(right):
        found.append(Difference(None, "interactions", f"{len(left)} != {len(right)} interactions",
                                len(left), len(right)))
    for n, (x, y) in enumerate(zip(left, right)):
        found.extend(compare(x, y, position=n, ignore_headers=ignored, timing_tolerance=timing_tolerance))
    return Diff(left.path, right.path, tuple(found))


def compare(a: Interaction, b: Interaction, *, position: int = 0, ignore_headers: frozenset[str] = VOLATILE_HEADERS,
            timing_tolerance: float = TIMING_TOLERANCE) -> list[Difference]:
    """The differences between two interactions; `position` is the pair's number in the reports."""
    found: list[Difference] = []

    def note(aspect: str, message: str, x: Any = None, y: Any = None) -> None:
        found.append(Difference(position, aspect, message, x, y))

    _compare_requests(a, b, ignore_headers, note)
    status_a, status_b = (i.response.status if i.response else None for i in (a, b))
    if status_a != status_b:
        note("status", f"{status_a} != {status_b}", status_a, status_b)
    types_a, types_b = _event_types(a), _event_types(b)
    if types_a != types_b:
        at = next((i for i, (x, y) in enumerate(zip(types_a, types_b)) if x != y), min(len(types_a), len(types_b)))
        shown = [t[at] if at < len(t) else "(end)" for t in (types_a, types_b)]
        note("events", f"{len(types_a)} vs {len(types_b)} events (pings aside); first differs at #{at}: "
             f"{shown[0]} != {shown[1]}", types_a, types_b)
    _compare_blocks(a, b, note)
    stats_a, stats_b = interaction_stats(a), interaction_stats(b)
    if stats_a.stop_reason != stats_b.stop_reason:
        note("stop_reason", f"{stats_a.stop_reason} != {stats_b.stop_reason}", stats_a.stop_reason, stats_b.stop_reason)
    outcome_a, outcome_b = _outcome(a), _outcome(b)
    if outcome_a != outcome_b:
        note("outcome", f"{outcome_a} != {outcome_b}", outcome_a, outcome_b)
    for name, x, y in (("time_to_first_token", first_token_time(a), first_token_time(b)),
                       ("duration", duration_of(a), duration_of(b))):
        if (x is None) != (y is None) or (x is not None and y is not None and abs(x - y) >= timing_tolerance):
            note("timing", f"{name} {_seconds(x)} -> {_seconds(y)}{_change(x, y)}", x, y)
    return found


def _compare_requests(a: Interaction, b: Interaction, ignored: frozenset[str], note: Any) -> None:
    x, y = a.request, b.request
    if x is None or y is None:
        if (x is None) != (y is None):
            note("request", "one side is an imported capture (no recorded request)", x is None, y is None)
        return
    if x.method != y.method:
        note("request", f"method {x.method} != {y.method}", x.method, y.method)
    if x.path != y.path:
        note("request", f"path {x.path} != {y.path}", x.path, y.path)
    body_a = x.body.data if x.body.raw is None else x.body.raw
    body_b = y.body.data if y.body.raw is None else y.body.raw
    for where, p, q in _json_diff(body_a, body_b, "body"):
        note("request", f"{where}: {_short(p)} != {_short(q)}", p, q)
    headers_a, headers_b = (
        {k.lower(): v for k, v in h.items() if k.lower() not in ignored and not k.lower().startswith("x-stainless-")}
        for h in (x.headers, y.headers))
    for name in sorted(headers_a.keys() | headers_b.keys()):
        p, q = headers_a.get(name, _MISSING), headers_b.get(name, _MISSING)
        if p != q:
            note("request", f"header {name}: {_short(p)} != {_short(q)}", p, q)


def _compare_blocks(a: Interaction, b: Interaction, note: Any) -> None:
    blocks_a, blocks_b = content_blocks(a), content_blocks(b)
    kinds_a, kinds_b = [k.type for k in blocks_a], [k.type for k in blocks_b]
    if kinds_a != kinds_b:
        note("blocks", f"content block types {kinds_a} != {kinds_b}", kinds_a, kinds_b)
    for x, y in zip(blocks_a, blocks_b):
        if x.type.endswith("tool_use") or y.type.endswith("tool_use"):
            if x.name != y.name:
                note("tool", f"block {x.index} tool name {x.name} != {y.name}", x.name, y.name)
            for where, p, q in _json_diff(x.input, y.input, "input"):
                note("tool", f"block {x.index} ({x.name}) {where}: {_short(p)} != {_short(q)}", p, q)
        elif x.text != y.text:
            at = next((i for i, (c, d) in enumerate(zip(x.text, y.text)) if c != d), min(len(x.text), len(y.text)))
            note("text", f"block {x.index} ({x.type}) differs from character {at}: "
                 f"{_short(x.text[at:], 40)} != {_short(y.text[at:], 40)}", x.text, y.text)


def _json_diff(a: Any, b: Any, where: str) -> Iterator[tuple[str, Any, Any]]:
    """(location, a value, b value) for each place two JSON values differ, like `body.messages[0].content`."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            yield from _json_diff(a.get(key, _MISSING), b.get(key, _MISSING), f"{where}.{key}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from _json_diff(x, y, f"{where}[{i}]")
    elif a != b or isinstance(a, bool) != isinstance(b, bool):
        yield where, a, b


def _event_types(interaction: Interaction) -> list[str | None]:
    return [e.event for e in interaction.events if e.event not in IGNORED_EVENTS]


def _outcome(interaction: Interaction) -> str:
    end = interaction.end
    error = f" ({end.error.type})" if end is not None and end.error is not None else ""
    return interaction.outcome + error


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f} s"


def _change(a: float | None, b: float | None) -> str:
    return f" ({(b - a) / a:+.1%})" if a and b is not None else ""


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value) if value is _MISSING else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"
