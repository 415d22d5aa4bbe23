"""Render a GradeResult: a terminal table (coloured on request), JSON, or Markdown for a CI artefact."""

from __future__ import annotations

import json

import click

from ._result import CaseResult, GradeResult
from ._verdict import Verdict

COLUMNS = ("case", "what happens", "verdict", "raised", "APIError", "caught by", "retries", "seconds")
COLOURS: dict[Verdict, dict[str, object]] = {
    "recovered": {"fg": "green"},
    "failed_loudly": {"fg": "yellow"},
    "failed_silently": {"fg": "red", "bold": True},
    "hung": {"fg": "magenta", "bold": True},
    "crashed": {"fg": "red"},
}


def cells(result: CaseResult) -> list[str]:
    """One row of the table, as text."""
    raised = result.raised
    return [result.case.spec, result.case.name, result.verdict, raised.name if raised else "—",
            _yes_no(raised.api_error) if raised else "—", caught_by(result), str(result.retries),
            f"{result.seconds:.1f}"]


def caught_by(result: CaseResult) -> str:
    """Which of `except anthropic.APIConnectionError` / `except anthropic.APIStatusError` catches it."""
    raised = result.raised
    if raised is None:
        return "—"
    if raised.connection_error is None:
        return "?"
    names = [n for n, caught in (("APIConnectionError", raised.connection_error),
                                 ("APIStatusError", raised.status_error)) if caught]
    return " ".join(names) or "neither"


def _yes_no(value: bool | None) -> str:
    return "?" if value is None else "yes" if value else "no"


def summary(result: GradeResult) -> str:
    """`21 cases: 9 recovered, 8 failed_loudly, 3 failed_silently, 1 crashed (seconds: virtual)`."""
    counts = ", ".join(f"{n} {verdict}" for verdict, n in result.counts().items())
    n = len(result.cases)
    return f"{n} case{'' if n == 1 else 's'}: {counts} (seconds: {result.clock} time)"


def table(result: GradeResult, *, color: bool = False) -> str:
    """The terminal table; verdicts coloured when `color`."""
    rows = [list(COLUMNS), *(cells(c) for c in result.cases)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [f"grade {result.target}", f"full answer: {result.full}", ""]
    for n, row in enumerate(rows):
        padded = [cell.ljust(width) for cell, width in zip(row, widths)]
        if n and color:
            padded[2] = click.style(padded[2], **COLOURS[result.cases[n - 1].verdict])  # type: ignore[arg-type]
        elif not n and color:
            padded = [click.style(cell, bold=True) for cell in padded]
        lines.append("  ".join(padded).rstrip())
    lines += ["", summary(result)]
    return "\n".join(lines)


def to_json(result: GradeResult) -> str:
    """A JSON list, one object per case (`case`, `verdict`, `raised`, `retries`, `seconds`, ...)."""
    return json.dumps(result.to_json(), indent=2, ensure_ascii=False)


def markdown(result: GradeResult) -> str:
    """A Markdown page: the target, the summary and the table."""
    def row(values: list[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    body = []
    for case in result.cases:
        values = cells(case)
        values[0] = f"`{values[0]}`"
        if values[3] != "—":
            values[3] = f"`{values[3]}`"
        values[2] = f"**{values[2]}**" if case.verdict in ("failed_silently", "hung", "crashed") else values[2]
        body.append(row(values))
    return "\n".join([f"## `cassette grade` {result.target}", "", summary(result), "",
                      row(list(COLUMNS)), "|" + "---|" * len(COLUMNS), *body, ""])
