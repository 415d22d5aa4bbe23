"""`serve()`: a ReplayTransport behind a real HTTP endpoint, for clients in any language.

Point any Anthropic SDK at it (`ANTHROPIC_BASE_URL=http://127.0.0.1:PORT`): every request is
answered by the same ReplayTransport FakeAnthropic uses, so matching, pacing and faults are
the same, and its body is written to the socket chunk by chunk as the transport paces it.
What cannot travel as bytes travels as socket behaviour: a drop closes the connection without
the terminating chunk, a read error resets it, a timeout or stall goes silent.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import httpx2
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from recorder import Cassette, CassetteError, load
from recorder._asgi import (
    Aborted,
    Receive,
    Scope,
    Send,
    arrival,
    break_connection,
    raw_headers,
    relay,
    serve_app,
)

from .._errors import NoMatchError, ReplayError
from .._match import DEFAULT_MATCH_ON, Matcher
from .._script import script_of
from .._timing import RealClock
from .._transport import FaultsArg, ReplayStream, ReplayTransport

CassetteLike = Cassette | str | os.PathLike[str]
# A replayed body is the decoded text, chunked afresh by the server: these no longer apply.
_BODY_HEADERS = ("content-length", "content-encoding")
# The SDKs announce their read timeout; a silent server stays silent a little longer, so the
# client, not the server, is the one that gives up (as with a real hung server).
_READ_TIMEOUT_HEADER = "x-stainless-read-timeout"
_SILENCE_MARGIN = 1.0
_DEFAULT_SILENCE = 600.0


def load_all(cassettes: Iterable[CassetteLike]) -> Cassette:
    """One cassette holding the interactions of all `cassettes` (files, or folders of *.jsonl), in order.

    Interactions are renumbered 0, 1, 2, ... across files.
    """
    loaded: list[Cassette] = []
    for item in cassettes:
        if isinstance(item, Cassette):
            loaded.append(item)
        elif Path(item).is_dir():
            files = sorted(Path(item).glob("*.jsonl"))
            if not files:
                raise CassetteError("the folder has no *.jsonl cassettes", path=item)
            loaded.extend(load(f) for f in files)
        else:
            loaded.append(load(item))
    if len(loaded) == 1:
        return loaded[0]
    interactions = [i for c in loaded for i in c.interactions]
    renumbered = tuple(dataclasses.replace(i, id=n) for n, i in enumerate(interactions))
    header = dict(loaded[0].header) if loaded else {"cassette": 1}
    return Cassette(renumbered, header, ", ".join(c.path or "(in memory)" for c in loaded))


class ReplayApp:
    """An ASGI app that answers every request from `transport` and streams the body out as paced.

    A request nothing matches gets a 404 `not_found_error` (x-should-retry: false) naming the
    closest recorded request; other replay errors (a fault that cannot fire) a 500 `api_error`.
    """

    def __init__(self, transport: ReplayTransport) -> None:
        self.transport = transport
        self._prepare()

    def _prepare(self) -> None:
        """Encode every recorded body now, so that no request waits for it (nor for another's)."""
        joined = self.transport.speed is None and not self.transport.faults and self.transport.chunking is None
        for interaction in self.transport.cassette.interactions:
            script_of(self.transport.cassette, interaction, joined=joined)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        incoming = Request(scope, receive)
        request = httpx2.Request(incoming.method, str(incoming.url), headers=incoming.headers.raw,
                                 content=await incoming.body(),
                                 extensions={"timeout": {"read": _silence(incoming)}})
        try:
            response = await self.transport.handle_async_request(request)
        except NoMatchError as exc:
            reply: Response = _api_error(404, "not_found_error", str(exc))
        except ReplayError as exc:
            reply = _api_error(500, "api_error", str(exc))
        except httpx2.TransportError as exc:
            # No response at all (a connect error, a timeout, a recording that broke before one).
            break_connection(reset=isinstance(exc, httpx2.ReadError))
            raise Aborted(f"{type(exc).__name__}: {exc}") from exc
        else:
            self._pace_from_arrival(response)
            body = relay(cast(AsyncIterable[bytes], response.stream))
            reply = StreamingResponse(body, status_code=response.status_code)
            reply.raw_headers = raw_headers(response.headers.multi_items(), drop=_BODY_HEADERS)
        await reply(scope, receive, send)

    def _pace_from_arrival(self, response: httpx2.Response) -> None:
        """Recorded offsets count from when the request was sent, so pace the body from its arrival.

        The transport starts its pacer when it gets to the request; under a burst of requests
        that is later, by the time spent on the ones before it.
        """
        stream, arrived = response.stream, arrival()
        if (isinstance(stream, ReplayStream) and stream.pacer is not None and arrived is not None
                and isinstance(self.transport.clock, RealClock)):
            stream.pacer.origin = min(stream.pacer.origin, arrived)


def _silence(request: Request) -> float:
    """How long a silent fault keeps the socket silent: past the client's read timeout."""
    try:
        return float(request.headers[_READ_TIMEOUT_HEADER]) + _SILENCE_MARGIN
    except (KeyError, ValueError):
        return _DEFAULT_SILENCE


def _api_error(status: int, kind: str, message: str) -> Response:
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return Response(json.dumps(body, ensure_ascii=False), status_code=status, media_type="application/json",
                    headers={"x-should-retry": "false"})


@contextmanager
def serve(*cassettes: CassetteLike | ReplayTransport, host: str = "127.0.0.1", port: int = 0,
          speed: float | None = None, faults: FaultsArg = (), match_on: Sequence[str | Matcher] = DEFAULT_MATCH_ON,
          ignore_keys: Iterable[str] = (), on_listen: Callable[[str], object] | None = None) -> Iterator[str]:
    """Serve `cassettes` over real HTTP in a background thread; yield the base URL.

    Cassettes are files or folders of *.jsonl, merged in order; `speed`, `faults`, `match_on`
    and `ignore_keys` mean what they mean for FakeAnthropic. `on_listen(url)` is called as soon
    as the socket listens, before the server has started. To inspect what was played
    (`calls`, `requests`), pass one ReplayTransport you built instead of cassettes. On exit,
    streams still in flight are cut and the server stops.

    >>> with serve("cassettes/text.jsonl", speed=1.0) as url:
    ...     client = anthropic.Anthropic(base_url=url, api_key="-")
    """
    if len(cassettes) == 1 and isinstance(cassettes[0], ReplayTransport):
        transport = cassettes[0]
    elif any(isinstance(c, ReplayTransport) for c in cassettes):
        raise TypeError("pass either one ReplayTransport or cassettes, not both")
    elif not cassettes:
        raise TypeError("serve() needs at least one cassette")
    else:
        transport = ReplayTransport(load_all(cassettes), speed=speed, faults=faults,  # type: ignore[arg-type]
                                    match_on=match_on, ignore_keys=ignore_keys)
    with serve_app(ReplayApp(transport), host=host, port=port, name="cassette serve",
                   on_listen=on_listen) as url:
        yield url
