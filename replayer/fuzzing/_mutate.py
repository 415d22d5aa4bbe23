"""Mutated cassettes: a recording with protocol-preserving changes, a chunking and maybe a fault.

The edits here keep a stream valid (the SDK must assemble the same Message from it): an
extra `ping` or unknown event, a text / thinking / tool-input delta split in two, the gaps
between events stretched or squeezed. Faults and chunking are applied at replay time by the
ReplayTransport, from `replayer.faults` objects and a `Chunking`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from recorder import Cassette, Event, Interaction, Payload

from .. import faults as _faults
from .._chunking import Chunking
from ._generated import _cut, _Replayable, describe_cassette, fault_spec

# The string field each splittable delta type carries.
SPLITTABLE = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}


@dataclass(frozen=True)
class MutatedCassette(_Replayable):
    """A variation of a recorded cassette, drawn by `mutations()`.

    `changes` says in words what was changed; `client()` replays it with its `chunking` and
    `faults`; `save(path)` writes the changed cassette (chunking and faults in its header, as
    `cassette play --fault` specs).
    """

    cassette: Cassette
    changes: tuple[str, ...] = ()
    chunking: Chunking | None = None
    faults: tuple[_faults.Fault, ...] = field(default=())

    def provenance(self) -> dict[str, Any]:
        """The recording it came from and what was changed."""
        return {"mutated": {"from": self.cassette.path or "a cassette", "changes": list(self.changes)}}

    def describe(self, width: int | None = 160) -> list[str]:
        """The changes, then one line per event of the changed cassette, then chunking and faults."""
        lines = [f"# {change}" for change in self.changes] + describe_cassette(self.cassette, width)
        if self.chunking is not None and self.chunking != Chunking():
            lines.append(f"(bytes cut: {self.chunking})")
        lines += [f"(fault: {fault_spec(f)})" for f in self.faults]
        return [_cut(line, width) for line in lines]


def insert_event(interaction: Interaction, at: int, name: str, data: Any) -> Interaction:
    """`interaction` with a new event before event `at`, arriving with the event before it."""
    events = interaction.events
    t = events[at - 1].t if at > 0 else (events[0].t if events else 0.0)
    return replace(interaction, events=(*events[:at], Event(t, name, Payload(data)), *events[at:]))


def splittable(interaction: Interaction) -> list[int]:
    """Indexes of the deltas whose text, thinking or partial JSON can be cut in two."""
    out = []
    for i, event in enumerate(interaction.events):
        data = event.data
        if event.event == "content_block_delta" and isinstance(data, dict) and isinstance(data.get("delta"), dict):
            key = SPLITTABLE.get(data["delta"].get("type"))
            if key is not None and isinstance(data["delta"].get(key), str) and len(data["delta"][key]) >= 2:
                out.append(i)
    return out


def split_delta(interaction: Interaction, index: int, at: int) -> Interaction:
    """`interaction` with delta event `index` cut into two deltas at character `at` (1 <= at < len)."""
    event = interaction.events[index]
    data = event.data
    key = SPLITTABLE[data["delta"]["type"]]
    value = data["delta"][key]
    first, second = ({**data, "delta": {**data["delta"], key: part}} for part in (value[:at], value[at:]))
    events = interaction.events
    pair = (replace(event, payload=Payload(first)), replace(event, payload=Payload(second)))
    return replace(interaction, events=(*events[:index], *pair, *events[index + 1:]))


def retime(interaction: Interaction, factors: tuple[float, ...]) -> Interaction:
    """`interaction` with the gap before each event (after the first) scaled by `factors`, cycled."""
    if len(interaction.events) < 2 or not factors:
        return interaction
    events = list(interaction.events)
    out = [events[0]]
    for i in range(1, len(events)):
        gap = events[i].t - events[i - 1].t
        out.append(replace(events[i], t=round(out[-1].t + gap * factors[(i - 1) % len(factors)], 6)))
    shift = out[-1].t - events[-1].t
    end = interaction.end
    if end is not None:
        end = replace(end, t=round(max(out[-1].t, end.t + shift), 6))
    return replace(interaction, events=tuple(out), end=end)
