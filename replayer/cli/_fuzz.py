"""`cassette fuzz`: drive a consumer with generated streams; shrink and save what fails."""

from __future__ import annotations

import sys
from pathlib import Path

import click

import recorder


@click.command("fuzz")
@click.argument("target")
@click.option("--cassette", "cassette_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Fuzz variations of this recorded cassette instead of generated streams.")
@click.option("-n", "--examples", type=click.IntRange(min=1), default=100, show_default=True,
              help="How many cases to try before calling TARGET robust.")
@click.option("--seed", type=int, default=None, help="Seed the search, to repeat a run exactly.")
@click.option("--save-failures", type=click.Path(file_okay=False, path_type=Path), default=Path("cassette-failures"),
              show_default=True, help="Directory where the minimal failing case is saved as a cassette.")
@click.option("--conversations", is_flag=True,
              help="Answer every request as it arrives, drawn for that request (tools it offers, tool_choice, "
                   "thinking, multi-turn): for agent loops.")
@click.option("--database", default=None, metavar="DIR|redis://...",
              help="Hypothesis' example database: failures saved there by any run (any machine sharing it) "
                   "are replayed first, and new ones saved.")
@click.option("-j", "--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Search in this many processes sharing one example database; the first failure is replayed "
                   "from it, shrunk and shown.")
@click.pass_context
def fuzz_command(ctx: click.Context, target: str, cassette_file: Path | None, examples: int, seed: int | None,
                 save_failures: Path, conversations: bool, database: str | None, workers: int) -> None:
    """Run TARGET (module:function taking an anthropic client) on generated streams until it raises.

    TARGET gets a FakeAnthropic (a FakeAsyncAnthropic if it is a coroutine function) that
    answers any request with a protocol-valid generated stream (with --conversations: each
    request with an answer drawn for it). A TARGET taking two parameters, (client, expected),
    also gets the final Message of each answer so far, to compare with what it made. On the
    first exception the case is shrunk to a minimal one, printed event by event with the
    exception, and saved as a cassette for `cassette play`. Exit status 1 on a failure, 0 when
    every case passed.
    """
    from ..fuzzing._runner import fuzz, report

    live = sys.stderr.isatty()

    def progress(phase: str, runs: int) -> None:
        if live:
            total = f"/{examples}" if phase == "searching" else ""
            click.echo(f"\r{phase} {target}: {runs}{total} ", nl=False, err=True)

    if conversations and cassette_file is not None:
        raise click.UsageError("--conversations and --cassette are two different sources of cases: choose one")
    cassette = recorder.load(cassette_file) if cassette_file is not None else None
    result = fuzz(target, cassette=cassette, examples=examples, seed=seed, save_failures=save_failures,
                  progress=progress, workers=workers, conversations=conversations, database=database)
    if live:
        click.echo("", err=True)
    for line in report(result):
        click.echo(line)
    if not result.ok:
        ctx.exit(1)
