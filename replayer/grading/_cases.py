"""The fault catalogue as grading cases, placed by event index on the stream being graded.

Each case is one fault spec (`replayer.faults` grammar) and what it means in words. Faults
before the stream say how many calls they hit; faults mid-stream hit the first call only (`x1`),
so a client that asks again gets the recording: whether it does is what the grade tells.
Positions are event indices worked out from the first streamed interaction: after its first
text delta ("early"), after half of them ("middle"), before its last one ("near the end"), and
in the middle of the first tool call's `input_json_delta` fragments when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass

from recorder import Cassette, Interaction

from .. import faults as _faults
from ..fuzzing._generated import GeneratedStream
from ..fuzzing._synthetic import text_message

SDK_RETRIES = 2
"""The anthropic SDK's default `max_retries`."""
SDK_READ_TIMEOUT = 600.0
"""The anthropic SDK's default timeout, in seconds."""


@dataclass(frozen=True)
class Case:
    """One way the stream fails: `spec` (for `faults=[spec]` and `cassette play --fault`) and `name`."""

    spec: str
    name: str

    def __post_init__(self) -> None:
        _faults.parse(self.spec)  # a bad spec fails here, not in the middle of a grading run


def default_cassette() -> Cassette:
    """What is graded when no cassette is given: a 12-delta text answer that answers any request."""
    text = ("Sunlight scatters off the molecules of the air, and blue light, with its shorter wavelength, "
            "scatters the most, so the whole sky glows blue.")
    return GeneratedStream(tuple(text_message(text, pieces=12)), final_message={}).cassette


@dataclass(frozen=True)
class Positions:
    """Event indices in the first streamed interaction: a fault `@events=N` strikes after N events."""

    early: int
    middle: int
    late: int
    tool: int | None

    @classmethod
    def of(cls, cassette: Cassette) -> Positions:
        interaction = _first_stream(cassette)
        text = _deltas(interaction, "text_delta")
        tool = _deltas(interaction, "input_json_delta")
        content = text or tool or [max(0, len(interaction.events) - 2)]
        return cls(early=content[0] + 1, middle=content[len(content) // 2], late=content[-1],
                   tool=tool[len(tool) // 2] if len(tool) > 1 else None)


def _first_stream(cassette: Cassette) -> Interaction:
    for interaction in cassette.interactions:
        if interaction.is_stream and interaction.events:
            return interaction
    raise _faults.FaultError(f"{cassette.path or 'the cassette'} has no streamed response to break; "
                             "grade a cassette recorded with stream=True or messages.stream()")


def _deltas(interaction: Interaction, kind: str) -> list[int]:
    """Indices of the content_block_delta events of `kind`."""
    return [i for i, e in enumerate(interaction.events)
            if e.event == "content_block_delta" and isinstance(e.data, dict)
            and (e.data.get("delta") or {}).get("type") == kind]


def catalogue(cassette: Cassette, *, client_timeout: float = SDK_READ_TIMEOUT,
              sdk_retries: int = SDK_RETRIES) -> list[Case]:
    """Every grading case for `cassette`, in the order the table shows them.

    `client_timeout` is the client's read timeout (a stall is half of it, or twice it);
    `sdk_retries` how often the client's SDK retries by itself (529 comes once more than that).
    """
    at = Positions.of(cassette)
    beyond = sdk_retries + 1
    short, long = f"{client_timeout / 2:g}s", f"{client_timeout * 2:g}s"
    cases = [
        Case("429x1", "rate limited once (retry-after 1 s)"),
        Case("529x1", "overloaded once"),
        Case(f"529x{beyond}", f"overloaded {beyond} times, more than the SDK retries"),
        Case("500x1", "internal server error once"),
        Case(f"connect-errorx{beyond}", f"connection refused {beyond} times"),
        Case("connect-timeoutx1", "connect timeout once"),
        Case("timeoutx1", "read timeout before the headers, once"),
    ]
    places = [(at.early, "early in the text"), (at.middle, "in the middle of the text"),
              (at.late, "near the end of the text")]
    if at.tool is not None:
        places.append((at.tool, "inside the tool input"))
    for error, what in (("drop", "connection dropped"), ("read-error", "connection reset")):
        cases += [Case(f"{error}@events={n}x1", f"{what} {where} (event {n})") for n, where in places]
    cases += [
        Case(f"stall@events={at.middle}:{short}x1", f"{short} stall, shorter than the client's {client_timeout:g} s timeout"),
        Case(f"stall@events={at.middle}:{long}x1", f"{long} stall, longer than the client's {client_timeout:g} s timeout"),
        Case(f"truncate@events={at.middle}x1", "stream closed cleanly in the middle, no message_stop"),
        Case(f"malformed@events={at.middle}x1", "a malformed chunk in the middle"),
        Case(f"error@events={at.middle}:overloaded_errorx1", "in-stream overloaded_error in the middle"),
        Case("529x2", "overloaded twice, then the answer"),
        Case(f"529,drop@events={at.middle},ok", "overloaded, then dropped mid-stream, then the answer"),
        Case(f"drop@events={at.middle}x2", "dropped mid-stream twice, then the answer"),
    ]
    unique: dict[str, Case] = {}
    for case in cases:  # on a very short stream two places can be the same event
        unique.setdefault(case.spec, case)
    return list(unique.values())
