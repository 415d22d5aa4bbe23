"""FakeAnthropic / FakeAsyncAnthropic: the real SDK clients, wired to a ReplayTransport."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import anthropic
import httpx2

from recorder import Cassette

from ._chunking import Chunking
from ._match import DEFAULT_MATCH_ON, Matcher
from ._timing import Clock
from ._transport import FaultsArg, ReplayTransport

# Never sent anywhere: replay needs no key, but the SDK refuses to start without one.
_PLACEHOLDER_KEY = "replay-no-key-needed"


def FakeAnthropic(cassette: Cassette | str | os.PathLike[str] | Any, *, speed: float | None = None,
                  clock: Clock | None = None, faults: FaultsArg = (), match_on: Sequence[str | Matcher] = DEFAULT_MATCH_ON,
                  ignore_keys: Iterable[str] = (), chunking: Chunking | None = None, repeat: bool = False,
                  **client_kwargs: Any) -> anthropic.Anthropic:
    """A real `anthropic.Anthropic` whose every request is answered from `cassette`.

    `speed=None` replays instantly, `speed=1.0` at the recorded pace, `speed=k` k times faster.
    `faults` break calls on purpose: `faults=["529x2"]` (see `replayer.faults`). Other keyword arguments go to `anthropic.Anthropic` (e.g. `max_retries`).
    `cassette` may also be a generated stream (anything with `__cassette__()`); `chunking` re-cuts the bytes.
    With `repeat=True` a request whose recordings are all played gets the last of them again.

    >>> client = FakeAnthropic("cassettes/text.jsonl")
    >>> with client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=[...]) as stream:
    ...     print("".join(stream.text_stream))
    """
    transport = ReplayTransport(cassette, speed=speed, clock=clock, faults=faults, match_on=match_on,
                                ignore_keys=ignore_keys, chunking=chunking, repeat=repeat)
    client_kwargs.setdefault("api_key", _PLACEHOLDER_KEY)
    return anthropic.Anthropic(http_client=httpx2.Client(transport=transport), **client_kwargs)


def FakeAsyncAnthropic(cassette: Cassette | str | os.PathLike[str] | Any, *, speed: float | None = None,
                       clock: Clock | None = None, faults: FaultsArg = (), match_on: Sequence[str | Matcher] = DEFAULT_MATCH_ON,
                       ignore_keys: Iterable[str] = (), chunking: Chunking | None = None, repeat: bool = False,
                       **client_kwargs: Any) -> anthropic.AsyncAnthropic:
    """A real `anthropic.AsyncAnthropic` whose every request is answered from `cassette`."""
    transport = ReplayTransport(cassette, speed=speed, clock=clock, faults=faults, match_on=match_on,
                                ignore_keys=ignore_keys, chunking=chunking, repeat=repeat)
    client_kwargs.setdefault("api_key", _PLACEHOLDER_KEY)
    return anthropic.AsyncAnthropic(http_client=httpx2.AsyncClient(transport=transport), **client_kwargs)


def transport_of(client: anthropic.Anthropic | anthropic.AsyncAnthropic) -> ReplayTransport:
    """The ReplayTransport behind a fake client, e.g. to count `calls`."""
    transport = client._client._transport
    if not isinstance(transport, ReplayTransport):
        raise TypeError("not a FakeAnthropic / FakeAsyncAnthropic client")
    return transport
