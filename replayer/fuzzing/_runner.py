"""`fuzz()`: drive an app's streaming code with generated streams until it breaks, then shrink.

The target is a function taking an anthropic client (sync, or async: it then gets an
AsyncAnthropic) that makes whatever request it wants and consumes the stream. Each case is a
`GeneratedStream` (or, with `cassette=`, a `MutatedCassette`) replayed through the real SDK.
The first exception the target raises is a failure: hypothesis shrinks the case to a minimal
one, which is returned (and saved as a cassette) with the exception.

>>> result = fuzz("myapp.streaming:answer", examples=200, seed=1)
>>> result.ok or print(*result.failure.case.describe(), sep="\\n")
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import importlib
import inspect
import multiprocessing
import os
import pickle
import random
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as seed_with
from hypothesis.errors import HypothesisException
from hypothesis.strategies import SearchStrategy

from recorder import Cassette

from .._errors import ReplayError
from ._generated import GeneratedStream
from ._mutate import MutatedCassette

Case = GeneratedStream | MutatedCassette
Target = Callable[[Any], Any]
Progress = Callable[[str, int], None]
"""Called as `progress(phase, runs)`, phase "searching" or "shrinking"."""


class FuzzError(ReplayError, ValueError):
    """The fuzz target cannot be found or used, or hypothesis could not run it."""


@dataclass(frozen=True)
class Failure:
    """The minimal failing case, what the target raised on it, and where the case was saved."""

    case: Case
    error: BaseException
    traceback: str
    saved: Path | None = None

    @property
    def summary(self) -> str:
        """`ExceptionType: message`, as Python prints it last."""
        return "".join(traceback.format_exception_only(type(self.error), self.error)).strip()


@dataclass(frozen=True)
class FuzzResult:
    """What a fuzz run found: `runs` cases tried while searching, `shrink_runs` while shrinking."""

    target: str
    runs: int
    shrink_runs: int = 0
    failure: Failure | None = None

    @property
    def ok(self) -> bool:
        """True when no case made the target raise."""
        return self.failure is None


def load_target(spec: str) -> Target:
    """Import `module:function` (dotted attributes allowed) with the current directory on sys.path."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise FuzzError(f"target {spec!r} should look like module:function, e.g. myapp.streaming:answer")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise FuzzError(f"cannot import {module_name!r} for target {spec!r}: {exc}") from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise FuzzError(f"{module_name!r} has no {attribute!r} (target {spec!r})") from None
    if not callable(target):
        raise FuzzError(f"target {spec!r} is not callable; it should take an anthropic client")
    return target


def run_case(target: Target, case: Case) -> Any:
    """Run `target` once on `case`: a fresh fake client (async if the target is a coroutine function)."""
    if inspect.iscoroutinefunction(target):
        return asyncio.run(_arun(target, case))
    with case.client() as client:
        return target(client)


async def _arun(target: Target, case: Case) -> Any:
    async with case.async_client() as client:
        return await target(client)


def fuzz(target: str | Target, *, cassette: Cassette | str | os.PathLike[str] | None = None, examples: int = 100,
         seed: int | None = None, save_failures: str | os.PathLike[str] | None = None,
         strategy: SearchStrategy[Any] | None = None, progress: Progress | None = None,
         workers: int = 1) -> FuzzResult:
    """Run `target` on up to `examples` generated cases; on the first exception, shrink and stop.

    `target` is a callable or a `module:function` spec. Cases come from `strategy`, else
    `mutations(cassette, any_request=True)` when a `cassette` is given, else
    `message_streams(chunkings=chunkings())`. `seed` makes the run repeatable. The minimal failing
    case is saved under `save_failures` (a directory) when given.

    `workers > 1` searches in that many forked processes (seeds `seed`, `seed + 1`, ...), sharing
    the examples, and keeps the first failure found; the run is then only repeatable per worker.
    """
    from ._strategies import chunkings, message_streams, mutations

    name = target if isinstance(target, str) else _name_of(target)
    function = load_target(target) if isinstance(target, str) else target
    if strategy is None:
        strategy = (mutations(cassette, any_request=True) if cassette is not None
                    else message_streams(chunkings=chunkings()))
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        result = _parallel(function, name, strategy, examples, seed, progress, workers)
    else:
        result = _search(function, name, strategy, examples, seed, progress)
    if result.failure is None or save_failures is None:
        return result
    case = result.failure.case
    saved = case.save(Path(save_failures) / _file_name(name, case))
    return replace(result, failure=replace(result.failure, saved=saved))


def _search(function: Target, name: str, strategy: SearchStrategy[Any], examples: int, seed: int | None,
            progress: Progress | None) -> FuzzResult:
    """One hypothesis run: search, shrink the first failure, return it (unsaved)."""
    state = _State(progress)

    def check(case: Case) -> None:
        state.start(case)
        try:
            run_case(function, case)
        except BaseException:
            state.failed = True
            raise

    test = settings(max_examples=examples, database=None, deadline=None, derandomize=False,
                    phases=(Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck),
                    verbosity=Verbosity.quiet, report_multiple_bugs=False, print_blob=False)(given(strategy)(check))
    if seed is not None:
        test = seed_with(seed)(test)
    try:
        test()
    except HypothesisException as exc:
        if not state.failed:
            raise FuzzError(f"hypothesis could not fuzz {name}: {exc}") from exc
        error: BaseException = _cause(exc)
    except Exception as exc:  # the target's own exception, raised again on the minimal case
        error = exc
    else:
        return FuzzResult(name, state.runs)
    assert state.current is not None
    return FuzzResult(name, state.runs - state.shrink_runs, state.shrink_runs,
                      Failure(state.current, error, _format(error)))


