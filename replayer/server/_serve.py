"""`serve()`: a ReplayTransport behind a real HTTP endpoint, for clients in any language.

Point any Anthropic SDK at it (`ANTHROPIC_BASE_URL=http://127.0.0.1:PORT`): every request is
answered by the same ReplayTransport FakeAnthropic uses, so matching, pacing and faults are
the same, and its body is written to the socket chunk by chunk as the transport paces it.
What cannot travel as bytes travels as socket behaviour: a drop closes the connection without
the terminating chunk, a read error resets it, a timeout or stall goes silent.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, cast

import httpx2

from recorder import Cassette, CassetteError, load
from recorder._extras import extra

with extra("server", feature="replayer.serve"):
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import Response

from recorder._asgi import (
    Aborted,
    Receive,
    Scope,
    Send,
    arrival,
    break_connection,
    raw_headers,
    serve_app,
    stream_out,
)

from .._chunking import Chunking
from .._errors import InvalidRequestError, NoMatchError, ReplayError
from .._explain import Advice
from .._match import DEFAULT_MATCH_ON, Matcher
from .._script import script_of
from .._sources import merge
from .._timing import RealClock
from .._transport import INTERACTION, FaultsArg, ReplayStream, ReplayTransport, as_cassette, transport_for
from . import _admin
from ._journal import Entry, Journal
from ._sessions import DEFAULT_SESSION, SESSION_HEADER, Sessions

CassetteLike = Cassette | str | os.PathLike[str]
# A replayed body is the decoded text, chunked afresh by the server: these no longer apply.
_BODY_HEADERS = ("content-length", "content-encoding")
# The read timeout the official SDKs announce, in seconds: the Python SDK sends both (read
# first), the TypeScript SDK only x-stainless-timeout. A silent server stays silent a little
# longer, so the client, not the server, is the one that gives up (as with a real hung server).
TIMEOUT_HEADERS = ("x-stainless-read-timeout", "x-stainless-timeout")
_SILENCE_MARGIN = 1.0
MAX_STALL = 60.0
"""The longest the server stays silent (a timeout fault, a stall) unless told otherwise."""
SERVE_ADVICE = Advice(ignore_keys=lambda keys: f"serve(..., ignore_keys={list(keys)!r})",
                      match_on="pass serve(..., match_on=[...])",
                      start_over="POST /_cassette/reset, send another x-cassette-session header, "
                                 "or serve without once=True")


def load_all(cassettes: Iterable[CassetteLike]) -> Cassette:
    """One cassette holding the interactions of all `cassettes` (files, or folders of *.jsonl), in order.

    Interactions are renumbered 0, 1, 2, ... across files; misses still name each one's own file and id.
    """
    loaded: list[Cassette] = []
    for item in cassettes:
        if not isinstance(item, (str, os.PathLike)):
            loaded.append(as_cassette(item))  # a Cassette, or a case
        elif Path(item).is_dir():
            files = sorted(Path(item).glob("*.jsonl"))
            if not files:
                raise CassetteError("the folder has no *.jsonl cassettes", path=item)
            loaded.extend(load(f) for f in files)
        else:
            loaded.append(load(item))
    return merge(loaded)


class ReplayApp:
    """An ASGI app that answers every request from `transport` and streams the body out as paced.

    A request nothing matches gets a 404 `not_found_error` (x-should-retry: false) naming the
    closest recorded request; a body that is not a JSON object (and was never recorded) the API's
    400 `invalid_request_error`; other replay errors (a fault that cannot fire) a 500 `api_error`.
    A request with an `x-cassette-session: NAME` header plays a session of its own (a fork of
    `transport`, from the start); paths under /_cassette/ are the admin API (see `_admin`).
    Every request is journaled and, with `log`, logged in one line. No silence lasts longer
    than `max_stall` seconds.
    """

    def __init__(self, transport: ReplayTransport, *, log: TextIO | None = None,
                 max_stall: float = MAX_STALL) -> None:
        self.sessions = Sessions(transport)
        self.journal = Journal(log=log)
        self.max_stall = max_stall
        self._prepare()

    @property
    def transport(self) -> ReplayTransport:
        """The default session's transport; setting it serves another one, every session from the start."""
        return self.sessions.base

    @transport.setter
    def transport(self, transport: ReplayTransport) -> None:
        self.sessions = Sessions(transport)
        self._prepare()

    def _prepare(self) -> None:
        """Encode every recorded body now, so that no request waits for it (nor for another's)."""
        transport = self.transport
        if not isinstance(transport, ReplayTransport):
            return  # a conversation: its answers do not exist yet
        joined = transport.speed is None and not transport.faults and transport.chunking is None
        for interaction in transport.cassette.interactions:
            script_of(transport.cassette, interaction, joined=joined)
        # What a first miss needs, computed meanwhile: a miss that comes sooner waits for it.
        threading.Thread(target=transport.playback.prepare, name="cassette serve: fingerprints", daemon=True).start()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        incoming = Request(scope, receive)
        if _admin.is_admin(incoming.url.path):
            await _admin.answer(incoming, self.sessions, self.journal)(scope, receive, send)
            return
        session = incoming.headers.get(SESSION_HEADER) or DEFAULT_SESSION
        path = incoming.url.path + (f"?{incoming.url.query}" if incoming.url.query else "")
        try:
            content = await incoming.body()
        except ClientDisconnect:
            entry = self.journal.begin(session, incoming.method, path, incoming.headers.items(), b"")
            entry.finish(None, "disconnected", message="the client disconnected while sending its request body")
            self.journal.add(entry)
            return
        entry = self.journal.begin(session, incoming.method, path, incoming.headers.items(), content)
        try:
            await self._answer(entry, self.sessions.get(session), incoming, content, scope, receive, send)
        finally:
            if entry.outcome is None:  # cancelled: the server is shutting down
                entry.finish(None, "broken", message="the server stopped the request (shutting down)")
            self.journal.add(entry)

    async def _answer(self, entry: Entry, transport: ReplayTransport, incoming: Request, content: bytes,
                      scope: Scope, receive: Receive, send: Send) -> None:
        request = httpx2.Request(incoming.method, str(incoming.url), headers=incoming.headers.raw, content=content,
                                 extensions={"timeout": {"read": silence(incoming.headers, self.max_stall)}})
        try:
            response = await transport.handle_async_request(request)
        except InvalidRequestError as exc:
            exc.__traceback__ = None  # as for a miss, below
            entry.finish(400, "invalid_request", message=str(exc))
            await _api_error(400, "invalid_request_error", str(exc))(scope, receive, send)
            return
        except NoMatchError as exc:
            # Its traceback holds these frames, and so the request body (it may be megabytes), in a
            # cycle through the worker thread's future that only a full collection would free.
            exc.__traceback__ = None
            entry.answered(transport.cassette, exc.closest, matched=False)
            entry.finish(404, "miss", message=str(exc))
            await _api_error(404, "not_found_error", str(exc))(scope, receive, send)
            return
        except ReplayError as exc:
            exc.__traceback__ = None  # as for a miss
            entry.finish(500, "replay_error", message=str(exc))
            await _api_error(500, "api_error", str(exc))(scope, receive, send)
            return
        except httpx2.TransportError as exc:
            # No response at all (a connect error, a timeout, a recording that broke before one).
            entry.finish(None, "broken", message=f"{type(exc).__name__}: {exc}")
            break_connection(reset=isinstance(exc, httpx2.ReadError))
            raise Aborted(f"{type(exc).__name__}: {exc}") from exc
        entry.answered(transport.cassette, response.extensions.get(INTERACTION), matched=True)
        self._pace_from_arrival(transport, response)
        sse = response.headers.get("content-type", "").startswith("text/event-stream")
        events = _Events()
        # As bytes: the recorded values may be any text (UTF-8 on the wire), more than Latin-1 can hold.
        items = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in response.headers.raw]
        stream = response.stream
        try:
            complete = await stream_out(send, response.status_code, raw_headers(items, drop=_BODY_HEADERS),
                                        cast(AsyncIterable[bytes], stream), on_chunk=events if sse else None,
                                        at_end=stream.at_end if isinstance(stream, ReplayStream) else None)
        except Aborted as exc:
            entry.finish(response.status_code, "broken", events=events.count, message=str(exc))
            raise
        except OSError:
            complete = False
        entry.finish(response.status_code, "complete" if complete else "disconnected", events=events.count)

    @staticmethod
    def _pace_from_arrival(transport: ReplayTransport, response: httpx2.Response) -> None:
        """Recorded offsets count from when the request was sent, so pace the body from its arrival.

        The transport starts its pacer when it gets to the request; under a burst of requests
        that is later, by the time spent on the ones before it.
        """
        stream, arrived = response.stream, arrival()
        if (isinstance(stream, ReplayStream) and stream.pacer is not None and arrived is not None
                and isinstance(transport.clock, RealClock)):
            stream.pacer.origin = min(stream.pacer.origin, arrived)


