"""`fuzz()`: drive an app's streaming code with generated streams until it breaks, then shrink.

The target is a function taking an anthropic client (sync, or async: it then gets an
AsyncAnthropic) that makes whatever requests it wants and consumes the streams; a target with
two parameters, `check(client, expected)`, also gets the oracle: the final Message (a dict) of
each answer so far, in order. Each case is a `GeneratedStream`, a `Conversation` (with
`conversations=True`: every request answered as it arrives) or, with `cassette=`, a
`MutatedCassette`, replayed through the real SDK. The first exception the target raises is a
failure: hypothesis shrinks the case to a minimal one, which is returned (and saved as a
cassette) with the exception.

Campaigns scale out on hypothesis' example database: with `database=` (a directory, possibly
on shared storage, a `redis://` URL, or any `ExampleDatabase`) every run first replays the
failures saved there by any run of the same target and strategy, on any machine, and saves its
own; `workers=N` runs N searching processes on one database and replays the first failure
saved there in this process.

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
import random
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anthropic
import httpx2
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase
from hypothesis.errors import HypothesisException, StopTest
from hypothesis.strategies import SearchStrategy

from recorder import Cassette

from .._client import _PLACEHOLDER_KEY
from .._errors import ReplayError
from .._timing import VirtualClock
from .._transport import transport_for
from ._conversations import Conversation
from ._generated import GeneratedStream
from ._mutate import MutatedCassette

Case = GeneratedStream | Conversation | MutatedCassette
Target = Callable[..., Any]
DatabaseArg = ExampleDatabase | str | os.PathLike[str] | None
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


def run_case(target: Target, case: Case, *, oracle: bool | None = None, client: _Client | None = None) -> Any:
    """Run `target` once on `case`: a fresh fake client (async if the target is a coroutine function),
    and the oracle too when the target takes two parameters (`oracle`: whether it does, if known).
    A sync target gets `client`'s SDK client instead, answered by `case`, when given."""
    oracle = _wants_oracle(target) if oracle is None else oracle
    if oracle and isinstance(case, MutatedCassette):
        raise FuzzError("a two-parameter target needs generated streams or conversations: a mutated cassette "
                        "has no expected Message")
    extra = (case.expected,) if oracle else ()  # type: ignore[union-attr]
    if inspect.iscoroutinefunction(target):
        return asyncio.run(_arun(target, case, extra))
    if client is not None:
        return target(client.answering(case), *extra)
    with case.client() as fresh:
        return target(fresh, *extra)


class _Client:
    """The SDK client a fuzz run gives a sync target: one for every case, its transport swapped for the
    case's own (building an SDK client costs a few percent of a case), rebuilt if the target closes it."""

    def __init__(self) -> None:
        self.transport = _Swapped()
        self.http: httpx2.Client | None = None
        self.sdk: anthropic.Anthropic | None = None

    def answering(self, case: Case) -> anthropic.Anthropic:
        """The client, now answered by `case` (with its chunking and faults, on a VirtualClock), as `case.client()` is."""
        self.transport.current = transport_for(case, clock=VirtualClock())  # its own chunking and faults apply
        if self.sdk is None or self.http is None or self.http.is_closed:  # first case, or the target closed it
            self.http = httpx2.Client(transport=self.transport)
            self.sdk = anthropic.Anthropic(api_key=_PLACEHOLDER_KEY, http_client=self.http)
        self.http.cookies.clear()  # nothing a case answered carries over to the next
        return self.sdk


class _Swapped(httpx2.BaseTransport):
    """A transport that hands every request to `current`."""

    current: httpx2.BaseTransport

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return self.current.handle_request(request)


async def _arun(target: Target, case: Case, extra: tuple[Any, ...]) -> Any:
    async with case.async_client() as client:
        return await target(client, *extra)


def _wants_oracle(target: Target) -> bool:
    """Whether `target` takes a second positional parameter (`check(client, expected)`)."""
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in parameters)


def example_database(spec: DatabaseArg) -> ExampleDatabase | None:
    """An ExampleDatabase from a directory path or a `redis://` URL (hypothesis[redis]); None stays None."""
    if spec is None or isinstance(spec, ExampleDatabase):
        return spec
    if str(spec).startswith(("redis://", "rediss://")):
        try:
            import redis
            from hypothesis.extra.redis import RedisExampleDatabase
        except ImportError:
            raise FuzzError("a redis:// database needs the redis client: pip install 'hypothesis[redis]'") from None
        return RedisExampleDatabase(redis.Redis.from_url(str(spec)))
    return DirectoryBasedExampleDatabase(os.fspath(spec))


