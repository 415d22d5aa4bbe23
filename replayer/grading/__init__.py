"""`grade()`: run a client against the fault catalogue and give each case a verdict.

`_cases` places the catalogue on the stream being graded; `_python` runs a Python consumer on a
virtual clock; `_command` runs a program in any language against its own `serve()` per case;
`_verdict` says what a run amounts to; `_result` holds the results; `_report` renders them.

>>> result = grade("myapp.chat:answer", cassettes=["chat.jsonl"])
>>> result.counts()
{'recovered': 9, 'failed_loudly': 12, 'failed_silently': 3}
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from recorder import Cassette

from ._cases import SDK_READ_TIMEOUT, SDK_RETRIES, Case, catalogue, default_cassette
from ._command import run_command
from ._python import Run, Target, run_python
from ._result import FAIL_ON_DEFAULT, CaseResult, GradeError, GradeResult, preview, verdicts
from ._verdict import CRASHES, VERDICTS, Raised, Verdict, classify

__all__ = [
    "CRASHES",
    "FAIL_ON_DEFAULT",
    "VERDICTS",
    "Case",
    "CaseResult",
    "GradeError",
    "GradeResult",
    "Raised",
    "Verdict",
    "catalogue",
    "grade",
    "verdicts",
]

PYTHON_BUDGET = 3600.0
"""Virtual seconds a Python case may take: room for the SDK's three 600 s timeouts in a row."""
COMMAND_BUDGET = 60.0
"""Wall seconds a command case may take."""
COMMAND_CLIENT_TIMEOUT = 10.0
"""The read timeout assumed for a command, unless told: its stalls (5 s and 20 s) cost wall time."""
WALL_BUDGET = 60.0
"""Real seconds a Python case may take before it is given up as hung (a target spinning without waiting)."""


def grade(target: str | Target | None = None, *, command: Sequence[str] | None = None,
          cassettes: Iterable[Cassette | str | os.PathLike[str]] = (), cases: Sequence[Case | str] | None = None,
          budget: float | None = None, client_timeout: float | None = None, sdk_retries: int = SDK_RETRIES,
          workers: int = 4, progress: Callable[[int, int], None] | None = None) -> GradeResult:
    """Run `target` (or `command`) once unfaulted, then once per case, and give each case a verdict.

    `target` is a function taking an anthropic client, or taking nothing and building its own
    clients (an app, a library), or a `module:function` spec for one; `command` a program and its arguments, run against `serve()` through `ANTHROPIC_BASE_URL`. `cassettes` are
    merged into one (files or folders, in order); with none, a generated text stream answers any
    request. `cases` default to `catalogue(...)` on that stream; strings are fault specs.
    `budget` is the time a case may take before it is `hung`: virtual seconds for a Python target
    (default one hour), wall seconds for a command (default 60). `client_timeout` (the client's
    read timeout: the SDK's 600 s for Python, 10 s for a command, whose stalls cost wall time)
    and `sdk_retries` describe the client, to size the stalls and the 529 case. Commands run
    `workers` at a time. `progress(done, total)` is called as cases finish.

    Raises GradeError when the target cannot be found, or fails even with no fault injected.
    """
    from ..fuzzing._runner import FuzzError, _name_of, load_target
    from ..server._serve import load_all

    if (target is None) == (command is None):
        raise GradeError("grade a Python target or a command, not both or neither")
    given = list(cassettes)
    cassette = load_all(given) if given else default_cassette()
    if client_timeout is None:
        client_timeout = SDK_READ_TIMEOUT if command is None else COMMAND_CLIENT_TIMEOUT
    known = catalogue(cassette, client_timeout=client_timeout, sdk_retries=sdk_retries)
    names = {c.spec: c.name for c in known}
    chosen = known if cases is None else [
        c if isinstance(c, Case) else Case(c, names.get(c, "given fault")) for c in cases]
    if command is not None:
        if not command:
            raise GradeError("the command to grade is empty; put it after --, e.g. -- node client.mjs")
        return _grade_command(list(command), cassette, chosen, COMMAND_BUDGET if budget is None else budget, workers,
                              progress or _quiet)
    if isinstance(target, str):
        try:
            function, name = load_target(target), target
        except FuzzError as exc:
            raise GradeError(str(exc)) from None
    else:
        assert target is not None
        function, name = target, _name_of(target)
    return _grade_python(function, name, cassette, chosen, PYTHON_BUDGET if budget is None else budget,
                         progress or _quiet)


def _quiet(done: int, total: int) -> None:
    pass


def _grade_python(function: Target, name: str, cassette: Cassette, cases: list[Case], budget: float,
                  progress: Callable[[int, int], None]) -> GradeResult:
    baseline = run_python(function, cassette, None, budget=budget, wall_budget=WALL_BUDGET)
    if baseline.hung or baseline.raised is not None:
        # One line: a NoMatchError's explanation of the closest recording runs over many.
        first = next(iter(str(baseline.raised).splitlines()), "")
        what = f"raised {Raised.of(baseline.raised).name}: {first[:300]}" if baseline.raised else "hung"
        raise GradeError(f"{name} {what} with no fault injected; grade a target that works on this cassette "
                         "(its requests must match the recorded ones)")
    results = []
    for case in cases:
        run = run_python(function, cassette, case.spec, budget=budget, wall_budget=WALL_BUDGET)
        raised = Raised.of(run.raised) if run.raised is not None else None
        verdict = classify(hung=run.hung, raised=raised, output=run.delivered, full=baseline.delivered)
        results.append(CaseResult(case, verdict, raised, max(0, run.requests - baseline.requests), run.seconds,
                                  _shown(run)))
        progress(len(results), len(cases))
    return GradeResult(name, "python", tuple(results), _shown(baseline))


def _shown(run: Run) -> str:
    if run.value is None:
        return preview(run.stdout)
    return preview(run.value if not run.stdout else f"{run.value!r} (printed {run.stdout!r})")


def _grade_command(argv: list[str], cassette: Cassette, cases: list[Case], budget: float,
                   workers: int, progress: Callable[[int, int], None]) -> GradeResult:
    name = " ".join(argv)
    try:
        baseline = run_command(argv, cassette, None, budget=budget)
    except OSError as exc:
        raise GradeError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from None
    if baseline.exit_code != 0:
        what = "hung" if baseline.hung else f"exited {baseline.exit_code}"
        tail = baseline.stderr.strip().splitlines()[-1:] or [""]
        raise GradeError(f"{name!r} {what} with no fault injected: {tail[0][:300]}")

    def one(case: Case) -> CaseResult:
        run = run_command(argv, cassette, case.spec, budget=budget)
        raised = run.raised()
        verdict = classify(hung=run.hung, raised=raised, output=run.stdout, full=baseline.stdout)
        return CaseResult(case, verdict, raised, max(0, run.requests - baseline.requests), run.seconds,
                          preview(run.stdout), run.exit_code)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(one, case) for case in cases]
        for done, _ in enumerate(as_completed(futures), 1):
            progress(done, len(cases))
        results = tuple(f.result() for f in futures)
    return GradeResult(name, "command", results, preview(baseline.stdout))

