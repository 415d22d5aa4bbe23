"""CassetteSession: one cassette, replayed or recorded as a vcrpy record mode says (`_mode.py`).

Whatever the mode, the application is answered by a ReplayTransport. While recording, a
request the cassette cannot answer is first sent upstream, its whole response written to
the cassette, and then played back from there like any recorded interaction. So a test sees
the same thing in the run that records it and in every replay after it: `speed` and
`faults` apply to both. How the file is written and committed is `_commit.py`.

Known limit: two *identical* requests racing each other while recording may both be taken for
one recorded interaction; the second then misses. Tests rarely race identical requests.

This is the logic behind `replayer.plugin`; the plugin only maps pytest options, markers and
fixtures onto it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Self

import httpx2
from vcr.record_mode import RecordMode

from recorder import Cassette, CassetteNotFoundError, Interaction, Recorder, load
from recorder._patch import AsyncSend, Send, intercept

from .._client import _PLACEHOLDER_KEY
from .._errors import NoMatchError, ReplayError
from .._match import DEFAULT_MATCH_ON, Matcher
from .._timing import Clock
from .._transport import FaultsArg, ReplayTransport
from ._commit import PendingCassette
from ._mode import Plan
from ._pool import Pool

PLACEHOLDER_KEY = _PLACEHOLDER_KEY
"""The API key clients get when none is set: enough to replay, refused when recording."""


class RecordingError(ReplayError):
    """A request had to be recorded but could not be (no API key)."""


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
        self.test_id = test_id
        self.misses: list[str] = []
        """Explanations of the requests this session could not answer."""
        plan = Plan.of(self.path, mode)
        self.mode = plan.mode
        self.recording = plan.records
        """Whether requests the cassette lacks are recorded (else they raise NoMatchError)."""
        if not plan.possible:
            raise CassetteNotFoundError(self._missing_hint(), path=self.path)
        self._base = load(self.path) if plan.keeps else Cassette(path=str(self.path))
        self.transport = ReplayTransport(self._base, speed=speed, clock=clock, faults=faults, match_on=match_on,
                                         ignore_keys=ignore_keys)
        """The ReplayTransport answering the application; `transport.calls` lists what was played."""
        self._pool = Pool(self.transport.playback, match_on, ignore_keys)
        self.transport.playback = self._pool  # type: ignore[assignment]
        self._pending = PendingCassette(self.path, continues=plan.keeps) if self.recording else None
        self._recorder = Recorder(self._pending.writer) if self._pending is not None else None
        self._exit = ExitStack()

    # --- what the test sees

    @property
    def cassette(self) -> Cassette | LiveCassette:
        """The cassette as loaded; while recording, a LiveCassette showing what is recorded so far."""
        return LiveCassette(self) if self.recording else self._base

    @property
    def current_file(self) -> Path:
        """Where the cassette's lines are right now: the temporary file while recording, else `path`."""
        return self._pending.file if self._pending is not None else self.path

    # --- routing requests

    def handle(self, request: httpx2.Request, send: Send) -> httpx2.Response:
        """Answer one sync request; `send` reaches upstream (used only to record)."""
        request.read()
        if self._pending is not None and not self._pool.can_answer(request):
            self._record(request, send)
        with self._explained():
            return self.transport.handle_request(request)

    async def ahandle(self, request: httpx2.Request, send: AsyncSend) -> httpx2.Response:
        """Answer one async request; `send` reaches upstream (used only to record)."""
        await request.aread()
        if self._pending is not None and not self._pool.can_answer(request):
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
        pending, self._pending = self._pending, None
        return pending.close(commit=commit) if pending is not None else None

    # --- recording

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
        assert self._pending is not None and self._recorder is not None
        writer = self._pending.writer
        token = writer.last_id.set(None)
        try:
            try:
                response = self._recorder.send(request, send)
                try:
                    response.read()
                finally:
                    response.close()
            except Exception:
                if writer.last_id.get() is None:
                    raise  # nothing was recorded
                # Otherwise the cassette now holds the failure and the replay raises it again.
            self._add(writer.last_id.get())
        finally:
            writer.last_id.reset(token)

    async def _arecord(self, request: httpx2.Request, send: AsyncSend) -> None:
        self._prepare(request)
        assert self._pending is not None and self._recorder is not None
        writer = self._pending.writer
        token = writer.last_id.set(None)
        try:
            try:
                response = await self._recorder.asend(request, send)
                try:
                    await response.aread()
                finally:
                    await response.aclose()
            except Exception:
                if writer.last_id.get() is None:
                    raise
            self._add(writer.last_id.get())
        finally:
            writer.last_id.reset(token)

    def _add(self, id: int | None) -> None:
        assert self._pending is not None
        self._pool.add(self._pending.take(id))

    # --- messages

    @contextmanager
    def _explained(self) -> Iterator[None]:
        try:
            yield
        except NoMatchError as miss:
            message = f"{miss}\n{self._miss_hint()}"
            self.misses.append(message)
            raise NoMatchError(message, closest=miss.closest) from None

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