def fuzz(target: str | Target, *, cassette: Cassette | str | os.PathLike[str] | None = None, examples: int = 100,
         seed: int | None = None, save_failures: str | os.PathLike[str] | None = None,
         strategy: SearchStrategy[Any] | None = None, progress: Progress | None = None,
         workers: int = 1, conversations: bool = False, database: DatabaseArg = None) -> FuzzResult:
    """Run `target` on up to `examples` generated cases; on the first exception, shrink and stop.

    `target` is a callable or a `module:function` spec. Cases come from `strategy`, else
    `mutations(cassette, any_request=True)` when a `cassette` is given, else
    `conversations(chunkings=chunkings())` with `conversations=True`, else
    `message_streams(chunkings=chunkings())`. `seed` makes the run repeatable. The minimal failing
    case is saved under `save_failures` (a directory) when given, one file per distinct failure.

    `database` (a directory, a `redis://` URL or an ExampleDatabase) is hypothesis' example
    database: failures saved there by earlier runs, here or on other machines sharing it, are
    replayed first. `workers > 1` searches in that many forked processes (seeds `seed`,
    `seed + 1`, ...) sharing one database (a temporary one unless given), splitting the
    examples; the first failure saved there is replayed and reported by this process.
    """
    from ._conversations import conversations as conversation_strategy
    from ._strategies import chunkings, message_streams, mutations

    name = target if isinstance(target, str) else _name_of(target)
    function = load_target(target) if isinstance(target, str) else target
    if cassette is not None and _wants_oracle(function):
        raise FuzzError(f"{name} takes (client, expected), but a mutated cassette has no expected Message: "
                        f"fuzz it with generated streams or conversations")
    if strategy is None:
        if cassette is not None:
            strategy = mutations(cassette, any_request=True)
        elif conversations:
            strategy = conversation_strategy(chunkings=chunkings())
        else:
            strategy = message_streams(chunkings=chunkings())
    db = example_database(database)
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        with tempfile.TemporaryDirectory(prefix="cassette-fuzz-") as scratch:
            shared = db if db is not None else DirectoryBasedExampleDatabase(scratch)
            result = _parallel(function, name, strategy, examples, seed, progress, workers, shared)
    else:
        result = _search(function, name, strategy, examples, seed, progress, db)
    if result.failure is None or save_failures is None:
        return result
    failure = result.failure
    saved = failure.case.save(Path(save_failures) / _file_name(name, failure))
    return replace(result, failure=replace(failure, saved=saved))


_SEARCH = (Phase.reuse, Phase.generate, Phase.shrink)
_REPLAY = (Phase.reuse, Phase.shrink)


def explore(strategy: SearchStrategy[Any], examples: int, run: Callable[[Any], None], *, seed: int | None = None,
            database: ExampleDatabase | None = None, key: bytes | None = None,
            phases: tuple[Phase, ...] = _SEARCH) -> None:
    """Hypothesis calls `run(case)` on up to `examples` cases of `strategy`, until `run` raises; then it
    shrinks that case and raises the exception again. `key` files the failures in `database`; `seed`
    makes the cases repeatable.

    One case per hypothesis example. Several (a list of them) would share what hypothesis spends
    per example, but hypothesis makes most new examples by copying one part of an example over
    another, which leaves all but one case of a batch as they were: in 1,000 cases of batches of
    1-6, 56% repeated an earlier case (1% one per example), so fewer distinct cases a second.
    """

    def check(case: Any) -> None:
        run(case)

    test = settings(max_examples=examples, database=database, deadline=None, derandomize=False, phases=phases,
                    suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet, report_multiple_bugs=False,
                    print_blob=False)(given(strategy)(check))
    if key is not None:
        test._hypothesis_internal_database_key = key
    if seed is not None:
        # What hypothesis.seed() does, minus switching the database off: a seeded worker still shares it.
        test._hypothesis_internal_use_seed = seed
    with _frozen():
        test()


def _search(function: Target, name: str, strategy: SearchStrategy[Any], examples: int, seed: int | None,
            progress: Progress | None, database: ExampleDatabase | None = None,
            phases: tuple[Phase, ...] = _SEARCH) -> FuzzResult:
    """One hypothesis run: replay the database's failures, search, shrink the first failure, return it (unsaved)."""
    state = _State(progress)
    oracle = _wants_oracle(function)
    client = _Client()

    def check(case: Case) -> None:
        state.start(case)
        try:
            run_case(function, case, oracle=oracle, client=client)
        except StopTest:  # hypothesis abandoned a conversation mid-draw: not a case, not a failure
            state.abandoned()
            raise
        except BaseException:
            state.failed = True
            raise

    # Failures are filed under the target and the strategy (`check` is the same for every target).
    key = hashlib.sha256(f"{name}\n{strategy!r}".encode()).digest()
    try:
        explore(strategy, examples, check, seed=seed, database=database, key=key, phases=phases)
    except HypothesisException as exc:
        if not state.failed:
            raise FuzzError(f"hypothesis could not fuzz {name}: {exc}") from exc
        error: BaseException = _cause(exc)
    except FuzzError:
        raise
    except Exception as exc:  # the target's own exception, raised again on the minimal case
        error = exc
    else:
        return FuzzResult(name, state.runs)
    assert state.current is not None
    return FuzzResult(name, state.runs - state.shrink_runs, state.shrink_runs,
                      Failure(state.current, error, _format(error)))


