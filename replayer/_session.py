"""CassetteSession: one cassette, replayed or recorded as a vcrpy record mode says.

    none          replay only; a missing cassette or an unmatched request is an error
    once          record everything when the file is missing, else replay only
    new_episodes  replay what matches, record the rest (appended to the cassette)
    all           record everything again

Whatever the mode, the application is answered by a ReplayTransport. While recording, a
request the cassette cannot answer is first sent upstream, its whole response written to
the cassette, and then played back from there like any recorded interaction. So a test sees
the same thing in the run that records it and in every replay after it: `speed` and
`faults` apply to both.

Files (safe under pytest-xdist): a recording goes to a temporary file in the cassette's own
directory (for `new_episodes`, a copy of the cassette continued with `append=True`) and is
moved over the cassette with `os.replace` when the session is committed. A reader, such as
another worker, sees the old file or the new one, never half of one; if two sessions record
the same cassette at once, the last to commit wins. Nothing is locked.

Known limit: two *identical* requests racing each other while recording may both be taken for
one recorded interaction; the second then misses. Tests rarely race identical requests.

This module is the logic behind `replayer.plugin`; the plugin only maps pytest options,
markers and fixtures onto it.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import httpx2
from vcr.record_mode import RecordMode

from recorder import (
    Cassette,
    CassetteNotFoundError,
    CassetteWriter,
    Interaction,
    Recorder,
    load,
)
from recorder._patch import AsyncSend, Send, intercept

from ._client import _PLACEHOLDER_KEY
from ._errors import NoMatchError, ReplayError
from ._match import DEFAULT_MATCH_ON, Matcher, Playback
from ._timing import Clock
from ._transport import FaultsArg, ReplayTransport

MODES: tuple[str, ...] = tuple(m.value for m in RecordMode if m is not RecordMode.ANY)
"""The record modes a session accepts: vcrpy's, less `any` (which vcrpy leaves undefined)."""

LOCAL_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
"""Hosts a blocked network still lets anthropic requests reach: local mock servers and proxies."""

PLACEHOLDER_KEY = _PLACEHOLDER_KEY
"""The API key clients get when none is set: enough to replay, refused when recording."""


class RecordingError(ReplayError):
    """A request had to be recorded but could not be (no API key)."""


class NetworkBlockedError(ReplayError):
    """An anthropic request that no cassette serves was stopped before reaching the network."""


def record_mode(value: str | RecordMode) -> RecordMode:
    """The RecordMode named `value`; ValueError listing the valid ones otherwise."""
    try:
        mode = RecordMode(value)
    except ValueError:
        mode = None
    if mode is None or mode is RecordMode.ANY:
        raise ValueError(f"unknown record mode {value!r}; use one of {', '.join(MODES)}")
    return mode


# --- which cassette a test uses ------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9_.,=+\-\[\]]+")


def file_name(test_name: str) -> str:
    """A file name for a test: `test_x[a-b]` stays, other characters become `-` (plus a short hash
    of the original name, so ids that differ only there don't share a cassette)."""
    safe = _UNSAFE.sub("-", test_name)
    if safe != test_name:
        safe += "-" + hashlib.sha1(test_name.encode()).hexdigest()[:6]
    return safe


def default_path(test_file: Path, test_name: str, class_name: str | None = None) -> Path:
    """`<test dir>/cassettes/<test module>/<[Class.]test name>.jsonl`, as pytest-recording lays them out."""
    name = f"{class_name}.{test_name}" if class_name else test_name
    return test_file.parent / "cassettes" / test_file.stem / f"{file_name(name)}.jsonl"


@dataclass(frozen=True)
class CassetteSpec:
    """What `@pytest.mark.cassette(...)` asked for; `path` already resolved."""

    path: Path
    speed: float | None = None
    faults: tuple[Any, ...] = ()
    match_on: tuple[str | Matcher, ...] = DEFAULT_MATCH_ON
    ignore_keys: tuple[str, ...] = ()

    @classmethod
    def of(cls, args: Sequence[Any], kwargs: dict[str, Any], *, base: Path, default: Path) -> CassetteSpec:
        """Read marker arguments; a relative `path` is relative to `base` (the test file's directory)."""
        try:
            return _spec(*args, **kwargs, _base=base, _default=default)
        except TypeError as exc:
            raise TypeError(f"@pytest.mark.cassette: {exc}; the signature is cassette(path=None, *, speed=None, "
                            "faults=(), match_on=('method', 'path', 'body'), ignore_keys=())") from None


