"""The analysis commands of `cassette`: stats, plot and diff.

Thin click wrappers over `replayer.analysis` (stats, plots, diff). Bad input (a missing or corrupt
cassette, an unknown image suffix) prints one `Error: ...` line and exits with status 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from recorder import Cassette

from ..analysis._diff import diff
from ..analysis._plot import plot_latency, plot_timeline
from ..analysis._stats import InteractionStats, aggregate, expand, stats
from ._common import CliError, user_errors


def _paths(cassettes: tuple[Path, ...]) -> list[Path]:
    paths = [Path(p) for p in expand(cassettes) if not isinstance(p, Cassette)]
    if not paths:
        raise CliError(f"no cassettes (*.jsonl) in {', '.join(map(str, cassettes))}")
    return paths


@click.command("stats")
@click.argument("cassettes", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per interaction.")
def stats_command(cassettes: tuple[Path, ...], as_json: bool) -> None:
    """Timing statistics of every interaction in CASSETTES (files, or directories of *.jsonl).

    Per interaction: time to first byte (response headers) and to first token (first text,
    thinking or tool-input delta), duration, events, output tokens and tokens per second, and
    the p50/p95/p99/max gaps between events; then one aggregate line. Times are seconds since
    the request was sent, shown in milliseconds.
    """
    with user_errors():
        rows = stats(_paths(cassettes))
    if as_json:
        click.echo(json.dumps([_rounded(r.to_dict()) for r in rows], indent=2, ensure_ascii=False))
        return
    columns = ("cassette", "id", "model", "outcome", "stop_reason", "events", "ttfb", "ttft", "duration",
               "out_tok", "tok/s", "gap_p50", "gap_p95", "gap_p99", "gap_max")
    table = [columns] + [_cells(r) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    numeric = {i for i, name in enumerate(columns) if name not in ("cassette", "model", "outcome", "stop_reason")}
    for row in table:
        click.echo("  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                             for i, (c, w) in enumerate(zip(row, widths))).rstrip())
    click.echo(_aggregate_line(aggregate(rows)))


@click.command("plot")
@click.argument("cassettes", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="The image to write; its suffix picks the format (.png, .svg or .pdf).")
@click.option("--interaction", type=int, default=None,
              help="Which interaction of the cassette to draw, from 0. Default: the first.")
@click.option("--latency", is_flag=True,
              help="Draw the latency distribution (time to first token, duration) even for one cassette.")
def plot_command(cassettes: tuple[Path, ...], output: Path, interaction: int | None, latency: bool) -> None:
    """Draw a cassette's timeline, or the latency distribution of several cassettes, to an image.

    With one cassette: the timeline of one interaction (event arrivals, content blocks, cumulative
    output, time to first token, largest gaps, failure point). With several (or a directory), or
    with --latency: time to first token and duration of every interaction, one row per cassette.
    """
    with user_errors():
        paths = _paths(cassettes)
        if latency or len(paths) > 1:
            if interaction is not None:
                raise CliError("--interaction picks one interaction of one cassette; it does not apply to a latency plot")
            written = plot_latency(paths, output)
        else:
            written = plot_timeline(paths[0], output, interaction=interaction or 0)
    click.echo(f"wrote {written}")


@click.command("diff")
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@click.pass_context
def diff_command(ctx: click.Context, a: Path, b: Path) -> None:
    """Compare two recordings of the same conversation, interaction by interaction.

    Compares requests (method, path, body, non-volatile headers), status, event types (pings
    aside), text and thinking per content block, tool names and inputs, stop reasons and
    outcomes. Timing differences are shown as notes only. Exit status: 0 when the recordings
    are equivalent (nothing but timing differs), 1 when they differ, 2 on bad input.
    """
    with user_errors():
        report = diff(a, b)
    for difference in report.substantive:
        click.echo(str(difference))
    for note in report.timing:
        click.echo(click.style(f"{note} (timing only)", dim=True))
    notes = len(report.timing)
    timing = f"; {notes} timing note{'s' * (notes != 1)}" if notes else ""
    if report.equivalent:
        click.echo(f"{a} and {b} are equivalent{timing}")
    else:
        count = len(report.substantive)
        click.echo(f"{a} and {b} differ: {count} difference{'s' * (count != 1)}{timing}")
        ctx.exit(1)


def _cells(r: InteractionStats) -> tuple[str, ...]:
    rate = "-" if r.output_tokens_per_second is None else f"{r.output_tokens_per_second:.1f}"
    return (r.cassette or "-", str(r.id), r.model or "-", r.outcome, r.stop_reason or "-", str(r.events),
            _ms(r.time_to_first_byte), _ms(r.time_to_first_token), _ms(r.duration),
            "-" if r.output_tokens is None else str(r.output_tokens), rate,
            _ms(r.gap_p50), _ms(r.gap_p95), _ms(r.gap_p99), _ms(r.gap_max))


def _aggregate_line(summary: dict[str, Any]) -> str:
    def counts(counter: dict[Any, int]) -> str:
        return " ".join(f"{key}={n}" for key, n in counter.items())

    def spread(name: str, fmt: Any) -> str:
        s = summary[name]
        return "n/a" if not s["n"] else f"p50 {fmt(s['p50'])} p95 {fmt(s['p95'])} max {fmt(s['max'])}"

    n = summary["count"]
    return (f"{n} interaction{'s' * (n != 1)}: outcomes {counts(summary['outcomes'])}; "
            f"stop_reasons {counts(summary['stop_reasons'])}; ttft {spread('time_to_first_token', _ms)}; "
            f"duration {spread('duration', _ms)}; tok/s {spread('output_tokens_per_second', '{:.1f}'.format)}")


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}ms"


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    """Floats to the microsecond (the recorder's resolution), so the JSON shows no float noise."""
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}
