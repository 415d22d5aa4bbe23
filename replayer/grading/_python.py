"""Grade a Python consumer: run it once per case on a FakeAnthropic, on a virtual clock.

The target is a function taking an anthropic client (an AsyncAnthropic if it is a coroutine
function), as for `cassette fuzz`. What it delivers is its return value together with what it
printed to stdout: a consumer that prints the answer and returns None is graded on what it
printed, one that returns the text on what it returned.

Time is virtual: replay is paced as recorded, stalls and timeouts wait on a clock that jumps,
and `time.sleep`, `asyncio.sleep` and `anyio.sleep` called from the target's thread (the SDK's
own retry backoff, the target's backoff) advance that clock instead of waiting. A 30 s stall
costs no wall time. A case whose clock would pass the budget is stopped there: `hung`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio

from recorder import Cassette

from .._client import FakeAnthropic, FakeAsyncAnthropic, transport_of
from .._replay import intercepted
from .._timing import VirtualClock
from .._transport import ReplayTransport

Target = Callable[[Any], Any]


class Hung(BaseException):
    """Raised in the target when its virtual clock reaches the budget.

    A BaseException, so that the target's own `except Exception` cannot swallow it.
    """


class BudgetClock(VirtualClock):
    """A VirtualClock that stops the case (raises Hung) rather than move past `budget` seconds."""

    def __init__(self, budget: float) -> None:
        super().__init__()
        self.budget = budget

    def advance(self, seconds: float) -> None:
        self.sleep_until(self.now() + max(0.0, seconds))

    def sleep_until(self, deadline: float) -> None:
        if deadline > self.budget:
            super().sleep_until(self.budget)
            raise Hung(f"still waiting after {self.budget:g} s")
        super().sleep_until(deadline)

    async def asleep_until(self, deadline: float) -> None:
        self.sleep_until(deadline)
        await anyio.lowlevel.checkpoint()


class _ThreadStdout(io.TextIOBase):
    """sys.stdout for one thread's writes into a buffer, every other thread's to the real stdout."""

    def __init__(self, thread: int, real: Any, buffer: io.StringIO) -> None:
        self.thread, self.real, self.buffer = thread, real, buffer

    def _target(self) -> Any:
        return self.buffer if threading.get_ident() == self.thread else self.real

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return self._target().isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target(), "encoding", None) or "utf-8"

    def __getattr__(self, name: str) -> Any:  # what TextIOBase lacks (fileno, buffer...): the stream's own
        return getattr(self._target(), name)


@contextlib.contextmanager
def virtual_time(thread: int, clock: VirtualClock, stdout: io.StringIO) -> Iterator[None]:
    """In thread `thread` only: `time.sleep`, `asyncio.sleep` and `anyio.sleep` advance `clock`,
    and what is printed goes to `stdout`. Other threads keep sleeping and printing for real.

    Sleeps captured before (`sleep=time.sleep` as a default argument) are the real ones.
    """
    real_sleep, real_asleep, real_anyio_sleep, real_stdout = time.sleep, asyncio.sleep, anyio.sleep, sys.stdout

    def sleep(seconds: float) -> None:
        if threading.get_ident() != thread:
            return real_sleep(seconds)
        clock.advance(seconds)

    async def asleep(delay: float, result: Any = None) -> Any:
        if threading.get_ident() != thread:
            return await real_asleep(delay, result)
        clock.advance(delay)
        return await real_asleep(0, result)

    async def anyio_sleep(delay: float) -> None:
        await asleep(delay)

    time.sleep, asyncio.sleep, anyio.sleep = sleep, asleep, anyio_sleep  # type: ignore[assignment]
    sys.stdout = _ThreadStdout(thread, real_stdout, stdout)
    try:
        yield
    finally:
        time.sleep, asyncio.sleep, anyio.sleep = real_sleep, real_asleep, real_anyio_sleep  # type: ignore[assignment]
        sys.stdout = real_stdout


@dataclass(frozen=True)
class Run:
    """One run of a Python target: what it delivered (return value, stdout) or raised, and its cost."""

    value: Any
    stdout: str
    raised: BaseException | None
    hung: bool
    requests: int
    seconds: float

    @property
    def delivered(self) -> tuple[Any, str]:
        return self.value, self.stdout


def takes_client(target: Target) -> bool:
    """Whether `target` takes the client as an argument (else it builds its own, as an app does)."""
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):  # no signature to read (some builtins): assume the usual shape
        return True
    return any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def run_python(target: Target, cassette: Cassette, spec: str | None, *, budget: float,
               wall_budget: float) -> Run:
    """Run `target` once on `cassette` with fault `spec` (None: unfaulted), on a BudgetClock.

    A target taking an argument gets a FakeAnthropic (FakeAsyncAnthropic for a coroutine
    function); one taking none builds its own clients, which `replay()` answers for the run.
    The run happens in its own thread, so that a target spinning without ever waiting is given
    up after `wall_budget` real seconds (and left behind: a thread cannot be stopped).
    """
    clock = BudgetClock(budget)
    options: dict[str, Any] = {"faults": [spec] if spec else [], "speed": 1.0, "clock": clock}
    asynchronous = inspect.iscoroutinefunction(target)
    box: dict[str, Any] = {}
    ready = threading.Event()
    if takes_client(target):
        client = (FakeAsyncAnthropic if asynchronous else FakeAnthropic)(cassette, **options)
        transport, answering = transport_of(client), contextlib.nullcontext()
        args: tuple[Any, ...] = (client,)
    else:
        transport = ReplayTransport(cassette, **options)
        answering, args = intercepted(transport), ()

    def work() -> None:
        ready.wait()
        try:
            box["value"] = asyncio.run(target(*args)) if asynchronous else target(*args)
        except BaseException as exc:  # noqa: BLE001 - what the target raised is the observation
            box["raised"] = exc

    out = io.StringIO()
    thread = threading.Thread(target=work, name=f"cassette grade {spec or 'unfaulted'}", daemon=True)
    thread.start()
    assert thread.ident is not None
    with answering, virtual_time(thread.ident, clock, out):
        ready.set()
        thread.join(wall_budget)
    if thread.is_alive():
        return Run(None, out.getvalue(), None, True, transport.requests, clock.now())
    raised = box.get("raised")
    hung = isinstance(raised, Hung)
    return Run(box.get("value"), out.getvalue(), None if hung else raised, hung, transport.requests, clock.now())

