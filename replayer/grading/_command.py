"""Grade a program in any language: run the command once per case against its own `serve()`.

Each run gets a fresh server on 127.0.0.1 replaying the cassette with that case's fault, and
finds it through `ANTHROPIC_BASE_URL` (and a placeholder `ANTHROPIC_API_KEY` when none is set),
as an unchanged program using any Anthropic SDK would. What is observed is what a caller of the
program sees: its exit code and its stdout. Runs go in parallel, `workers` at a time; each is
killed (with its process group) when it outlives the wall-clock budget.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

from recorder import Cassette

from .._transport import ReplayTransport
from ..server import serve
from ._verdict import Raised

PLACEHOLDER_KEY = "cassette-grade-no-key-needed"
# The last line of a Python traceback: `package.Error: message` (or a bare `Error`).
_PYTHON_ERROR = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?$")
# An error a runtime printed as uncaught, at the start of a line: `TypeError: terminated`.
_THROWN = re.compile(r"^(?P<name>(?:[A-Z]\w*)?(?:Error|Exception))(?::\s?(?P<message>.*))?$", re.MULTILINE)


@dataclass(frozen=True)
class CommandRun:
    """One run of the command: exit code (None when killed for the budget), output, requests, cost."""

    exit_code: int | None
    stdout: str
    stderr: str
    requests: int
    seconds: float

    @property
    def hung(self) -> bool:
        return self.exit_code is None

    def raised(self) -> Raised | None:
        """What the program's failure was: the exception its Python traceback names, else its exit status."""
        if self.exit_code in (0, None):
            return None
        python = python_error(self.stderr)
        if python is not None:
            return python
        if self.exit_code < 0:  # killed by a signal: a segfault, an abort
            name = signal.Signals(-self.exit_code).name if -self.exit_code in signal.valid_signals() else "signal"
            return Raised(name, f"killed by {name}", None, None, None, crash=True)
        thrown = _THROWN.search(self.stderr)  # e.g. Node's `TypeError: terminated` for an uncaught error
        if thrown is not None:
            return Raised(thrown["name"], (thrown["message"] or "")[:300], None, None, None, crash=False)
        last = next((line for line in reversed(self.stderr.strip().splitlines()) if line.strip()), "")
        return Raised(f"exit {self.exit_code}", last.strip()[:300], None, None, None, crash=False)


def python_error(stderr: str) -> Raised | None:
    """The exception an uncaught Python traceback in `stderr` ends with, or None."""
    _, found, tail = stderr.rpartition("Traceback (most recent call last):")
    if not found:
        return None
    lines = [line for line in tail.splitlines() if line and not line.startswith((" ", "\t"))]
    match = _PYTHON_ERROR.match(lines[-1]) if lines else None
    if match is None:
        return None
    return Raised.of_name(match["name"], match["message"] or "")


def run_command(argv: Sequence[str], cassette: Cassette, spec: str | None, *, budget: float) -> CommandRun:
    """Run `argv` once against a server replaying `cassette` with fault `spec` (None: unfaulted)."""
    transport = ReplayTransport(cassette, faults=[spec] if spec else [])
    started = time.monotonic()
    with serve(transport) as url:
        env = {**os.environ, "ANTHROPIC_BASE_URL": url}
        env.setdefault("ANTHROPIC_API_KEY", PLACEHOLDER_KEY)
        process = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=env, start_new_session=True)
        try:
            stdout, stderr = process.communicate(timeout=budget)
            code: int | None = process.returncode
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: the program and what it started
            stdout, stderr = process.communicate()
            code = None
    return CommandRun(code, stdout.decode(errors="replace"), stderr.decode(errors="replace"), transport.requests,
                      time.monotonic() - started)
