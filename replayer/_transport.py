"""ReplayTransport: answers httpx2 requests from a cassette, paced, with faults, without a network."""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import Any

import anyio.to_thread
import httpx2

from recorder import Cassette, Interaction, Redactor, load

from . import faults as _faults
from ._chunking import Chunking
from ._explain import PYTHON, Advice
from ._match import DEFAULT_MATCH_ON, Matcher, Playback
from ._script import Pause, Script, script_of
from ._timing import Clock, Pacer, RealClock, checked_speed

FaultsArg = Iterable["_faults.Fault | str | Sequence[_faults.Fault]"]


def as_cassette(source: Any) -> Cassette:
    """A Cassette, a path to load, or any object with `__cassette__()` or a `.cassette` (e.g. a generated stream)."""
    if isinstance(source, Cassette):
        return source
    if hasattr(source, "__cassette__"):
        return source.__cassette__()
    if isinstance(getattr(source, "cassette", None), Cassette):
        return source.cassette
    return load(source)


def transport_for(source: Any, **options: Any) -> Any:
    """What answers the requests for `source`: a ReplayTransport (`options` are its own), or, for a
    case that answers live (a `Conversation`), that case's transport with the given chunking.

    The one place FakeAnthropic, FakeAsyncAnthropic, replay() and serve() turn what they are given
    into a transport, so that they take the same arguments. (Typed Any: a live case's transport is
    an httpx2 sync and async transport, not necessarily a ReplayTransport.)
    """
    live = getattr(source, "transport", None)
    if not callable(live):
        return ReplayTransport(source, **options)
    if options.get("faults"):
        raise TypeError("faults cannot be injected into a conversation (each answer is drawn as it is asked for); "
                        "fuzz faults with message_streams() or mutations()")
    return live(clock=options.get("clock"), chunking=options.get("chunking"))


class ReplayStream(httpx2.SyncByteStream, httpx2.AsyncByteStream):
    """A response body that plays a Script, sync or async, paced by `pacer` (None: instantly)."""

    def __init__(self, script: Script, pacer: Pacer | None, clock: Clock) -> None:
        self.script = script
        self.pacer = pacer
        self.clock = clock
        self._played = 0  # the async body's steps done, up to its last chunk yielded

    def __iter__(self) -> Iterator[bytes]:
        pacer = self.pacer
        for t, item in self.script.steps:
            if pacer is not None:
                pacer.wait(t)
            if type(item) is bytes:
                yield item
            else:
                self.clock.sleep_until(self._pause(item))  # type: ignore[arg-type]
        if self.script.error is not None:
            if pacer is not None:
                pacer.wait(self.script.end_t)
            raise self.script.error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        pacer = self.pacer
        for position, (t, item) in enumerate(self.script.steps, 1):
            if pacer is not None:
                await pacer.await_(t)
            if type(item) is bytes:
                self._played = position
                yield item
            else:
                await self.clock.asleep_until(self._pause(item))  # type: ignore[arg-type]
        if self.script.error is not None:
            if pacer is not None:
                await pacer.await_(self.script.end_t)
            raise self.script.error

    def at_end(self) -> bool:
        """Whether the async body has nothing left to give (no step, no error): what it yielded last was its last chunk.

        A server then sends that chunk and the body's end in one write.
        """
        return self._played == len(self.script.steps) and self.script.error is None

    def _pause(self, pause: Pause) -> float:
        """When a pause ends; everything paced after it comes that much later."""
        if self.pacer is not None:
            self.pacer.origin += pause.seconds
        return self.clock.now() + pause.seconds


