"""`cassette grade`: run a client against the fault catalogue, one verdict per case."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, TextIO

import click

from ._common import CliError, Number


class _GradeCommand(click.Command):
    """Takes what follows `--` as the command to grade, before click parses the rest."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            at = args.index("--")
            ctx.meta["grade_command"] = args[at + 1:]
            args = args[:at]
        return super().parse_args(ctx, args)


def use_color(stream: TextIO) -> bool:
    """Colour on a terminal, unless NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


@click.command("grade", cls=_GradeCommand)
@click.argument("target", required=False)
@click.option("--cassette", "cassettes", multiple=True, type=click.Path(path_type=Path),
              help="A cassette (or folder of them) to break; repeat to merge several. Default: a generated "
                   "text stream that answers any request.")
@click.option("--case", "cases", multiple=True, metavar="SPEC",
              help="Grade only this fault spec (repeatable) instead of the whole catalogue.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per case, instead of the table.")
@click.option("--markdown", "markdown_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the table as Markdown to this file (a CI artefact).")
@click.option("--fail-on", default="silent,hung,crashed", show_default=True, metavar="VERDICTS",
              help="Exit 1 when a case gets one of these verdicts: silent, loud, hung, crashed.")
@click.option("--budget", type=Number(0, inclusive=False, name="budget"), default=None, metavar="SECONDS",
              help="Seconds a case may take before it is graded hung: virtual for a Python target "
                   "(default 3600), wall-clock for a command (default 60).")
@click.option("--client-timeout", type=Number(0, inclusive=False, name="client-timeout"), default=None,
              metavar="SECONDS",
              help="The client's read timeout: the stalls last half and twice as long. Default: the SDK's "
                   "600 s for a Python target, 10 s for a command (its stalls take wall time).")
@click.option("--sdk-retries", type=click.IntRange(min=0), default=2, show_default=True,
              help="How often the client's SDK retries by itself (529 comes once more often).")
@click.option("-j", "--workers", type=click.IntRange(min=1), default=4, show_default=True,
              help="Commands run this many at a time, each against its own server.")
@click.pass_context
def grade_command(ctx: click.Context, target: str | None, cassettes: tuple[Path, ...], cases: tuple[str, ...],
                  as_json: bool, markdown_file: Path | None, fail_on: str, budget: float | None,
                  client_timeout: float | None, sdk_retries: int, workers: int) -> None:
    """Grade how TARGET survives every way a Claude stream fails: one verdict per fault.

    \b
        cassette grade myapp.chat:answer --cassette chat.jsonl
        cassette grade --cassette chat.jsonl -- node client.mjs

    TARGET is module:function, a function taking an anthropic client (or taking nothing and
    building its own), run on a virtual clock.
    A command after -- is run once per case against its own `cassette serve`, found through
    ANTHROPIC_BASE_URL; its exit status and stdout are what is graded. Verdicts: recovered (the
    unfaulted run's answer, after N retries), failed_loudly (raised / exited non-zero),
    failed_silently (partial output, no error), hung (past --budget), crashed (an exception that
    signals a bug: AttributeError, KeyError, ...). Exit status 1 when a case gets a verdict in
    --fail-on.
    """
    from ..grading import grade, verdicts
    from ..grading._report import markdown, table, to_json

    command = ctx.meta.get("grade_command")
    if (target is None) == (command is None):
        raise CliError("give TARGET (module:function) or a command after --, e.g. cassette grade -- node client.mjs")
    failing = verdicts(fail_on)
    live = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if live:
            click.echo(f"\rgrading: {done}/{total} cases ", nl=False, err=True)

    options: dict[str, Any] = {"cassettes": cassettes, "cases": list(cases) or None, "budget": budget,
                               "client_timeout": client_timeout, "sdk_retries": sdk_retries, "workers": workers,
                               "progress": progress}
    result = grade(target, **options) if command is None else grade(command=command, **options)
    if live:
        click.echo("", err=True)
    if as_json:
        click.echo(to_json(result))
    else:
        color = use_color(sys.stdout)
        click.echo(table(result, color=color), color=color)
    if markdown_file is not None:
        markdown_file.write_text(markdown(result), encoding="utf-8")
    if not result.ok(failing):
        ctx.exit(1)