class _Events:
    """Counts the SSE events of a body it is given chunk by chunk."""

    def __init__(self) -> None:
        self.count = 0
        self._tail = b""  # the end of the previous chunk: a blank line may straddle two chunks

    def __call__(self, chunk: bytes) -> None:
        joined = self._tail + chunk
        self.count += _blank_lines(joined) - _blank_lines(self._tail)
        self._tail = joined[-3:]


def _blank_lines(data: bytes) -> int:
    """Event terminators (WHATWG SSE: a blank line, with \\n or \\r\\n line ends)."""
    return data.count(b"\n\n") + data.count(b"\r\n\r\n")


def silence(headers: Mapping[str, str], max_stall: float = MAX_STALL) -> float:
    """How long a silent fault keeps the socket silent: past the client's announced read timeout, at most `max_stall`."""
    for name in TIMEOUT_HEADERS:
        try:
            value = float(headers[name])
        except (KeyError, ValueError):
            continue
        if math.isfinite(value) and value >= 0:
            return min(value + _SILENCE_MARGIN, max_stall)
    return max_stall


def _api_error(status: int, kind: str, message: str) -> Response:
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return Response(json.dumps(body, ensure_ascii=False), status_code=status, media_type="application/json",
                    headers={"x-should-retry": "false"})