class ReplayTransport(httpx2.BaseTransport, httpx2.AsyncBaseTransport):
    """An httpx2 transport that answers from a cassette.

    `speed=None` replays instantly, `1.0` at the recorded pace, `k` k times faster; `clock`
    (default: the real monotonic clock) is where pacing and stalls wait, e.g. a VirtualClock.
    `faults` (objects or specs, see `replayer.faults`) break calls on purpose. `calls` lists the
    interactions played, in order; `requests` counts every HTTP request, faulted or not.
    `chunking` re-cuts every response body (see `replayer.Chunking`), after any fault. With
    `repeat`, a request whose recordings are all played gets the last of them again; `advice`
    phrases what a miss tells its reader to change. The async path matches (and explains a
    miss) in a worker thread, so a slow miss never holds up the event loop. Given a generated
    or mutated case, its own chunking and faults apply unless others are given.

    >>> client = anthropic.Anthropic(api_key="-", http_client=httpx2.Client(transport=ReplayTransport("chat.jsonl")))
    """

    def __init__(self, cassette: Cassette | str | os.PathLike[str] | Any, *, speed: float | None = None,
                 clock: Clock | None = None, faults: FaultsArg = (),
                 match_on: Sequence[str | Matcher] = DEFAULT_MATCH_ON, ignore_keys: Iterable[str] = (),
                 redactor: Redactor | None = None, chunking: Chunking | None = None, repeat: bool = False,
                 advice: Advice = PYTHON) -> None:
        self.cassette = as_cassette(cassette)
        self.chunking = chunking if chunking is not None else getattr(cassette, "chunking", None)
        faults = faults or getattr(cassette, "faults", ())
        self.speed = checked_speed(speed)
        self.clock: Clock = clock if clock is not None else RealClock()
        self.faults = _faults.parse_all(faults)
        self.playback = Playback(self.cassette, match_on=match_on, ignore_keys=ignore_keys, redactor=redactor,
                                 repeat=repeat, advice=advice)
        self.calls: list[Interaction] = []
        self.requests = 0
        self._lock = threading.Lock()
        self._check_reachable()

    def fork(self) -> ReplayTransport:
        """A transport with the same cassette, options and faults, starting from the beginning."""
        twin = copy.copy(self)
        twin.playback = self.playback.fork()
        twin.calls = []
        twin.requests = 0
        twin._lock = threading.Lock()
        return twin

    def reset(self) -> None:
        """Start again from the beginning: nothing played, call counts (and so faults) from zero."""
        with self._lock:
            self.playback.reset()
            self.calls.clear()
            self.requests = 0

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        pacer, call, faults = self._begin()
        if (early := self._before_response(request, faults)) is not None:
            if isinstance(early, httpx2.Response):
                return early
            self.clock.sleep_until(self.clock.now() + early.delay(request))
            raise early.exception()
        interaction, script = self._play(request, call, faults)
        if pacer is not None:
            pacer.wait(self._response_t(interaction, script))
        return self._respond(request, interaction, script, pacer)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        pacer, call, faults = self._begin()
        if (early := self._before_response(request, faults)) is not None:
            if isinstance(early, httpx2.Response):
                return early
            await self.clock.asleep_until(self.clock.now() + early.delay(request))
            raise early.exception()
        interaction, script = await anyio.to_thread.run_sync(self._play, request, call, faults)
        if pacer is not None:
            await pacer.await_(self._response_t(interaction, script))
        return self._respond(request, interaction, script, pacer)

    def _begin(self) -> tuple[Pacer | None, int, list[_faults.Fault]]:
        with self._lock:
            call = self.requests
            self.requests += 1
        pacer = Pacer(self.clock, self.speed) if self.speed is not None else None
        return pacer, call, [f for f in self.faults if f.applies_to(call)]

    @staticmethod
    def _before_response(request: httpx2.Request,
                         faults: list[_faults.Fault]) -> httpx2.Response | _faults.NoResponse | None:
        """An error response, or a NoResponse fault to wait out and raise, or None to play the recording."""
        for fault in faults:
            if isinstance(fault, _faults.Status):
                return fault.response(request)
            if isinstance(fault, _faults.NoResponse):
                return fault
        return None

    def _play(self, request: httpx2.Request, call: int, faults: list[_faults.Fault]) -> tuple[Interaction, Script]:
        # A broken call plays a broken copy and leaves the recording for the retry that follows.
        interaction = self.playback.next_for(request, consume=not faults)
        self.calls.append(interaction)
        # Instant replay needs no event boundaries: fewer, larger chunks parse faster in the SDK.
        script = script_of(self.cassette, interaction,
                           joined=self.speed is None and not faults and self.chunking is None)
        read_timeout = (request.extensions.get("timeout") or {}).get("read")
        for fault in faults:
            if isinstance(fault, _faults.MidStream):
                if not fault.trigger.reachable(script):
                    raise _faults.FaultError(
                        f"fault {fault} can never fire on interaction "
                        f"{interaction.id}: it has {script.chunks} events ({script.size} bytes)")
                script = fault.apply(script, call, read_timeout)
        if self.chunking is not None:
            script = self.chunking.apply(script)
        return interaction, script

    def _check_reachable(self) -> None:
        """Refuse, up front, a mid-stream fault that no recorded stream is long enough for."""
        midstream = [f for f in self.faults if isinstance(f, _faults.MidStream)]
        if not midstream:
            return
        scripts = [script_of(self.cassette, i) for i in self.cassette.interactions if i.response is not None]
        for fault in midstream:
            if scripts and not any(fault.trigger.reachable(s) for s in scripts):
                longest = max(s.chunks for s in scripts)
                raise _faults.FaultError(
                    f"fault {fault} can never fire: the longest recorded stream in "
                    f"{self.cassette.path or 'the cassette'} has {longest} events")

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
        return httpx2.Response(response.status, headers=response.raw_headers,
                               stream=ReplayStream(script, pacer, self.clock), request=request,
                               extensions={INTERACTION: interaction})


INTERACTION = "cassette_interaction"
"""The key of a replayed response's `extensions` that holds the Interaction it plays."""
