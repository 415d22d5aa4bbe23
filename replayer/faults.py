"""Faults: make every way a Claude stream can fail happen on purpose, deterministically.

Each fault is a frozen dataclass; `parse("529x2")` builds one from a short text spec. A fault
applies to every call, or only to the calls its `calls` range selects (`times=2`: the first
two), so `"529x2"` means "the first two calls get 529, then the recording plays". A call hit
by a fault does not use up its recorded interaction: the retry that follows gets the recording.

Spec grammar (also used by `cassette play --fault` and the pytest marker)::

    spec    := step ("," step)*          call 1 gets step 1, call 2 step 2, ...; then the recording
    step    := "ok" | fault ["x" COUNT]   a lone fault without a count hits every call
    fault   := NAME ["@" trigger] [":" ARG]...
    trigger := ("events" | "bytes" | "t" | "p") "=" NUMBER ["&seed=" INT]

    529x2  429x3  500x1  503                 HTTP status before the stream (Anthropic error body)
    connect-error  connect-timeout  timeout  no response at all
    drop@events=5  read-error@bytes=100      the connection breaks mid-stream
    timeout@events=5                         the server goes silent until the client's read timeout
    stall@events=3:2s  stall@t=1.5:30s:drop  a pause mid-stream, then the rest (or a drop)
    truncate@events=6                        a clean close without message_stop
    malformed@events=2                       a chunk that is not valid SSE JSON
    error@events=4:overloaded_error          an in-stream `error` event, then the end
    drop@p=0.05&seed=7                       each event breaks the stream with probability p

What the application sees is what a real server failing the same way makes the SDK raise:
mid-stream breaks raise the raw httpx2 exception (`httpx2.RemoteProtocolError` for a drop),
failures before the response are retried by the SDK and surface as `APIConnectionError` /
`APITimeoutError` / `APIStatusError` subclasses. See docs/failure-modes.md.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import httpx2

from ._errors import ReplayError
from ._script import Pause, Script, Step

__all__ = [
    "NEVER",
    "Break",
    "ErrorEvent",
    "Fault",
    "FaultError",
    "Malformed",
    "NoResponse",
    "Stall",
    "Status",
    "Trigger",
    "Truncate",
    "connect_error",
    "connect_timeout",
    "drop",
    "error_event",
    "malformed",
    "overloaded",
    "parse",
    "parse_all",
    "rate_limited",
    "read_error",
    "read_timeout",
    "sequence",
    "server_error",
    "stall",
    "status",
    "truncate",
]


NEVER = 30 * 24 * 3600.0
"""How long a silent fault waits for a client that has no timeout: 30 days, i.e. it hangs, as it
would on a silent server (free on a VirtualClock, where `cassette grade` calls it `hung`)."""


class FaultError(ReplayError, ValueError):
    """A fault spec is malformed, or a fault can never fire on the cassette it was given."""


# --- triggers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    """Where a mid-stream fault strikes: after N events, after N bytes, at recorded second t,
    or at each event with probability p (seeded, so a run is reproducible)."""

    events: int | None = None
    bytes: int | None = None
    t: float | None = None
    p: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        given = [name for name in ("events", "bytes", "t", "p") if getattr(self, name) is not None]
        if len(given) != 1:
            raise FaultError(f"a trigger needs exactly one of events=, bytes=, t=, p= (got {given or 'none'})")
        value = getattr(self, given[0])
        if value < 0 or (self.p is not None and self.p > 1):
            raise FaultError(f"trigger {given[0]}={value} is out of range")

    def __str__(self) -> str:
        name = next(n for n in ("events", "bytes", "t", "p") if getattr(self, n) is not None)
        return f"{name}={getattr(self, name)}" + (f"&seed={self.seed}" if self.p is not None and self.seed else "")

    def position(self, steps: Sequence[Step], call: int) -> int | None:
        """Index in `steps` before which the fault strikes (bytes triggers split a chunk first)."""
        chunks = [i for i, (_, item) in enumerate(steps) if isinstance(item, bytes)]
        if self.events is not None:
            return None if self.events > len(chunks) else (chunks[self.events] if self.events < len(chunks)
                                                           else len(steps))
        if self.t is not None:
            return next((i for i in chunks if steps[i][0] > self.t), len(steps))
        if self.p is not None:
            rng = random.Random(f"{self.seed}:{call}")
            return next((i for i in chunks if rng.random() < self.p), None)
        return None  # bytes: resolved by split_at_byte

    def reachable(self, script: Script) -> bool:
        """Whether the trigger can fire on this script."""
        if self.events is not None:
            return self.events <= script.chunks
        if self.bytes is not None:
            return self.bytes <= script.size
        return True


def split_at_byte(steps: Sequence[Step], offset: int) -> tuple[list[Step], int] | None:
    """Steps with the chunk holding byte `offset` split there, and the index of the split."""
    seen = 0
    out = list(steps)
    for i, (t, item) in enumerate(steps):
        if not isinstance(item, bytes):
            continue
        if seen + len(item) > offset:
            cut = offset - seen
            if cut == 0:
                return out, i
            out[i : i + 1] = [(t, item[:cut]), (t, item[cut:])]
            return out, i + 1
        seen += len(item)
    return (out, len(out)) if seen == offset else None


# --- faults ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """Base of all faults. `calls=(start, stop)` limits it to those calls (0-based); None: every call."""

    calls: tuple[int, int] | None = field(default=None, kw_only=True)

    def applies_to(self, call: int) -> bool:
        return self.calls is None or self.calls[0] <= call < self.calls[1]

    def times(self, n: int) -> Fault:
        """This fault for the first `n` calls only."""
        return replace(self, calls=(0, n))


@dataclass(frozen=True)
class Status(Fault):
    """An HTTP error status instead of the stream, with an Anthropic-shaped error body."""

    status: int = 529
    error_type: str | None = None
    message: str | None = None
    retry_after: float | None = None

    def response(self, request: httpx2.Request) -> httpx2.Response:
        kind = self.error_type or _ERROR_TYPES.get(self.status, "api_error")
        body = {"type": "error", "error": {"type": kind, "message": self.message or _MESSAGES.get(kind, kind)},
                "request_id": "req_injected_fault"}
        headers = {"content-type": "application/json", "request-id": "req_injected_fault"}
        if self.retry_after is not None:
            headers["retry-after"] = f"{self.retry_after:g}"
        return httpx2.Response(self.status, headers=headers, content=json.dumps(body).encode(), request=request)


@dataclass(frozen=True)
class NoResponse(Fault):
    """The request never gets a response: connection refused, connect or read timeout."""

    error: Literal["connect-error", "connect-timeout", "timeout"] = "connect-error"

    def exception(self) -> Exception:
        return _EXCEPTIONS[self.error]()

    def delay(self, request: httpx2.Request) -> float:
        """How long the client waits before giving up: its connect or read timeout (0 when refused).

        A client whose timeout is None never gives up: it waits `NEVER` seconds.
        """
        timeouts = request.extensions.get("timeout") or {}
        which = {"connect-timeout": "connect", "timeout": "read"}.get(self.error)
        if which is None:
            return 0.0
        if which in timeouts and timeouts[which] is None:
            return NEVER
        return timeouts.get(which) or 0.0


@dataclass(frozen=True)
class MidStream(Fault):
    """A fault that strikes while the body streams, at `trigger`."""

    trigger: Trigger = Trigger(events=0)

    @property
    def name(self) -> str:
        """The fault's name in specs, e.g. `drop`."""
        return type(self).__name__.lower()

    def __str__(self) -> str:
        return f"{self.name}@{self.trigger}"

    def apply(self, script: Script, call: int, read_timeout: float | None) -> Script:
        steps: list[Step] = list(script.steps)
        if self.trigger.bytes is not None:
            split = split_at_byte(steps, self.trigger.bytes)
            if split is None:
                return script
            steps, at = split
        else:
            found = self.trigger.position(steps, call)
            if found is None:
                return script
            at = found
        t = steps[at][0] if at < len(steps) else script.end_t
        if self.trigger.t is not None:
            t = max(self.trigger.t, steps[at - 1][0] if at else 0.0)
        return self.strike(steps[:at], steps[at:], t, script, read_timeout)

    def strike(self, before: list[Step], after: list[Step], t: float, script: Script,
               read_timeout: float | None) -> Script:
        raise NotImplementedError


