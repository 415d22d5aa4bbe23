"""What a grading run returns: one CaseResult per case, and the whole GradeResult."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from .._errors import ReplayError
from ._cases import Case
from ._verdict import VERDICTS, Raised, Verdict

FAIL_ON_DEFAULT: tuple[Verdict, ...] = ("failed_silently", "hung", "crashed")
_SHORT: dict[str, Verdict] = {"silent": "failed_silently", "loud": "failed_loudly", "hung": "hung",
                              "crashed": "crashed", "recovered": "recovered"}


class GradeError(ReplayError, ValueError):
    """The target cannot be graded: not found, or it fails even with no fault injected."""


def verdicts(names: str | Iterable[str]) -> tuple[Verdict, ...]:
    """Verdicts from short names or full ones: `"silent,hung,crashed,loud"`."""
    items = names.split(",") if isinstance(names, str) else list(names)
    out: list[Verdict] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        verdict = _SHORT.get(item, item)
        if verdict not in VERDICTS:
            raise GradeError(f"unknown verdict {item!r}; use silent, loud, hung, crashed "
                             f"(or {', '.join(VERDICTS)})")
        out.append(verdict)  # type: ignore[arg-type]
    return tuple(out)


@dataclass(frozen=True)
class CaseResult:
    """One case's verdict; `retries` counts HTTP requests beyond those of the unfaulted run.

    `seconds` is virtual time for a Python target, wall time for a command. `output` is a short
    view of what the target delivered (its return value and what it printed; a command's stdout).
    """

    case: Case
    verdict: Verdict
    raised: Raised | None
    retries: int
    seconds: float
    output: str
    exit_code: int | None = None

    def to_json(self) -> dict[str, Any]:
        raised = self.raised
        return {
            "case": self.case.spec,
            "name": self.case.name,
            "verdict": self.verdict,
            "raised": raised.name if raised else None,
            "message": raised.message if raised else None,
            "api_error": raised.api_error if raised else None,
            "caught_by_api_connection_error": raised.connection_error if raised else None,
            "caught_by_api_status_error": raised.status_error if raised else None,
            "retries": self.retries,
            "seconds": round(self.seconds, 3),
            "output": self.output,
            "exit_code": self.exit_code,
        }


@dataclass(frozen=True)
class GradeResult:
    """Every case's verdict for `target`; `full` is a short view of the unfaulted run's answer."""

    target: str
    kind: Literal["python", "command"]
    cases: tuple[CaseResult, ...]
    full: str

    @property
    def clock(self) -> str:
        """Where `seconds` were counted."""
        return "virtual" if self.kind == "python" else "wall"

    def counts(self) -> dict[Verdict, int]:
        """How many cases got each verdict, in verdict order (zeros left out)."""
        seen = Counter(c.verdict for c in self.cases)
        return {v: seen[v] for v in VERDICTS if seen[v]}

    def failing(self, fail_on: Iterable[Verdict] = FAIL_ON_DEFAULT) -> list[CaseResult]:
        """The cases whose verdict is in `fail_on`."""
        bad = set(fail_on)
        return [c for c in self.cases if c.verdict in bad]

    def ok(self, fail_on: Iterable[Verdict] = FAIL_ON_DEFAULT) -> bool:
        """True when no case has a verdict in `fail_on` (by default: silent, hung or crashed)."""
        return not self.failing(fail_on)

    def to_json(self) -> list[dict[str, Any]]:
        return [c.to_json() for c in self.cases]


def preview(value: Any, limit: int = 60) -> str:
    """A one-line view of a value in `limit` characters: its start and its end, where a cut shows."""
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\n", "\\n")
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return f"{text[:head]}…{text[len(text) - (limit - 1 - head):]}"
