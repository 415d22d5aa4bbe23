"""ReplayTransport: answers httpx2 requests from a cassette, paced, without a network."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass

import httpx2

from recorder import Cassette, Interaction, Redactor, encode_event, load

from ._errors import exception_from
from ._match import DEFAULT_MATCH_ON, Matcher, Playback
from ._timing import Clock, Pacer, RealClock


@dataclass(frozen=True, slots=True)
class Script:
    """What one interaction puts on the wire: chunks at their offsets, then how it ends."""

    chunks: tuple[tuple[float, bytes], ...]
    end_t: float
    error: Exception | None

    @classmethod
    def of(cls, interaction: Interaction) -> Script:
        if interaction.body is not None:
            chunks = ((interaction.body.t, interaction.body.payload.text.encode()),)
        else:
            chunks = tuple(
                (e.t, encode_event(e.event, e.payload.text, id=e.sse_id, retry=e.retry)) for e in interaction.events
            )
        end = interaction.end
        if end is not None and end.tail:
            chunks += ((end.t, end.tail.encode()),)
        last = chunks[-1][0] if chunks else 0.0
        error = exception_from(end.error) if end is not None and end.error is not None else None
        return cls(chunks, end.t if end is not None else last, error)


class ReplayStream(httpx2.SyncByteStream, httpx2.AsyncByteStream):
    """A response body that plays a Script, sync or async, at the pace a Pacer sets (None: instantly)."""

    def __init__(self, script: Script, pacer: Pacer | None) -> None:
        self.script = script
        self.pacer = pacer

    def __iter__(self) -> Iterator[bytes]:
        pacer = self.pacer
        for t, chunk in self.script.chunks:
            if pacer is not None:
                pacer.wait(t)
            yield chunk
        if self.script.error is not None:
            if pacer is not None:
                pacer.wait(self.script.end_t)
            raise self.script.error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        pacer = self.pacer
        for t, chunk in self.script.chunks:
            if pacer is not None:
                await pacer.await_(t)
            yield chunk
        if self.script.error is not None:
            if pacer is not None:
                await pacer.await_(self.script.end_t)
            raise self.script.error


class ReplayTransport(httpx2.BaseTransport, httpx2.AsyncBaseTransport):
    """An httpx2 transport that answers from a cassette.

    `speed=None` replays instantly, `1.0` at the recorded pace, `k` k times faster; `clock`
    (default: the real monotonic clock) is where pacing waits, e.g. a VirtualClock.
    `calls` lists the interactions played, in order.

    >>> client = anthropic.Anthropic(api_key="-", http_client=httpx2.Client(transport=ReplayTransport("chat.jsonl")))
    """

    def __init__(self, cassette: Cassette | str | os.PathLike[str], *, speed: float | None = None,
                 clock: Clock | None = None, match_on: Sequence[str | Matcher] = DEFAULT_MATCH_ON,
                 ignore_keys: Iterable[str] = (), redactor: Redactor | None = None) -> None:
        self.cassette = cassette if isinstance(cassette, Cassette) else load(cassette)
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be a positive number (or None for instant replay), got {speed!r}")
        self.speed = speed
        self.clock: Clock = clock if clock is not None else RealClock()
        self.playback = Playback(self.cassette, match_on=match_on, ignore_keys=ignore_keys, redactor=redactor)
        self.calls: list[Interaction] = []
        self._scripts: dict[int, Script] = {}

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        pacer, interaction, script = self._start(request)
        if pacer is not None:
            pacer.wait(self._response_t(interaction, script))
        return self._respond(request, interaction, script, pacer)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        pacer, interaction, script = self._start(request)
        if pacer is not None:
            await pacer.await_(self._response_t(interaction, script))
        return self._respond(request, interaction, script, pacer)

    def _start(self, request: httpx2.Request) -> tuple[Pacer | None, Interaction, Script]:
        pacer = Pacer(self.clock, self.speed) if self.speed is not None else None
        interaction = self.playback.next_for(request)
        self.calls.append(interaction)
        script = self._scripts.get(interaction.id)
        if script is None:
            script = self._scripts[interaction.id] = Script.of(interaction)
        return pacer, interaction, script

    @staticmethod
    def _response_t(interaction: Interaction, script: Script) -> float:
        return interaction.response.t if interaction.response is not None else script.end_t

    def _respond(self, request: httpx2.Request, interaction: Interaction, script: Script,
                 pacer: Pacer | None) -> httpx2.Response:
        if interaction.response is None:
            # The recording broke before any response: connect errors, timeouts, a killed recorder.
            raise script.error or httpx2.RemoteProtocolError(
                f"interaction {interaction.id} was recorded without a response (outcome {interaction.outcome})")
        response = interaction.response
        return httpx2.Response(response.status, headers=response.headers, stream=ReplayStream(script, pacer),
                               request=request)