@dataclass(frozen=True)
class Break(MidStream):
    """The connection breaks: the SDK raises the raw httpx2 exception, as with a real socket."""

    error: Literal["drop", "read-error", "timeout"] = "drop"

    @property
    def name(self) -> str:
        return self.error

    def strike(self, before: list[Step], after: list[Step], t: float, script: Script,
               read_timeout: float | None) -> Script:
        if self.error == "timeout":
            # A silent server: the client gives up after its read timeout (a client without one, never).
            before = [*before, (t, Pause(read_timeout if read_timeout is not None else NEVER))]
        return Script(tuple(before), t, _EXCEPTIONS[self.error]())


@dataclass(frozen=True)
class Stall(MidStream):
    """Silence for `seconds`, then the rest of the stream (or a drop with `then="drop"`).

    A stall at least as long as the client's read timeout ends in `httpx2.ReadTimeout`.
    """

    seconds: float = 1.0
    then: Literal["continue", "drop"] = "continue"

    def strike(self, before: list[Step], after: list[Step], t: float, script: Script,
               read_timeout: float | None) -> Script:
        if read_timeout is not None and self.seconds >= read_timeout:
            return Script((*before, (t, Pause(read_timeout))), t, _EXCEPTIONS["timeout"]())
        pause = (t, Pause(self.seconds))
        if self.then == "drop":
            return Script((*before, pause), t, _EXCEPTIONS["drop"]())
        return Script((*before, pause, *after), script.end_t, script.error)


