"""FakeAnthropic / FakeAsyncAnthropic: the real SDK clients, wired to a ReplayTransport."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import anthropic
import httpx2

from recorder import Cassette

from ._chunking import Chunking
from ._match import DEFAULT_MATCH_ON, Matcher
from ._timing import Clock
from ._transport import FaultsArg, ReplayTransport, transport_for

# Never sent anywhere: replay needs no key, but the SDK refuses to start without one.
_PLACEHOLDER_KEY = "replay-no-key-needed"


@contextmanager
def lent_key() -> Iterator[None]:
    """Within the block, clients built without a key get the placeholder one (ANTHROPIC_API_KEY).

    Clients the application builds itself read the key from the environment and refuse to start
    without one, even though a replay sends it nowhere. A key or token already set is left alone;
    the environment is restored after the block.
    """
    if os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN"):
        yield
        return
    previous = os.environ.get("ANTHROPIC_API_KEY")
    os.environ["ANTHROPIC_API_KEY"] = _PLACEHOLDER_KEY
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("ANTHROPIC_API_KEY", None)
        else:
            os.environ["ANTHROPIC_API_KEY"] = previous


def FakeAnthropic(cassette: Cassette | str | os.PathLike[str] | Any, *, speed: float | None = None,
                  clock: Clock | None = None, faults: FaultsArg = (), match_on: Sequence[str | Matcher] = DEFAULT_MATCH_ON,
                  ignore_keys: Iterable[str] = (), chunking: Chunking | None = None, repeat: bool = False,
                  **client_kwargs: Any) -> anthropic.Anthropic:
    """A real `anthropic.Anthropic` whose every request is answered from `cassette`.

    `speed=None` replays instantly, `speed=1.0` at the recorded pace, `speed=k` k times faster.
    `faults` break calls on purpose: `faults=["529x2"]` (see `replayer.faults`). Other keyword arguments go to `anthropic.Anthropic` (e.g. `max_retries`).
    `cassette` may also be a case: a generated stream or mutated cassette (its chunking and faults
    apply unless others are given), or a conversation (which then answers every request live).
    `chunking` re-cuts the bytes.
    With `repeat=True` a request whose recordings are all played gets the last of them again.

    >>> client = FakeAnthropic("cassettes/text.jsonl")
    >>> with client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=[...]) as stream:
    ...     print("".join(stream.text_stream))
    """
    transport = transport_for(cassette, speed=speed, clock=clock, faults=faults, match_on=match_on,
                              ignore_keys=ignore_keys, chunking=chunking, repeat=repeat)
    client_kwargs.setdefault("api_key", _PLACEHOLDER_KEY)
    return anthropic.Anthropic(http_client=httpx2.Client(transport=transport), **client_kwargs)


def FakeAsyncAnthropic(cassette: Cassette | str | os.PathLike[str] | Any, *, speed: float | None = None,
                       clock: Clock | None = None, faults: FaultsArg = (), match_on: Sequence[str | Matcher] = DEFAULT_MATCH_ON,
                       ignore_keys: Iterable[str] = (), chunking: Chunking | None = None, repeat: bool = False,
                       **client_kwargs: Any) -> anthropic.AsyncAnthropic:
    """A real `anthropic.AsyncAnthropic` whose every request is answered from `cassette`."""
    transport = transport_for(cassette, speed=speed, clock=clock, faults=faults, match_on=match_on,
                              ignore_keys=ignore_keys, chunking=chunking, repeat=repeat)
    client_kwargs.setdefault("api_key", _PLACEHOLDER_KEY)
    return anthropic.AsyncAnthropic(http_client=httpx2.AsyncClient(transport=transport), **client_kwargs)


def transport_of(client: anthropic.Anthropic | anthropic.AsyncAnthropic) -> ReplayTransport:
    """The ReplayTransport behind a fake client, e.g. to count `calls`."""
    transport = client._client._transport
    if not isinstance(transport, ReplayTransport):
        raise TypeError("not a FakeAnthropic / FakeAsyncAnthropic client")
    return transport