def _parallel(function: Target, name: str, strategy: SearchStrategy[Any], examples: int, seed: int | None,
              progress: Progress | None, workers: int, database: ExampleDatabase) -> FuzzResult:
    """`_search` in `workers` forked processes on one database; the first failure saved there is replayed here.

    Only counts and a flag cross processes: the failing case travels through the database, as
    between machines, so this process shrinks (it is minimal already) and reports it itself.
    """
    context = multiprocessing.get_context("fork")  # the children inherit the target: nothing to import or pickle
    queue = context.SimpleQueue()
    base = seed if seed is not None else random.getrandbits(32)
    shares = [examples // workers + (i < examples % workers) for i in range(workers)]
    processes = [context.Process(target=_worker, args=(queue, i, function, name, strategy, share, base + i, database),
                                 daemon=True) for i, share in enumerate(shares) if share]
    gc.freeze()  # the children's collector then leaves the parent's objects (and their pages) alone
    try:
        for process in processes:
            process.start()
    finally:
        gc.unfreeze()
    searched = [0] * len(processes)  # cases searched per worker, as last reported
    finished = 0
    failed = False
    try:
        while finished < len(processes) and not failed:
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
                finished += 1
                searched[index], failed = payload
    finally:
        for process in processes:  # ours: stop the searches still running once one has failed
            if process.is_alive():
                process.terminate()
            process.join()
    if not failed:
        return FuzzResult(name, sum(searched))
    replayed = _search(function, name, strategy, examples, seed, progress, database, _REPLAY)
    if replayed.failure is None:
        raise FuzzError(f"{name} failed in a worker but not when its saved failure was replayed: is it flaky?")
    return FuzzResult(name, sum(searched), replayed.shrink_runs, replayed.failure)


def _worker(queue: Any, index: int, function: Target, name: str, strategy: SearchStrategy[Any], examples: int,
            seed: int, database: ExampleDatabase) -> None:
    def progress(phase: str, runs: int) -> None:
        if runs % 10 == 0:
            queue.put(("progress", index, (phase, runs)))

    try:
        result = _search(function, name, strategy, examples, seed, progress, database)
    except FuzzError as exc:
        queue.put(("error", index, str(exc)))
        return
    queue.put(("done", index, (result.runs, result.failure is not None)))


@contextmanager
def _frozen() -> Iterator[None]:
    """Leave what is alive before the run (the SDK, hypothesis, the app: ~200k objects) out of the
    collections made during it, which otherwise walk all of it again and again (~5% of a run),
    unless something else froze objects already."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class _State:
    """Counts runs and remembers the case of the latest one: when hypothesis raises at the end, it
    has just replayed the minimal failing case."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.runs = 0
        self.shrink_runs = 0
        self.failed = False
        self.current: Case | None = None

    def abandoned(self) -> None:
        self.runs -= 1
        if self.failed:
            self.shrink_runs -= 1

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


_OURS = (str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2] / "recorder"))


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
    # What it was raised from (an SDK APIConnectionError says "Connection error." and no more).
    seen, cause = {id(error)}, _cause_of(error)
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        lines.append("caused by " + "".join(traceback.format_exception_only(type(cause), cause)))
        cause = _cause_of(cause)
    return "".join(lines)


def _cause_of(error: BaseException) -> BaseException | None:
    return error.__cause__ or (None if error.__suppress_context__ else error.__context__)


def _name_of(target: Target) -> str:
    """`module:qualname` of a function, or of a callable object's class."""
    named = target if hasattr(target, "__qualname__") else type(target)
    return f"{named.__module__}:{named.__qualname__}"


def _file_name(target: str, failure: Failure) -> str:
    """One file per distinct failure: named after the case and what it raised."""
    text = "\n".join([*failure.case.describe(None), failure.summary])
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in target)
    return f"{safe}-{digest}.jsonl"


def report(result: FuzzResult) -> list[str]:
    """What `cassette fuzz` prints: the verdict, the minimal case event by event, the error, how to replay it."""
    if result.failure is None:
        return [f"{result.target}: {result.runs} cases, no failure"]
    failure = result.failure
    case = failure.case
    events = sum(len(i.events) for i in case.cassette)
    size = f"{len(case.cassette)} turns, {events} events" if isinstance(case, Conversation) else f"{events} events"
    lines = [f"{result.target} failed on case {result.runs}; shrunk in {result.shrink_runs} runs to {size}:",
             *(f"  {line}" for line in case.describe()), "", failure.traceback.rstrip()]
    if failure.saved is not None:
        options = case.replay_options()
        flags = "".join(f" --fault {spec}" for spec in options.get("faults", ()))
        lines += ["", f"saved {failure.saved}", f"replay it: cassette play {failure.saved}{flags}"]
        if case.chunking is not None and "chunking" in options:
            lines.append(f"it fails again with the bytes cut the same way: "
                         f"FakeAnthropic({str(failure.saved)!r}, chunking={case.chunking!r})")
    return lines