@dataclass(frozen=True)
class Truncate(MidStream):
    """A clean close before the end: no error, no message_stop; the SDK ends silently."""

    def strike(self, before: list[Step], after: list[Step], t: float, script: Script,
               read_timeout: float | None) -> Script:
        return Script(tuple(before), t, None)


@dataclass(frozen=True)
class Malformed(MidStream):
    """A chunk that is not valid JSON where the SDK expects JSON."""

    def strike(self, before: list[Step], after: list[Step], t: float, script: Script,
               read_timeout: float | None) -> Script:
        chunk = b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"ty\n\n'
        return Script((*before, (t, chunk), *after), script.end_t, script.error)


@dataclass(frozen=True)
class ErrorEvent(MidStream):
    """An in-stream `error` event (e.g. overloaded_error), after which the server closes the stream."""

    error_type: str = "overloaded_error"
    message: str | None = None

    @property
    def name(self) -> str:
        return "error"

    def strike(self, before: list[Step], after: list[Step], t: float, script: Script,
               read_timeout: float | None) -> Script:
        data = {"type": "error", "error": {"type": self.error_type,
                                           "message": self.message or _MESSAGES.get(self.error_type, self.error_type)}}
        chunk = f"event: error\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
        return Script((*before, (t, chunk)), t, None)


_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
                529: "overloaded_error"}
_MESSAGES = {"overloaded_error": "Overloaded", "rate_limit_error": "Number of request tokens has exceeded your "
             "per-minute rate limit", "api_error": "Internal server error", "invalid_request_error": "Invalid request",
             "authentication_error": "invalid x-api-key", "permission_error": "Permission denied",
             "not_found_error": "Not found", "request_too_large": "Request exceeds the maximum allowed size"}
# The messages httpcore/h11 give for the same failures on a real socket.
_EXCEPTIONS = {
    "drop": lambda: httpx2.RemoteProtocolError(
        "peer closed connection without sending complete message body (incomplete chunked read)"),
    "read-error": lambda: httpx2.ReadError("[Errno 104] Connection reset by peer"),
    "timeout": lambda: httpx2.ReadTimeout("timed out"),
    "connect-error": lambda: httpx2.ConnectError("[Errno 111] Connection refused"),
    "connect-timeout": lambda: httpx2.ConnectTimeout("timed out"),
}


# --- constructors ------------------------------------------------------------------------------


def _trigger(events: int | None, bytes: int | None, t: float | None, p: float | None, seed: int) -> Trigger:
    return Trigger(events=events, bytes=bytes, t=t, p=p, seed=seed)


def _calls(times: int | None) -> tuple[int, int] | None:
    return None if times is None else (0, times)


def status(code: int, *, error_type: str | None = None, message: str | None = None,
           retry_after: float | None = None, times: int | None = None) -> Status:
    """An HTTP error status before the stream, e.g. `status(529, times=2)`."""
    if not 400 <= code <= 599:
        raise FaultError(f"an error status is 400-599, got {code}")
    return Status(status=code, error_type=error_type, message=message, retry_after=retry_after, calls=_calls(times))


def rate_limited(*, retry_after: float = 1.0, times: int | None = None) -> Status:
    """429 rate_limit_error with `retry-after` (seconds; the SDK honours it up to 60 s)."""
    return status(429, retry_after=retry_after, times=times)


def overloaded(*, times: int | None = None) -> Status:
    """529 overloaded_error."""
    return status(529, times=times)


def server_error(*, times: int | None = None) -> Status:
    """500 api_error."""
    return status(500, times=times)


def connect_error(*, times: int | None = None) -> NoResponse:
    """Connection refused: the SDK retries, then raises APIConnectionError."""
    return NoResponse(error="connect-error", calls=_calls(times))


