"""Timing statistics of recorded interactions: time to first byte and token, gaps, throughput.

Everything is computed from the recorded `t` offsets (seconds since the request was sent),
never by replaying. `stats` gives one `InteractionStats` per interaction, `aggregate` sums
them up across interactions and cassettes.

>>> rows = stats("cassettes")                                   # doctest: +SKIP
>>> rows[0].time_to_first_token, aggregate(rows)["outcomes"]    # doctest: +SKIP
(0.557382, {'complete': 4, 'error_event': 1, 'disconnected': 1})
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import recorder
from recorder import Cassette, CassetteError, Interaction

StrPath = str | os.PathLike[str]
CassetteLike = Cassette | StrPath
"""A loaded cassette, or the path of a cassette file (a directory stands for its *.jsonl files)."""

TOKEN_DELTAS: dict[str, str] = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}
"""Delta types that carry model output, and the key holding their text."""

FAILURES = ("disconnected", "error_event", "truncated")
"""Outcomes where the stream broke (as opposed to `complete`, or the client's own `cancelled`)."""


class AnalysisError(CassetteError):
    """A cassette cannot be analysed or plotted as asked (no such interaction, unknown output format).

    A CassetteError, not a ReplayError: analysis never replays, so it never loads the SDK that
    ReplayError derives from.
    """


@dataclass(frozen=True, slots=True)
class InteractionStats:
    """Timing figures of one recorded interaction; every time is in seconds since the request was sent.

    - `time_to_first_byte`: `t` of the response line (status and headers received); None without one.
    - `time_to_first_token`: `t` of the first `content_block_delta` whose delta is a `text_delta`,
      `thinking_delta` or `input_json_delta` with a non-empty `text` / `thinking` / `partial_json`
      (`signature_delta`, `citations_delta` and empty fragments are not output tokens). None when
      there is no such event, e.g. for a non-streaming response or a stream that broke before it.
    - `duration`: `t` of the end line; without one (the recorder died), of the last event, else of
      the body, else of the response.
    - `events`: how many SSE events were recorded (pings and unknown events included).
    - `output_tokens`: `usage.output_tokens` of the last `message_delta` that has it, else of
      `message_start` (or of a non-streaming body).
    - `output_tokens_per_second`: `output_tokens / (t of the last event - time_to_first_token)`;
      None when either is unknown or the span is not positive.
    - `gap_p50` / `gap_p95` / `gap_p99` / `gap_max`: percentiles of the gaps between consecutive
      events (`n` events give `n - 1` gaps; the wait before the first event is not a gap, see
      time_to_first_byte/token). Percentiles interpolate linearly between closest ranks, as
      numpy's default `method="linear"` does (see `percentile`). None with fewer than 2 events.
    - `stop_reason`: of the last `message_delta` that sets one, else of `message_start` (or of a
      non-streaming body).
    - `outcome`: how the exchange ended (`complete`, `error_event`, `disconnected`, `truncated`,
      `cancelled`, or `incomplete` when there is no end line); `error`: what broke it, as
      `type: message` (the exception, the in-stream error event, or an error body), else None.
    - `request`: `METHOD /path`, None for an imported capture; `input_tokens` like `output_tokens`.
    """

    cassette: str | None
    id: int
    request: str | None
    model: str | None
    status: int | None
    time_to_first_byte: float | None
    time_to_first_token: float | None
    duration: float | None
    events: int
    input_tokens: int | None
    output_tokens: int | None
    output_tokens_per_second: float | None
    gap_p50: float | None
    gap_p95: float | None
    gap_p99: float | None
    gap_max: float | None
    stop_reason: str | None
    outcome: str
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict, in declaration order."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Block:
    """One content block as assembled from the stream (or read from a non-streaming body).

    `text` joins the block's text, thinking or tool-input fragments; `input` is the parsed tool
    input (the raw text when it is not valid JSON). `start`/`stop` are the `t` of its
    `content_block_start` / `content_block_stop` (None when missing or not streamed).
    """

    index: int
    type: str
    text: str = ""
    name: str | None = None
    input: Any = None
    start: float | None = None
    stop: float | None = None
    first_delta: float | None = None


def expand(cassettes: CassetteLike | Iterable[CassetteLike]) -> list[CassetteLike]:
    """One cassette or path, or several; a directory stands for its *.jsonl files in name order."""
    items: Iterable[CassetteLike] = (
        [cassettes] if isinstance(cassettes, Cassette | str | os.PathLike) else cassettes)
    out: list[CassetteLike] = []
    for item in items:
        if not isinstance(item, Cassette) and Path(item).is_dir():
            out.extend(sorted(Path(item).glob("*.jsonl")))
        else:
            out.append(item)
    return out


def loaded(cassette: CassetteLike) -> Cassette:
    """The cassette itself, or the one loaded from its path."""
    return cassette if isinstance(cassette, Cassette) else recorder.load(cassette)


def stats(cassettes: CassetteLike | Iterable[CassetteLike]) -> list[InteractionStats]:
    """Timing statistics for every interaction of every cassette, in order.

    Accepts a Cassette, a path, a directory (its *.jsonl files) or an iterable of those.
    """
    return [interaction_stats(i, cassette=c.path) for c in map(loaded, expand(cassettes)) for i in c]


def interaction_stats(interaction: Interaction, *, cassette: str | None = None) -> InteractionStats:
    """The statistics of one interaction (see InteractionStats for the definitions)."""
    events = interaction.events
    message = message_of(interaction)
    usage = dict(message.get("usage") or {})
    stop_reason = message.get("stop_reason")
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        if event.event == "message_delta":
            stop_reason = (data.get("delta") or {}).get("stop_reason") or stop_reason
            usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
    output_tokens, input_tokens = (value if isinstance(value := usage.get(key), int) else None
                                   for key in ("output_tokens", "input_tokens"))
    ttft = first_token_time(interaction)
    last = events[-1].t if events else None
    span = None if ttft is None or last is None else last - ttft
    rate = output_tokens / span if output_tokens is not None and span is not None and span > 0 else None
    gaps = sorted(b.t - a.t for a, b in pairwise(events))
    response = interaction.response
    request = interaction.request
    return InteractionStats(
        cassette=cassette, id=interaction.id, request=f"{request.method} {request.path}" if request else None,
        model=message.get("model") or _requested_model(interaction),
        status=response.status if response is not None else None,
        time_to_first_byte=response.t if response is not None else None,
        time_to_first_token=ttft, duration=duration_of(interaction), events=len(events),
        input_tokens=input_tokens, output_tokens=output_tokens, output_tokens_per_second=rate,
        gap_p50=percentile(gaps, 50), gap_p95=percentile(gaps, 95), gap_p99=percentile(gaps, 99),
        gap_max=gaps[-1] if gaps else None, stop_reason=stop_reason, outcome=interaction.outcome,
        error=error_of(interaction))


def aggregate(rows: Sequence[InteractionStats]) -> dict[str, Any]:
    """Sum up many interactions: counts of outcomes and stop reasons, percentiles of the timings.

    `time_to_first_token`, `duration` and `output_tokens_per_second` each map to
    `{"n", "min", "p50", "p95", "p99", "max"}` over the interactions where the value is known
    (all None when n is 0). Counters are ordered by count, then first appearance; a missing
    stop reason counts under None.
    """
    def summary(values: list[float]) -> dict[str, float | int | None]:
        values = sorted(values)
        return {"n": len(values), "min": values[0] if values else None, "p50": percentile(values, 50),
                "p95": percentile(values, 95), "p99": percentile(values, 99),
                "max": values[-1] if values else None}

    return {
        "count": len(rows),
        "outcomes": dict(Counter(r.outcome for r in rows).most_common()),
        "stop_reasons": dict(Counter(r.stop_reason for r in rows).most_common()),
        **{name: summary([v for r in rows if (v := getattr(r, name)) is not None])
           for name in ("time_to_first_token", "duration", "output_tokens_per_second")},
    }


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The `q`-th percentile (0-100) of already sorted values, by linear interpolation.

    Same as numpy's default (`method="linear"`, Hyndman & Fan type 7): the value at fractional
    rank `h = (n - 1) * q / 100` between the closest ranks `floor(h)` and `ceil(h)`. None when empty.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.5
    """
    if not sorted_values:
        return None
    h = (len(sorted_values) - 1) * q / 100
    lo = math.floor(h)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def first_token_time(interaction: Interaction) -> float | None:
    """`t` of the first non-empty text, thinking or tool-input delta; None when there is none."""
    for event in interaction.events:
        delta = _delta_of(event.data) if event.event == "content_block_delta" else None
        if delta is not None and delta.get("type") in TOKEN_DELTAS and delta.get(TOKEN_DELTAS[delta["type"]]):
            return event.t
    return None


def error_of(interaction: Interaction) -> str | None:
    """What broke the exchange as `type: message`: the exception, an `error` event, or an error body."""
    end = interaction.end
    if end is not None and end.error is not None:
        return f"{end.error.type}: {end.error.message}"
    for event in interaction.events:
        if event.event == "error":
            return _api_error(event.data) or event.payload.text
    body = interaction.body
    if body is not None and isinstance(body.payload.data, dict) and body.payload.data.get("type") == "error":
        return _api_error(body.payload.data)
    return None


def _api_error(data: Any) -> str | None:
    error = data.get("error") if isinstance(data, dict) else None
    return f"{error.get('type')}: {error.get('message')}" if isinstance(error, dict) else None


def duration_of(interaction: Interaction) -> float | None:
    """`t` of the end line, else of the last event, else of the body, else of the response."""
    for part in (interaction.end, interaction.events[-1] if interaction.events else None, interaction.body,
                 interaction.response):
        if part is not None:
            return part.t
    return None


def message_of(interaction: Interaction) -> dict[str, Any]:
    """The message as first known: `message_start`'s, or a non-streaming body's ({} if neither)."""
    body = interaction.body
    if body is not None:
        return body.payload.data if isinstance(body.payload.data, dict) else {}
    for event in interaction.events:
        if event.event == "message_start" and isinstance(event.data, dict):
            message = event.data.get("message")
            return message if isinstance(message, dict) else {}
    return {}


def content_blocks(interaction: Interaction) -> list[Block]:
    """The content blocks of the response, assembled from the stream (or read from the body), by index."""
    body = interaction.body
    if body is not None:
        content = message_of(interaction).get("content")
        return [Block(i, str(b.get("type")), _block_text(b), b.get("name"), b.get("input"))
                for i, b in enumerate(content if isinstance(content, list) else []) if isinstance(b, dict)]
    parts: dict[int, dict[str, Any]] = {}
    for event in interaction.events:
        data = event.data if isinstance(event.data, dict) else {}
        index = data.get("index")
        if not isinstance(index, int):
            continue
        if event.event == "content_block_start":
            found = data.get("content_block")
            block: dict[str, Any] = found if isinstance(found, dict) else {}
            parts[index] = {"type": str(block.get("type")), "name": block.get("name"), "start": event.t,
                            "fragments": [], "first": None, "stop": None, "input": block.get("input")}
        elif index in parts and event.event == "content_block_delta":
            delta = _delta_of(data) or {}
            key = TOKEN_DELTAS.get(str(delta.get("type")))
            if key is not None and isinstance(delta.get(key), str):
                parts[index]["fragments"].append(delta[key])
                parts[index]["first"] = parts[index]["first"] if parts[index]["first"] is not None else event.t
        elif index in parts and event.event == "content_block_stop":
            parts[index]["stop"] = event.t
    blocks = []
    for index, p in sorted(parts.items()):
        text = "".join(p["fragments"])
        tool_input = _parse_input(text) if p["type"].endswith("tool_use") and text else p["input"]
        blocks.append(Block(index, p["type"], text, p["name"], tool_input, p["start"], p["stop"], p["first"]))
    return blocks


def _parse_input(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # a stream cut inside the tool input: keep what arrived


def _block_text(block: dict[str, Any]) -> str:
    if isinstance(block.get("text"), str):
        return block["text"]
    if isinstance(block.get("thinking"), str):
        return block["thinking"]
    return json.dumps(block["input"], ensure_ascii=False) if "input" in block else ""


def _delta_of(data: Any) -> dict[str, Any] | None:
    delta = data.get("delta") if isinstance(data, dict) else None
    return delta if isinstance(delta, dict) else None


def _requested_model(interaction: Interaction) -> str | None:
    request = interaction.request
    body = request.body.data if request is not None else None
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else None