class Served(str):
    """The base URL of a running `serve()` (it is that str), and the handle that swaps what it answers.

    >>> with serve(first_case) as server:
    ...     for case in cases:
    ...         server.use(case)   # the next requests are answered from `case`
    ...         my_library(base_url=server)
    """

    app: ReplayApp

    def __new__(cls, url: str, app: ReplayApp) -> Served:
        served = super().__new__(cls, url)
        served.app = app
        return served

    @property
    def url(self) -> str:
        """The base URL, as a plain str."""
        return str.__str__(self)

    def use(self, case: CassetteLike | Any, **options: Any) -> Any:
        """Answer every request from now on from `case` (a cassette, a generated or mutated case, or a
        conversation); `options` are FakeAnthropic's (chunking, faults, speed, ...). Returns the transport.

        Swapping costs one transport, not a server: fuzzing through a server runs at hundreds of examples/s.
        """
        transport = case if isinstance(case, ReplayTransport) else transport_for(case, **options)
        self.app.transport = transport
        return transport


@contextmanager
def serve(*cassettes: CassetteLike | ReplayTransport | Any, host: str = "127.0.0.1", port: int = 0,
          speed: float | None = None, faults: FaultsArg = (), match_on: Sequence[str | Matcher] = DEFAULT_MATCH_ON,
          ignore_keys: Iterable[str] = (), once: bool = False, log: TextIO | None = None,
          max_stall: float = MAX_STALL, on_listen: Callable[[str], object] | None = None,
          chunking: Chunking | None = None) -> Iterator[Served]:
    """Serve `cassettes` over real HTTP in a background thread; yield the base URL (a `Served` str).

    Cassettes are files or folders of *.jsonl, merged in order, or one case (a generated stream,
    a mutated cassette, a conversation answering live); `speed`, `faults`, `match_on`,
    `ignore_keys` and `chunking` mean what they mean for FakeAnthropic. Identical requests replay
    in recorded order, and once they are used up the last keeps answering; `once=True` answers
    each recorded interaction once. Clients sending `x-cassette-session: NAME` each play from
    the start; see docs/serving.md for the admin API. `log` (e.g. sys.stderr) gets one line per
    request; no silence lasts longer than `max_stall` seconds. `on_listen(url)` is called as
    soon as the socket listens, before the server has started. To inspect what was played
    (`calls`, `requests`), pass one ReplayTransport you built instead of cassettes (its own
    `repeat` then applies). `Served.use(case)` swaps what the running server answers from, e.g.
    once per fuzzed example. On exit, streams still in flight are cut and the server stops.

    >>> with serve("cassettes/text.jsonl", speed=1.0) as url:
    ...     client = anthropic.Anthropic(base_url=url, api_key="-")
    """
    options: dict[str, Any] = {"speed": speed, "faults": faults, "match_on": match_on, "ignore_keys": ignore_keys,
                               "chunking": chunking, "repeat": not once}
    if len(cassettes) == 1 and isinstance(cassettes[0], ReplayTransport):
        transport = cassettes[0]
    elif any(isinstance(c, ReplayTransport) for c in cassettes):
        raise TypeError("pass either one ReplayTransport or cassettes, not both")
    elif not cassettes:
        raise TypeError("serve() needs at least one cassette")
    elif len(cassettes) == 1 and not isinstance(cassettes[0], (str, os.PathLike, Cassette)):
        transport = transport_for(cassettes[0], **options)  # one case: its own chunking, faults or live answers
    else:
        transport = ReplayTransport(load_all(cassettes), **options, advice=SERVE_ADVICE)  # type: ignore[arg-type]
    if not max_stall > 0:
        raise ValueError(f"max_stall must be > 0 seconds, got {max_stall!r}")
    app = ReplayApp(transport, log=log, max_stall=max_stall)
    with serve_app(app, host=host, port=port, name="cassette serve", on_listen=on_listen) as url:
        yield Served(url, app)