def _parallel(function: Target, name: str, strategy: SearchStrategy[Any], examples: int, seed: int | None,
              progress: Progress | None, workers: int) -> FuzzResult:
    """`_search` in `workers` forked processes; the first failure wins and the others are stopped."""
    context = multiprocessing.get_context("fork")  # the children inherit the target: nothing to import or pickle
    queue = context.SimpleQueue()
    base = seed if seed is not None else random.getrandbits(32)
    shares = [examples // workers + (i < examples % workers) for i in range(workers)]
    processes = [context.Process(target=_worker, args=(queue, i, function, name, strategy, share, base + i),
                                 daemon=True) for i, share in enumerate(shares) if share]
    gc.freeze()  # the children's collector then leaves the parent's objects (and their pages) alone
    try:
        for process in processes:
            process.start()
    finally:
        gc.unfreeze()
    searched = [0] * len(processes)  # cases searched per worker, as last reported
    finished: dict[int, FuzzResult] = {}
    failed: FuzzResult | None = None
    try:
        while len(finished) < len(processes) and failed is None:
            kind, index, payload = queue.get()
            if kind == "progress":
                phase, runs = payload
                if phase == "searching":
                    searched[index] = runs
                if progress is not None:
                    progress(phase, sum(searched) if phase == "searching" else runs)
            elif kind == "error":
                raise FuzzError(payload)
            else:
                finished[index] = payload
                searched[index] = payload.runs
                failed = payload if payload.failure is not None else None
    finally:
        for process in processes:  # ours: stop the searches still running once one has failed
            if process.is_alive():
                process.terminate()
            process.join()
    if failed is None:
        return FuzzResult(name, sum(searched))
    return FuzzResult(name, sum(searched), failed.shrink_runs, failed.failure)


def _worker(queue: Any, index: int, function: Target, name: str, strategy: SearchStrategy[Any], examples: int,
            seed: int) -> None:
    def progress(phase: str, runs: int) -> None:
        if runs % 10 == 0:
            queue.put(("progress", index, (phase, runs)))

    try:
        result = _search(function, name, strategy, examples, seed, progress)
    except FuzzError as exc:
        queue.put(("error", index, str(exc)))
        return
    try:
        pickle.dumps(result)
    except Exception:  # an exception that cannot cross processes: keep its type name and message
        assert result.failure is not None
        error = RuntimeError(result.failure.summary)
        result = replace(result, failure=replace(result.failure, error=error))
    queue.put(("done", index, result))


class _State:
    """Counts runs and remembers the case of the latest one: when hypothesis raises at the end, it
    has just replayed the minimal failing case."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.runs = 0
        self.shrink_runs = 0
        self.failed = False
        self.current: Case | None = None

    def start(self, case: Case) -> None:
        if self.failed:
            self.shrink_runs += 1
        self.runs += 1
        self.current = case
        if self.progress is not None:
            self.progress("shrinking" if self.failed else "searching", self.shrink_runs if self.failed else self.runs)


def _cause(exc: BaseException) -> BaseException:
    """The target's exception inside hypothesis' Flaky wrappers."""
    group = getattr(exc, "exceptions", None)
    return group[0] if group else exc.__cause__ or exc


_OURS = (str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent / "recorder"))


def _format(error: BaseException) -> str:
    """The traceback through the target's own code; frames in libraries and in claude-cassette are counted."""
    every = traceback.extract_tb(error.__traceback__)
    frames = [f for f in every if "site-packages" not in f.filename and not f.filename.startswith(_OURS)]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    if len(every) > len(frames):
        lines.append(f"  ({len(every) - len(frames)} frames in installed libraries and claude-cassette not shown)\n")
    notes = error.__dict__.pop("__notes__", None)  # hypothesis' notes repeat what `report` prints
    try:
        lines += traceback.format_exception_only(type(error), error)
    finally:
        if notes is not None:
            error.__notes__ = notes
    return "".join(lines)


def _name_of(target: Target) -> str:
    """`module:qualname` of a function, or of a callable object's class."""
    named = target if hasattr(target, "__qualname__") else type(target)
    return f"{named.__module__}:{named.__qualname__}"


def _file_name(target: str, case: Case) -> str:
    digest = hashlib.sha1("\n".join(case.describe(None)).encode()).hexdigest()[:8]
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in target)
    return f"{safe}-{digest}.jsonl"


def report(result: FuzzResult) -> list[str]:
    """What `cassette fuzz` prints: the verdict, the minimal case event by event, the error, how to replay it."""
    if result.failure is None:
        return [f"{result.target}: {result.runs} cases, no failure"]
    failure = result.failure
    case = failure.case
    events = sum(len(i.events) for i in case.cassette)
    lines = [f"{result.target} failed on case {result.runs}; shrunk in {result.shrink_runs} runs to {events} events:",
             *(f"  {line}" for line in case.describe()), "", failure.traceback.rstrip()]
    if failure.saved is not None:
        options = case.replay_options()
        flags = "".join(f" --fault {spec}" for spec in options.get("faults", ()))
        lines += ["", f"saved {failure.saved}", f"replay it: cassette play {failure.saved}{flags}"]
        if case.chunking is not None and "chunking" in options:
            lines.append(f"it fails again with the bytes cut the same way: "
                         f"FakeAnthropic({str(failure.saved)!r}, chunking={case.chunking!r})")
    return lines