def connect_timeout(*, times: int | None = None) -> NoResponse:
    """The connection is never established: the SDK retries, then raises APITimeoutError."""
    return NoResponse(error="connect-timeout", calls=_calls(times))


def read_timeout(*, events: int | None = None, bytes: int | None = None, t: float | None = None,
                 p: float | None = None, seed: int = 0, times: int | None = None) -> Fault:
    """With a trigger: silence mid-stream until the client's read timeout. Without: no response."""
    if events is None and bytes is None and t is None and p is None:
        return NoResponse(error="timeout", calls=_calls(times))
    return Break(trigger=_trigger(events, bytes, t, p, seed), error="timeout", calls=_calls(times))


def drop(*, events: int | None = None, bytes: int | None = None, t: float | None = None, p: float | None = None,
         seed: int = 0, times: int | None = None) -> Break:
    """The connection drops mid-stream (httpx2.RemoteProtocolError, as a real server dying does)."""
    return Break(trigger=_trigger(events, bytes, t, p, seed), error="drop", calls=_calls(times))


def read_error(*, events: int | None = None, bytes: int | None = None, t: float | None = None,
               p: float | None = None, seed: int = 0, times: int | None = None) -> Break:
    """The connection is reset mid-stream (httpx2.ReadError)."""
    return Break(trigger=_trigger(events, bytes, t, p, seed), error="read-error", calls=_calls(times))


def stall(seconds: float, *, events: int | None = None, bytes: int | None = None, t: float | None = None,
          p: float | None = None, seed: int = 0, then: Literal["continue", "drop"] = "continue",
          times: int | None = None) -> Stall:
    """Silence for `seconds` mid-stream, then the rest (or a drop)."""
    return Stall(trigger=_trigger(events, bytes, t, p, seed), seconds=seconds, then=then, calls=_calls(times))


def truncate(*, events: int | None = None, bytes: int | None = None, t: float | None = None,
             p: float | None = None, seed: int = 0, times: int | None = None) -> Truncate:
    """A clean close without message_stop."""
    return Truncate(trigger=_trigger(events, bytes, t, p, seed), calls=_calls(times))


def malformed(*, events: int | None = None, bytes: int | None = None, t: float | None = None,
              p: float | None = None, seed: int = 0, times: int | None = None) -> Malformed:
    """A chunk whose JSON is cut off."""
    return Malformed(trigger=_trigger(events, bytes, t, p, seed), calls=_calls(times))


def error_event(error_type: str = "overloaded_error", *, message: str | None = None, events: int | None = None,
                bytes: int | None = None, t: float | None = None, p: float | None = None, seed: int = 0,
                times: int | None = None) -> ErrorEvent:
    """An in-stream `error` event of `error_type`, then the end of the stream."""
    return ErrorEvent(trigger=_trigger(events, bytes, t, p, seed), error_type=error_type, message=message,
                      calls=_calls(times))


def sequence(*steps: Fault | None | tuple[Fault | None, int]) -> tuple[Fault, ...]:
    """Per-call faults: call 1 gets steps[0], call 2 steps[1] (None: the recording), then the recording.

    A `(fault, n)` step covers n calls: `sequence((overloaded(), 2))` is "529, 529, then the recording".
    """
    out: list[Fault] = []
    call = 0
    for step in steps:
        fault, count = step if isinstance(step, tuple) else (step, 1)
        if fault is not None:
            out.append(replace(fault, calls=(call, call + count)))
        call += count
    return tuple(out)


# --- specs ---------------------------------------------------------------------------------------

_NUMBER = r"\d+(?:\.\d+)?"
_STEP = re.compile(r"^(?P<body>.+?)(?:x(?P<count>\d+))?$")
_TRIGGER = re.compile(rf"^(?P<name>events|bytes|t|p)=(?P<value>{_NUMBER})s?(?:&seed=(?P<seed>\d+))?$")
_MIDSTREAM = ("drop", "read-error", "timeout", "stall", "truncate", "malformed", "error")


def parse(spec: str) -> Fault | tuple[Fault, ...]:
    """Turn a spec like `"529x2"`, `"drop@events=5"` or `"529,drop@events=5,ok"` into faults.

    Raises FaultError naming what is wrong with the spec.
    """
    steps = [s.strip() for s in spec.split(",")]
    if not spec.strip() or not all(steps):
        raise FaultError(f"empty fault spec {spec!r}; try e.g. '529x2' or 'drop@events=5'")
    if len(steps) == 1 and steps[0] != "ok":
        fault, count = _step(steps[0], spec)
        return fault if count is None else fault.times(count)
    return sequence(*[(None, 1) if step == "ok" else _counted(*_step(step, spec)) for step in steps])


