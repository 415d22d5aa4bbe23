"""`replay()`: serve every anthropic client from a cassette without touching application code."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import httpx2

from recorder import Cassette
from recorder._patch import AsyncSend, Send, intercept

from ._chunking import Chunking
from ._match import DEFAULT_MATCH_ON, Matcher
from ._timing import Clock
from ._transport import FaultsArg, ReplayTransport


@contextmanager
def replay(cassette: Cassette | str | os.PathLike[str], *, speed: float | None = None, clock: Clock | None = None,
           faults: FaultsArg = (), match_on: Sequence[str | Matcher] = DEFAULT_MATCH_ON,
           ignore_keys: Iterable[str] = (), chunking: Chunking | None = None,
           repeat: bool = False) -> Iterator[ReplayTransport]:
    """Within the block, every anthropic client (including ones the app builds) replays `cassette`.

    No anthropic request reaches the network: a request the cassette cannot answer raises
    NoMatchError. Yields the ReplayTransport, whose `calls` lists what was played. The options
    are FakeAnthropic's.

    >>> with replay("cassettes/session.jsonl"):
    ...     run_my_app()
    """
    transport = ReplayTransport(cassette, speed=speed, clock=clock, faults=faults, match_on=match_on,
                                ignore_keys=ignore_keys, chunking=chunking, repeat=repeat)
    with intercepted(transport):
        yield transport


@contextmanager
def intercepted(transport: ReplayTransport) -> Iterator[None]:
    """Within the block, `transport` answers every anthropic client's requests."""
    def handle(request: httpx2.Request, send: Send) -> httpx2.Response:
        return transport.handle_request(request)

    async def ahandle(request: httpx2.Request, send: AsyncSend) -> httpx2.Response:
        return await transport.handle_async_request(request)

    with intercept(handle, ahandle):
        yield