def _spec(path: str | os.PathLike[str] | None = None, *, speed: float | None = None,
          faults: str | Iterable[Any] = (), match_on: Iterable[str | Matcher] = DEFAULT_MATCH_ON,
          ignore_keys: str | Iterable[str] = (), _base: Path, _default: Path) -> CassetteSpec:
    resolved = _default if path is None else _base / Path(path)
    if speed is not None and not (isinstance(speed, int | float) and speed > 0):
        raise TypeError(f"speed must be a positive number or None, got {speed!r}")
    return CassetteSpec(resolved, speed, (faults,) if isinstance(faults, str) else tuple(faults), tuple(match_on),
                        (ignore_keys,) if isinstance(ignore_keys, str) else tuple(ignore_keys))


# --- the session ---------------------------------------------------------------------------------


class CassetteSession:
    """Serve every anthropic request from `path`, recording what it lacks when `mode` allows.

    Use it as a context manager (it patches every anthropic client, as `replay()` does), or
    route requests to `handle` / `ahandle` yourself. `close(commit=...)` ends a recording.

    >>> with CassetteSession("tests/cassettes/chat.jsonl", mode="once"):
    ...     run_my_app()   # records on the first run (ANTHROPIC_API_KEY needed), replays after
    """

    def __init__(self, path: str | os.PathLike[str], *, mode: str | RecordMode = RecordMode.NONE,
                 speed: float | None = None, clock: Clock | None = None, faults: FaultsArg = (),
                 match_on: Sequence[str | Matcher] = DEFAULT_MATCH_ON, ignore_keys: Iterable[str] = (),
                 test_id: str | None = None) -> None:
        self.path = Path(path)
        self.mode = record_mode(mode)
        self.test_id = test_id
        self.misses: list[str] = []
        """Explanations of the requests this session could not answer."""
        existed = self.path.is_file()
        self.recording = self.mode in (RecordMode.ALL, RecordMode.NEW_EPISODES) or (
            self.mode is RecordMode.ONCE and not existed)
        """Whether requests the cassette lacks are recorded (else they raise NoMatchError)."""
        if not existed and not self.recording:
            raise CassetteNotFoundError(self._missing_hint(), path=self.path)
        keep = existed and self.mode is not RecordMode.ALL
        base = load(self.path) if keep else Cassette(path=str(self.path))
        self.transport = ReplayTransport(base, speed=speed, clock=clock, faults=faults, match_on=match_on,
                                         ignore_keys=ignore_keys)
        """The ReplayTransport answering the application; `transport.calls` lists what was played."""
        self._pool = _Pool(self.transport.playback, match_on, ignore_keys)
        self.transport.playback = self._pool  # type: ignore[assignment]
        self._base = base
        self._new_episodes = keep  # recording continues an existing cassette
        self._recorded = 0
        self._writer: _Writer | None = None
        self._temp: Path | None = None
        self._exit = ExitStack()
        if self.recording:
            self._start_recording()

    # --- what the test sees

    @property
    def cassette(self) -> Cassette | LiveCassette:
        """The cassette as loaded; while recording, a LiveCassette showing what is recorded so far."""
        return LiveCassette(self) if self.recording else self._base

    @property
    def current_file(self) -> Path:
        """Where the cassette's lines are right now: the temporary file while recording, else `path`."""
        return self._temp if self._temp is not None else self.path

    # --- routing requests

    def handle(self, request: httpx2.Request, send: Send) -> httpx2.Response:
        """Answer one sync request; `send` reaches upstream (used only to record)."""
        request.read()
        if self._writer is not None and not self._pool.can_answer(request):
            self._record(request, send)
        with self._explained():
            return self.transport.handle_request(request)

    async def ahandle(self, request: httpx2.Request, send: AsyncSend) -> httpx2.Response:
        """Answer one async request; `send` reaches upstream (used only to record)."""
        await request.aread()
        if self._writer is not None and not self._pool.can_answer(request):
            await self._arecord(request, send)
        with self._explained():
            return await self.transport.handle_async_request(request)

    def __enter__(self) -> Self:
        self._exit.enter_context(intercept(self.handle, self.ahandle))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self.close(commit=exc_type is None)

    def close(self, *, commit: bool = True) -> Path | None:
        """Stop routing; end a recording: moved over `path` with `commit`, thrown away without.

        A `new_episodes` session that recorded nothing leaves the cassette untouched. Returns the
        path written, if any.
        """
        self._exit.close()
        if self._writer is None or self._temp is None:
            return None
        self._writer.close()
        temp, self._writer, self._temp = self._temp, None, None
        if commit and (self._recorded or not self._new_episodes):
            os.replace(temp, self.path)
            return self.path
        temp.unlink(missing_ok=True)
        return None

    # --- recording

    def _start_recording(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._temp = self.path.with_name(f".{self.path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        if self._new_episodes:
            shutil.copyfile(self.path, self._temp)
        self._writer = _Writer(self._temp, append=self._new_episodes)
        self._recorder = Recorder(self._writer)

    def _check_key(self, request: httpx2.Request) -> None:
        credentials = (request.headers.get("x-api-key", ""), request.headers.get("authorization", ""))
        if any(value.removeprefix("Bearer ") == PLACEHOLDER_KEY for value in credentials):
            raise RecordingError(
                f"cannot record {request.method} {request.url.path} into {self.path}: no API key. "
                "Set ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for a proxy or gateway) to record.")

    def _prepare(self, request: httpx2.Request) -> None:
        self._check_key(request)
        # One connection per recorded request: the response is read whole before the app sees it,
        # so keep-alive gains nothing, and clients the app never closes then leave no open socket.
        request.headers["connection"] = "close"

    def _record(self, request: httpx2.Request, send: Send) -> None:
        self._prepare(request)
        assert self._writer is not None
        token = self._writer.last_id.set(None)
        try:
            try:
                response = self._recorder.send(request, send)
                try:
                    response.read()
                finally:
                    response.close()
            except Exception:
                if self._writer.last_id.get() is None:
                    raise  # nothing was recorded
                # Otherwise the cassette now holds the failure and the replay raises it again.
            self._add(self._writer.last_id.get())
        finally:
            self._writer.last_id.reset(token)

    async def _arecord(self, request: httpx2.Request, send: AsyncSend) -> None:
        self._prepare(request)
        assert self._writer is not None
        token = self._writer.last_id.set(None)
        try:
            try:
                response = await self._recorder.asend(request, send)
                try:
                    await response.aread()
                finally:
                    await response.aclose()
            except Exception:
                if self._writer.last_id.get() is None:
                    raise
            self._add(self._writer.last_id.get())
        finally:
            self._writer.last_id.reset(token)

    def _add(self, id: int | None) -> None:
        assert self._temp is not None
        interaction = next(i for i in load(self._temp).interactions if i.id == id)
        self._pool.add(interaction)
        self._recorded += 1

    # --- messages

    @contextmanager
    def _explained(self) -> Iterator[None]:
        try:
            yield
        except NoMatchError as miss:
            message = f"{miss}\n{self._miss_hint()}"
            self.misses.append(message)
            raise NoMatchError(message) from None

    def _command(self, mode: str) -> str:
        return f"ANTHROPIC_API_KEY=sk-ant-... pytest --cassette-mode={mode} {self.test_id or '<test>'}"

    def _missing_hint(self) -> str:
        return ("no such cassette, and record mode 'none' only replays. Record it once with a real key:\n"
                f"    {self._command('once')}\nthen commit the cassette file.")

    def _miss_hint(self) -> str:
        return (f"Record mode '{self.mode.value}' records nothing into this cassette. To add the request:\n"
                f"    {self._command('new_episodes')}\nor re-record the whole cassette with --cassette-mode=all.")


class LiveCassette:
    """The cassette a session is recording, re-read on every access.

    It reads like a `recorder.Cassette` (`interactions`, `header`, `path`, `len`, iteration,
    indexing, `lines()`), so a test asserts on what a call just recorded the same way it asserts
    on a replayed cassette. `snapshot()` returns the Cassette as it stands.
    """

    def __init__(self, session: CassetteSession) -> None:
        self._session = session

    def snapshot(self) -> Cassette:
        """The cassette as recorded so far."""
        cassette = load(self._session.current_file)
        return Cassette(cassette.interactions, cassette.header, str(self._session.path))

    @property
    def interactions(self) -> tuple[Interaction, ...]:
        return self.snapshot().interactions

    @property
    def header(self) -> Any:
        return self.snapshot().header

    @property
    def path(self) -> str:
        return str(self._session.path)

    def lines(self) -> list[dict[str, Any]]:
        return self.snapshot().lines()

    def __len__(self) -> int:
        return len(self.interactions)

    def __iter__(self) -> Iterator[Interaction]:
        return iter(self.interactions)

    def __getitem__(self, index: int) -> Interaction:
        return self.interactions[index]

    def __repr__(self) -> str:
        return f"LiveCassette({self.path!r}, {len(self)} interactions so far)"


class _Writer(CassetteWriter):
    """A CassetteWriter that remembers, per task or thread, the id it handed out last."""

    def __init__(self, path: Path, *, append: bool) -> None:
        self.last_id: ContextVar[int | None] = ContextVar("last_id", default=None)
        super().__init__(path, append=append)

    def new_id(self) -> int:
        id = super().new_id()
        self.last_id.set(id)
        return id


class _Pool:
    """The cassette's Playback, then one Playback per interaction recorded in this session.

    Stands in for `ReplayTransport.playback`, so faults, pacing and ordering treat a fresh
    recording exactly like one loaded from the file.
    """

    def __init__(self, base: Playback, match_on: Sequence[str | Matcher], ignore_keys: Iterable[str]) -> None:
        self.base = base
        self.match_on = match_on
        self.ignore_keys = tuple(ignore_keys)
        self.fresh: list[Playback] = []

    def next_for(self, request: httpx2.Request, *, consume: bool = True) -> Interaction:
        try:
            return self.base.next_for(request, consume=consume)
        except NoMatchError as miss:
            for playback in self.fresh:
                try:
                    return playback.next_for(request, consume=consume)
                except NoMatchError:
                    continue
            raise miss from None

    def can_answer(self, request: httpx2.Request) -> bool:
        try:
            self.next_for(request, consume=False)
        except NoMatchError:
            return False
        return True

    def reset(self) -> None:
        for playback in (self.base, *self.fresh):
            playback.reset()

    def add(self, interaction: Interaction) -> None:
        cassette = Cassette((interaction,), path=self.base.cassette.path)
        self.fresh.append(Playback(cassette, match_on=self.match_on, ignore_keys=self.ignore_keys))


# --- tests without a cassette ------------------------------------------------------------------


class Gate:
    """Where every anthropic request of one test goes: its CassetteSession when it has one;
    else, with `block`, a NetworkBlockedError (hosts in `allowed_hosts` excepted); else upstream."""

    def __init__(self, *, block: bool, allowed_hosts: Iterable[str] = LOCAL_HOSTS, test_id: str | None = None) -> None:
        self.block = block
        self.allowed_hosts = frozenset(h.strip().lower() for h in allowed_hosts if h.strip())
        self.test_id = test_id
        self.session: CassetteSession | None = None

    def handle(self, request: httpx2.Request, send: Send) -> httpx2.Response:
        if self.session is not None:
            return self.session.handle(request, send)
        self._check(request)
        return send(request)

    async def ahandle(self, request: httpx2.Request, send: AsyncSend) -> httpx2.Response:
        if self.session is not None:
            return await self.session.ahandle(request, send)
        self._check(request)
        return await send(request)

    @contextmanager
    def installed(self) -> Iterator[Gate]:
        """Patch every anthropic client to go through this gate within the block."""
        with intercept(self.handle, self.ahandle):
            yield self

    def _check(self, request: httpx2.Request) -> None:
        host = request.url.host.lower().strip("[]")
        if self.block and host not in self.allowed_hosts:
            who = f"{self.test_id}: " if self.test_id else ""
            raise NetworkBlockedError(
                f"{who}blocked an Anthropic API request to {request.url.scheme}://{request.url.netloc.decode()}"
                f"{request.url.path}: the test has no cassette and the network is blocked "
                "(--cassette-block-network, the default in record mode 'none'). Give the test a cassette with "
                "@pytest.mark.cassette or the anthropic_client fixture, or let it through with "
                "--no-cassette-block-network.")


__all__ = ["LOCAL_HOSTS", "MODES", "PLACEHOLDER_KEY", "CassetteSession", "CassetteSpec", "Gate", "LiveCassette",
           "NetworkBlockedError", "RecordingError", "default_path", "file_name", "record_mode"]