def _counted(fault: Fault, count: int | None) -> tuple[Fault, int]:
    return fault, 1 if count is None else count


def parse_all(faults: Iterable[Fault | str | Sequence[Fault]]) -> tuple[Fault, ...]:
    """Flatten a mix of Fault objects, specs and sequences into one tuple of faults."""
    out: list[Fault] = []
    for item in faults:
        result = parse(item) if isinstance(item, str) else item
        if isinstance(result, Fault):
            out.append(result)
        elif isinstance(result, Sequence) and all(isinstance(f, Fault) for f in result):
            out.extend(result)
        else:
            raise FaultError(f"not a fault or fault spec: {item!r}")
    return tuple(out)


def _step(step: str, spec: str) -> tuple[Fault, int | None]:
    """One step's fault and its xN count (None when not given)."""
    match = _STEP.match(step)
    assert match is not None
    body, count = match["body"], int(match["count"]) if match["count"] else None
    if count == 0:
        raise FaultError(f"in {spec!r}: x0 would never fire; use x1 or more")
    name, _, rest = body.partition("@")
    trigger_text, *args = rest.split(":") if rest else ("", *body.split(":")[1:])
    if not rest:
        name = body.split(":")[0]
    try:
        return _build(name, trigger_text, args), count
    except FaultError as exc:
        raise FaultError(f"in fault spec {spec!r}: {exc}") from None


def _build(name: str, trigger_text: str, args: list[str]) -> Fault:
    if name.isdigit():
        if trigger_text:
            raise FaultError(f"status {name} happens before the stream and takes no '@' trigger")
        code = int(name)
        retry_after = _seconds(args[0].removeprefix("retry-after=")) if args else (1.0 if code == 429 else None)
        return status(code, retry_after=retry_after)
    if name in ("connect-error", "connect-timeout") or (name == "timeout" and not trigger_text):
        if trigger_text or args:
            raise FaultError(f"{name} happens before any response and takes no trigger or argument")
        return NoResponse(error=name)  # type: ignore[arg-type]
    if name not in _MIDSTREAM:
        raise FaultError(f"unknown fault {name!r}; known faults: a status like 529, connect-error, "
                         "connect-timeout, timeout, drop, read-error, stall, truncate, malformed, error")
    if not trigger_text:
        raise FaultError(f"{name} happens mid-stream and needs a trigger, e.g. {name}@events=5")
    trigger = _parse_trigger(trigger_text)
    if name in ("drop", "read-error", "timeout"):
        _no_args(name, args)
        return Break(trigger=trigger, error=name)  # type: ignore[arg-type]
    if name == "stall":
        if not args or len(args) > 2 or (len(args) == 2 and args[1] not in ("drop", "continue")):
            raise FaultError("stall takes a duration and optionally 'drop': stall@events=3:2s or stall@events=3:2s:drop")
        return Stall(trigger=trigger, seconds=_seconds(args[0]), then=args[1] if len(args) == 2 else "continue")  # type: ignore[arg-type]
    if name == "error":
        if len(args) > 1:
            raise FaultError("error takes one argument, the error type: error@events=4:overloaded_error")
        return ErrorEvent(trigger=trigger, error_type=args[0] if args else "overloaded_error")
    _no_args(name, args)
    return Truncate(trigger=trigger) if name == "truncate" else Malformed(trigger=trigger)


def _parse_trigger(text: str) -> Trigger:
    match = _TRIGGER.match(text)
    if match is None:
        raise FaultError(f"bad trigger {text!r}; use events=N, bytes=N, t=SECONDS or p=PROBABILITY[&seed=N]")
    value = float(match["value"])
    seed = int(match["seed"] or 0)
    name = match["name"]
    if name in ("events", "bytes"):
        if not value.is_integer():
            raise FaultError(f"{name}= takes a whole number, got {match['value']}")
        return Trigger(**{name: int(value)})  # type: ignore[arg-type]
    return Trigger(**{name: value}, seed=seed)  # type: ignore[arg-type]


def _seconds(text: str) -> float:
    match = re.fullmatch(rf"({_NUMBER})(ms|s)?", text)
    if match is None:
        raise FaultError(f"bad duration {text!r}; use e.g. 2s, 0.5s or 250ms")
    return float(match[1]) / (1000 if match[2] == "ms" else 1)


def _no_args(name: str, args: list[str]) -> None:
    if args:
        raise FaultError(f"{name} takes no ':' argument, got {':'.join(args)!r}")
