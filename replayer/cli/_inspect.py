"""`cassette show` and `cassette check`: summarise and validate cassettes without replaying them."""

from __future__ import annotations

from pathlib import Path

import click

import recorder
from recorder import Cassette, CassetteError

from ..analysis._stats import interaction_stats
from ._common import ms, short


@click.command("show")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def show(file: Path) -> None:
    """Summarise each interaction of FILE: request, status, model, events, stop reason, outcome, timing, tokens.

    ttft is the recorded time to the first text, thinking or tool-input delta; duration is
    the time of the end line; both are seconds since the request was sent.
    """
    cassette = recorder.load(file)
    click.echo(f"{file}: {len(cassette)} interaction{'' if len(cassette) == 1 else 's'}{_provenance(cassette)}")
    for interaction in cassette:
        s = interaction_stats(interaction)
        outcome = s.outcome + (f" ({short(s.error)})" if s.error else "")
        click.echo(f"#{s.id} {s.request or '(imported, answers any request)'} -> {s.status or 'no response'}  "
                   f"model={s.model}  events={s.events}  stop_reason={s.stop_reason}  outcome={outcome}  "
                   f"ttft={ms(s.time_to_first_token)}  duration={ms(s.duration)}  "
                   f"tokens in={s.input_tokens} out={s.output_tokens}")


def _provenance(cassette: Cassette) -> str:
    header = cassette.header
    notes = [f"{key}: {header[key]}" for key in ("imported", "timing", "source", "synthetic") if key in header]
    notes += [str(header[key]) for key in ("recorder", "sdk", "created") if key in header]
    return f" ({', '.join(notes)})" if notes else ""




@click.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def check(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Load and validate each FILE; exit 2 if any has a problem.

    Prints `ok FILE (N interactions)` for a good file, else one line per problem:
    `FILE:LINE: what` for a format error, `FILE: interaction N: what` for a protocol one.
    """
    failed = False
    for file in files:
        for line in check_file(file):
            click.echo(line)
            failed = failed or not line.startswith("ok ")
    if failed:
        ctx.exit(2)


def check_file(file: Path) -> list[str]:
    """The lines `check` prints for one file."""
    try:
        cassette = recorder.load(file)
    except CassetteError as exc:
        return [str(exc) if exc.path else f"{file}: {exc}"]
    except OSError as exc:
        return [f"{file}: {exc.strerror or exc}"]
    found = recorder.problems(cassette)
    if found:
        return [f"{file}: {problem}" for problem in found]
    return [f"ok {file} ({len(cassette)} interaction{'' if len(cassette) == 1 else 's'})"]
