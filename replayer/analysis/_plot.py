"""Plots of recorded timing: one interaction's timeline, and latency across many interactions.

Drawn with matplotlib's object API on the non-interactive Agg canvas (no pyplot, no global
state, safe in threads and on machines without a display). The output format follows the
file suffix: `.png`, `.svg` or `.pdf`. Figures are `FIGSIZE` inches at `DPI`, so a PNG is
exactly 1000 x 500 pixels.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recorder import Interaction
from recorder._extras import extra

from ._stats import (
    FAILURES,
    TOKEN_DELTAS,
    AnalysisError,
    CassetteLike,
    InteractionStats,
    content_blocks,
    duration_of,
    interaction_stats,
    loaded,
    percentile,
    stats,
)

if TYPE_CHECKING:  # matplotlib itself is imported on first use: `import replayer` stays fast
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FIGSIZE = (10.0, 5.0)
DPI = 100
FORMATS = (".png", ".svg", ".pdf")
BLOCK_COLORS = {"text": "#4c78a8", "thinking": "#9467bd", "tool_use": "#f58518", "other": "#9d9d9d"}
OUTCOME_COLORS = {"complete": "#2ca02c", "cancelled": "#7f7f7f", "incomplete": "#7f7f7f"}  # failures: red
OUTCOME_MARKERS = {"complete": "o", "error_event": "s", "disconnected": "X", "truncated": "D"}  # others: "v"
FAILURE_COLOR = "#d62728"
GAP_COLOR = "#ffd92f"
LARGEST_GAPS = 3
StrPath = str | os.PathLike[str]


def plot_timeline(cassette: CassetteLike, path_out: StrPath, *, interaction: int = 0) -> Path:
    """Draw one interaction (the `interaction`-th, from 0) as a timeline and save it to `path_out`.

    Shows each event's arrival (a rug), content blocks as spans coloured by type, cumulative
    output characters (right axis), the time to first token, the largest gaps between events,
    and where the stream failed (red) when it did. Returns the output path.
    """
    out = _output(path_out)
    loaded_cassette = loaded(cassette)
    if not -len(loaded_cassette) <= interaction < len(loaded_cassette):
        raise AnalysisError(f"{loaded_cassette.path or 'cassette'}: no interaction {interaction}; "
                            f"it has {len(loaded_cassette)} (numbered from 0)")
    recorded = loaded_cassette[interaction]
    row = interaction_stats(recorded, cassette=loaded_cassette.path)
    fig = _figure()
    ax = fig.add_subplot()
    _draw_timeline(ax, recorded, row)
    name = Path(row.cassette).name if row.cassette else "cassette"
    fig.suptitle(f"{name} #{row.id} · {row.model or 'unknown model'} · {row.outcome} · "
                 f"{_seconds(row.duration)}", fontsize=12)
    return _save(fig, out)


def plot_latency(cassettes: CassetteLike | Iterable[CassetteLike] | Sequence[InteractionStats],
                 path_out: StrPath) -> Path:
    """Draw time to first token and duration of every interaction, one row per cassette; save to `path_out`.

    Accepts what `stats` accepts, or a list of InteractionStats. Points are coloured by outcome;
    vertical lines mark the p50 (solid) and p95 (dashed) across all interactions. Returns the output path.
    """
    out = _output(path_out)
    items = list(cassettes) if isinstance(cassettes, list | tuple) else None
    rows = items if items and all(isinstance(r, InteractionStats) for r in items) else stats(cassettes)  # type: ignore[arg-type]
    if not rows:
        raise AnalysisError("no interactions to plot")
    names = list(dict.fromkeys(Path(r.cassette).name if r.cassette else "(in memory)" for r in rows))
    fig = _figure()
    panels = fig.subplots(1, 2, sharey=True)
    for ax, field, label in ((panels[0], "time_to_first_token", "time to first token (s)"),
                             (panels[1], "duration", "duration (s)")):
        _draw_strip(ax, rows, names, field, label)
    panels[0].set_yticks(range(len(names)), names)
    panels[0].invert_yaxis()
    outcomes = list(dict.fromkeys(r.outcome for r in rows))
    handles = [_line(ls="", marker=OUTCOME_MARKERS.get(o, "v"), color=_outcome_color(o), label=o)
               for o in outcomes]
    handles += [_line(color="black", lw=1, label="p50"),
                _line(color="black", lw=1, ls="--", label="p95")]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    fig.suptitle(f"Latency of {len(rows)} interaction{'s' * (len(rows) != 1)} from {len(names)} "
                 f"cassette{'s' * (len(names) != 1)}", fontsize=12)
    return _save(fig, out)


# --- timeline parts ---------------------------------------------------------------------


def _draw_timeline(ax: Axes, interaction: Interaction, row: InteractionStats) -> None:
    events = interaction.events
    blocks = content_blocks(interaction)
    end_t = max([row.duration or 0.0] + [e.t for e in events])
    lanes = ["events"] + [f"#{b.index} {b.type}" + (f" {b.name}" if b.name else "") for b in blocks]
    # Content blocks: one lane each, from content_block_start to content_block_stop (or the end);
    # a non-streaming body's blocks span from the response headers to the body.
    for lane, block in enumerate(blocks, start=1):
        start = block.start if block.start is not None else (row.time_to_first_byte or 0.0)
        stop = block.stop if block.stop is not None else end_t
        ax.barh(lane, max(stop - start, end_t / 500), left=start, height=0.6, color=_block_color(block.type),
                alpha=0.85, hatch=None if block.stop is not None or not events else "//")
    # Event arrivals: a rug in the bottom lane, deltas coloured like their block.
    types = {b.index: b.type for b in blocks}
    colors = [_event_color(e.event, e.data, types) for e in events]
    ax.scatter([e.t for e in events], [0] * len(events), marker="|", s=300, c=colors, linewidths=1.2, zorder=3)
    if interaction.body is not None:
        ax.scatter([interaction.body.t], [0], marker="D", color="black", zorder=3, label="body received")
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(-0.7, len(lanes) - 0.3)
    ax.invert_yaxis()
    ax.set_xlim(0, max(end_t, 1e-3) * 1.04)
    ax.set_xlabel("seconds since the request was sent")
    ax.grid(axis="x", alpha=0.3)
    handles: list[Any] = [_patch(color=_block_color(t), label=t) for t in dict.fromkeys(b.type for b in blocks)]
    handles += _mark_gaps(ax, [e.t for e in events])
    handles += _mark_times(ax, interaction, row)
    handles += _cumulative_output(ax, interaction)
    ax.figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6), fontsize=8,
                     frameon=False)


def _mark_gaps(ax: Axes, times: list[float]) -> list[Any]:
    """Shade the largest gaps between consecutive events and label them in milliseconds."""
    gaps = sorted(((b - a, a, b) for a, b in pairwise(times)), reverse=True)[:LARGEST_GAPS]
    for rank, (size, a, b) in enumerate(gaps):
        if size <= 0:
            continue
        ax.axvspan(a, b, color=GAP_COLOR, alpha=0.45, zorder=0)
        # Staggered by rank so the labels of neighbouring gaps do not overlap.
        ax.annotate(f"{size * 1000:.0f} ms", xy=((a + b) / 2, 0), xytext=(0, 14 + 11 * rank),
                    textcoords="offset points", ha="center", fontsize=8, color="#8c6d00")
    return [_patch(color=GAP_COLOR, alpha=0.45, label=f"largest gaps (top {LARGEST_GAPS})")] if gaps else []


def _mark_times(ax: Axes, interaction: Interaction, row: InteractionStats) -> list[Any]:
    """Vertical lines: response headers, time to first token, and the failure point."""
    handles: list[Any] = []
    if row.time_to_first_byte is not None:
        ax.axvline(row.time_to_first_byte, color="grey", ls=":", lw=1)
        handles.append(_line(color="grey", ls=":", label=f"headers {_ms(row.time_to_first_byte)}"))
    if row.time_to_first_token is not None:
        ax.axvline(row.time_to_first_token, color="#2ca02c", ls="--", lw=1.5)
        ax.annotate(f"TTFT {_ms(row.time_to_first_token)}", xy=(row.time_to_first_token, 1.0),
                    xycoords=("data", "axes fraction"), xytext=(4, -12), textcoords="offset points",
                    color="#2ca02c", fontsize=9, fontweight="bold")
        handles.append(_line(color="#2ca02c", ls="--", label="time to first token"))
    if row.outcome in FAILURES:
        t, what = _failure(interaction, row)
        ax.axvline(t, color=FAILURE_COLOR, lw=2)
        ax.annotate(what, xy=(t, 0.5), xycoords=("data", "axes fraction"), xytext=(-4, 0), textcoords="offset points",
                    rotation=90, ha="right", va="center", color=FAILURE_COLOR, fontsize=9,
                    bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
        handles.append(_line(color=FAILURE_COLOR, lw=2, label=f"failure: {row.outcome}"))
    return handles


def _failure(interaction: Interaction, row: InteractionStats) -> tuple[float, str]:
    """Where and how the stream failed: the error event, else the end line."""
    for event in interaction.events:
        if event.event == "error":
            error = event.data.get("error") if isinstance(event.data, dict) else None
            kind = error.get("type") if isinstance(error, dict) else "error"
            return event.t, f"error event: {kind}"
    end = interaction.end
    what = row.outcome + (f": {end.error.type}" if end is not None and end.error is not None else "")
    return duration_of(interaction) or 0.0, what


def _cumulative_output(ax: Axes, interaction: Interaction) -> list[Any]:
    """Cumulative characters of text, thinking and tool input on a right-hand axis."""
    xs, ys, total = [0.0], [0], 0
    for event in interaction.events:
        delta = event.data.get("delta") if isinstance(event.data, dict) else None
        if event.event == "content_block_delta" and isinstance(delta, dict) and delta.get("type") in TOKEN_DELTAS:
            total += len(str(delta.get(TOKEN_DELTAS[delta["type"]], "")))
            xs.append(event.t)
            ys.append(total)
    if total == 0:
        return []
    xs.append(duration_of(interaction) or xs[-1])
    ys.append(total)
    right = ax.twinx()
    right.step(xs, ys, where="post", color="black", lw=1.2, alpha=0.7)
    right.set_ylabel("output characters (cumulative)")
    right.set_ylim(0, total * 1.08)
    return [_line(color="black", alpha=0.7, label="output characters")]


# --- latency parts ----------------------------------------------------------------------


def _draw_strip(ax: Axes, rows: Sequence[InteractionStats], names: list[str], field: str, label: str) -> None:
    """One point per interaction, jittered within its cassette's row; p50/p95 lines across all."""
    values = []
    for k, r in enumerate(rows):
        value = getattr(r, field)
        if value is None:
            continue
        values.append(value)
        name = Path(r.cassette).name if r.cassette else "(in memory)"
        jitter = ((k * 0.618034) % 1 - 0.5) * 0.5  # golden-ratio steps: spread out, and deterministic
        ax.scatter(value, names.index(name) + jitter, color=_outcome_color(r.outcome), s=40, alpha=0.85,
                   marker=OUTCOME_MARKERS.get(r.outcome, "v"), edgecolors="white", linewidths=0.5, zorder=3)
    values.sort()
    for q, style in ((50, "-"), (95, "--")):
        if values:
            ax.axvline(percentile(values, q) or 0.0, color="black", ls=style, lw=1)
    ax.set_xlabel(label)
    ax.set_xlim(0, max(values, default=1.0) * 1.08 or 1.0)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"{label.split(' (')[0]}: p50 {_seconds(percentile(values, 50))}, "
                 f"p95 {_seconds(percentile(values, 95))}", fontsize=10)


