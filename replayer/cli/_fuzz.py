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
@click.option("-j", "--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Search in this many processes (one per core); the first failure found is shrunk and shown.")
@click.pass_context
def fuzz_command(ctx: click.Context, target: str, cassette_file: Path | None, examples: int, seed: int | None,
                 save_failures: Path, workers: int) -> None:
    """Run TARGET (module:function taking an anthropic client) on generated streams until it raises.

    TARGET gets a FakeAnthropic (a FakeAsyncAnthropic if it is a coroutine function) that
    answers any request with a protocol-valid generated stream. On the first exception the
    stream is shrunk to a minimal one, printed event by event with the exception, and saved as
    a cassette for `cassette play`. Exit status 1 on a failure, 0 when every case passed.
    """
    from ..fuzzing._runner import fuzz, report

    live = sys.stderr.isatty()

    def progress(phase: str, runs: int) -> None:
        if live:
            total = f"/{examples}" if phase == "searching" else ""
            click.echo(f"\r{phase} {target}: {runs}{total} ", nl=False, err=True)

    cassette = recorder.load(cassette_file) if cassette_file is not None else None
    result = fuzz(target, cassette=cassette, examples=examples, seed=seed, save_failures=save_failures,
                  progress=progress, workers=workers)
    if live:
        click.echo("", err=True)
    for line in report(result):
        click.echo(line)
    if not result.ok:
        ctx.exit(1)