# --- helpers ----------------------------------------------------------------------------


def _output(path_out: StrPath) -> Path:
    out = Path(path_out)
    if out.suffix.lower() not in FORMATS:
        raise AnalysisError(f"{out}: cannot tell the image format from {out.suffix or 'no suffix'!r}; "
                            f"name the file with one of {', '.join(FORMATS)}")
    return out


def _figure() -> Figure:
    with extra("plot", feature="plotting (replayer.plot_timeline, plot_latency)"):
        from matplotlib.figure import Figure

    return Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")


def _line(**style: Any) -> Any:
    """A legend entry drawn as a line or marker."""
    from matplotlib.lines import Line2D

    return Line2D([], [], **style)


def _patch(**style: Any) -> Any:
    """A legend entry drawn as a filled box."""
    from matplotlib.patches import Patch

    return Patch(**style)


def _save(fig: Figure, out: Path) -> Path:
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    out.parent.mkdir(parents=True, exist_ok=True)
    # A fixed hash salt and no date make SVG output byte-for-byte reproducible.
    with rc_context({"svg.hashsalt": "claude-cassette"}):
        metadata = {"Date": None} if out.suffix.lower() == ".svg" else None
        fig.savefig(out, dpi=DPI, metadata=metadata)
    return out


def _block_color(kind: str) -> str:
    if kind.endswith("tool_use"):
        return BLOCK_COLORS["tool_use"]
    return BLOCK_COLORS.get(kind, BLOCK_COLORS["other"])


def _event_color(name: str | None, data: Any, block_types: dict[int, str]) -> str:
    if name == "error":
        return FAILURE_COLOR
    if name == "content_block_delta" and isinstance(data, dict) and isinstance(data.get("index"), int):
        return _block_color(block_types.get(data["index"], "other"))
    return "#333333"


def _outcome_color(outcome: str) -> str:
    return FAILURE_COLOR if outcome in FAILURES else OUTCOME_COLORS.get(outcome, "#7f7f7f")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.3f} s"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f} s"
