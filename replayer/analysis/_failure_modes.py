"""Generate docs/failure-modes.md by running every fault through the real SDK.

    python -m replayer.analysis._failure_modes > docs/failure-modes.md

A test regenerates the page and fails when the committed copy is stale.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anthropic
from anthropic import _base_client

import recorder

from .._client import FakeAnthropic, FakeAsyncAnthropic, transport_of
from .._timing import VirtualClock
from ..fuzzing._synthetic import text_message

SPECS: tuple[tuple[str, str], ...] = (
    ("529x2", "overloaded twice, then the recording"),
    ("529x3", "overloaded on every attempt"),
    ("429x3", "rate limited on every attempt (retry-after honoured)"),
    ("500x3", "internal server error on every attempt"),
    ("connect-error", "connection refused"),
    ("connect-timeout", "connection never established"),
    ("timeout", "no response before the read timeout"),
    ("drop@events=5", "connection dropped after 5 events"),
    ("read-error@events=5", "connection reset after 5 events"),
    ("timeout@events=5", "server silent after 5 events"),
    ("stall@events=5:30s", "30 s pause after 5 events, then the rest"),
    ("stall@events=5:700s", "pause longer than the SDK's 600 s read timeout"),
    ("truncate@events=6", "clean close after 6 events, no message_stop"),
    ("malformed@events=5", "a cut-off JSON chunk after 5 events"),
    ("error@events=5:overloaded_error", "in-stream `error` event after 5 events"),
)
BODY: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 64,
                        "messages": [{"role": "user", "content": "Why is the sky blue?"}]}
STREAM = text_message("Rayleigh scattering makes short wavelengths scatter more.", pieces=6)


@dataclass(frozen=True)
class Observation:
    """What the application saw for one fault through one API."""

    raised: str
    kind: str
    where: str
    text: str
    calls: int
    final: str

    def row(self) -> list[str]:
        return [self.raised, self.kind, self.where, self.text, str(self.calls), self.final]


def _cassette() -> recorder.Cassette:
    events = tuple(recorder.Event(0.05 * (i + 1), name, recorder.Payload(data)) for i, (name, data) in enumerate(STREAM))
    request = recorder.Request("POST", "https://api.anthropic.com/v1/messages", {},
                               recorder.Payload({**BODY, "stream": True}))
    interaction = recorder.Interaction(0, request, recorder.Response(0.02, 200, {"content-type": "text/event-stream"}),
                                       events, None, recorder.End(events[-1].t, "complete"))
    return recorder.Cassette((interaction,))


def _kind(exc: BaseException | None) -> str:
    if exc is None:
        return "—"
    if isinstance(exc, anthropic.APIStatusError):
        return "APIStatusError"
    if isinstance(exc, anthropic.APIConnectionError):
        return "APIConnectionError"
    if type(exc).__module__.startswith("httpx2"):
        return "raw httpx2, not an APIError"
    return "not an APIError"


def _name(exc: BaseException | None) -> str:
    if exc is None:
        return "nothing"
    module = type(exc).__module__.split(".")[0]
    return f"`{'json' if module == 'json' else module}.{type(exc).__name__}`"


def _observation(exc: BaseException | None, where: str, text: str, calls: int, final: str) -> Observation:
    shown = f"`{text[:24]}…`" if len(text) > 24 else (f"`{text}`" if text else "—")
    return Observation(_name(exc), _kind(exc), where if exc else "—", shown, calls, final)


def _final(get: Callable[[], Any]) -> str:
    try:
        message = get()
    except Exception as exc:
        return f"raises {_name(exc)}"
    return f"stop_reason={message.stop_reason}"


def observe_stream(spec: str) -> Observation:
    """`client.messages.stream()`: iterate `text_stream`, then call `get_final_message()`."""
    client = FakeAnthropic(_cassette(), faults=[spec], clock=VirtualClock())
    text, exc, where, final = "", None, "opening the stream", "—"
    try:
        with client.messages.stream(**BODY) as stream:
            where = "iterating"
            try:
                for piece in stream.text_stream:
                    text += piece
            except Exception as error:
                exc = error
            final = _final(stream.get_final_message)
    except Exception as error:
        exc = error
    return _observation(exc, where, text, transport_of(client).requests, final)


def observe_create(spec: str) -> Observation:
    """`client.messages.create(stream=True)`: iterate the raw events."""
    client = FakeAnthropic(_cassette(), faults=[spec], clock=VirtualClock())
    text, exc, where = "", None, "calling create()"
    try:
        events = client.messages.create(**BODY, stream=True)
        where = "iterating"
        for event in events:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                text += event.delta.text
    except Exception as error:
        exc = error
    return _observation(exc, where, text, transport_of(client).requests, "n/a")


async def aobserve_stream(spec: str) -> Observation:
    """`observe_stream` with AsyncAnthropic."""
    client = FakeAsyncAnthropic(_cassette(), faults=[spec], clock=VirtualClock())
    text, exc, where, final = "", None, "opening the stream", "—"
    try:
        async with client.messages.stream(**BODY) as stream:
            where = "iterating"
            try:
                async for piece in stream.text_stream:
                    text += piece
            except Exception as error:
                exc = error
            try:
                final = f"stop_reason={(await stream.get_final_message()).stop_reason}"
            except Exception as error:
                final = f"raises {_name(error)}"
    except Exception as error:
        exc = error
    return _observation(exc, where, text, transport_of(client).requests, final)


async def aobserve_create(spec: str) -> Observation:
    """`observe_create` with AsyncAnthropic."""
    client = FakeAsyncAnthropic(_cassette(), faults=[spec], clock=VirtualClock())
    text, exc, where = "", None, "calling create()"
    try:
        events = await client.messages.create(**BODY, stream=True)
        where = "iterating"
        async for event in events:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                text += event.delta.text
    except Exception as error:
        exc = error
    return _observation(exc, where, text, transport_of(client).requests, "n/a")


@contextmanager
def _short_backoff() -> Iterator[None]:
    """Shorten the SDK's retry backoff so the page builds in seconds; what it retries is unchanged."""
    saved = _base_client.INITIAL_RETRY_DELAY
    _base_client.INITIAL_RETRY_DELAY = 0.001  # type: ignore[attr-defined]
    try:
        yield
    finally:
        _base_client.INITIAL_RETRY_DELAY = saved  # type: ignore[attr-defined]


def _observe_all() -> dict[tuple[str, str], Observation]:
    """Every (observer, spec) pair, in parallel: the SDK's retry sleeps overlap instead of adding up."""
    observers: dict[str, Callable[[str], Observation]] = {
        "stream": observe_stream, "create": observe_create,
        "astream": lambda spec: asyncio.run(aobserve_stream(spec)),
        "acreate": lambda spec: asyncio.run(aobserve_create(spec)),
    }
    jobs = [(name, spec) for name in observers for spec, _ in SPECS]
    with _short_backoff(), ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = pool.map(lambda job: observers[job[0]](job[1]), jobs)
        return dict(zip(jobs, results, strict=True))


def _table(title: str, api: str, seen: dict[tuple[str, str], Observation]) -> list[str]:
    header = ["fault", "what happens", "raised", "is", "raised while", "text the app got first", "HTTP calls",
              "get_final_message()", "async client"]
    lines = [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for spec, description in SPECS:
        sync, other = seen[api, spec], seen["a" + api, spec]
        same = "same" if other == sync else "differs: " + ", ".join(
            f"{a}→{b}" for a, b in zip(sync.row(), other.row(), strict=True) if a != b)
        lines.append("| " + " | ".join([f"`{spec}`", description, *sync.row(), same]) + " |")
    return lines + [""]


def render() -> str:
    """The whole docs/failure-modes.md page."""
    seen = _observe_all()
    body = (_table("`client.messages.stream()`", "stream", seen)
            + _table("`client.messages.create(stream=True)`", "create", seen))
    version = getattr(anthropic, "__version__", "?")
    return "\n".join([
        "# Failure modes: what the application sees",
        "",
        "<!-- Generated by `python -m replayer.analysis._failure_modes > docs/failure-modes.md`; "
        "tests/test_failure_modes.py fails when this page is stale. -->",
        "",
        f"Every fault in `replayer.faults`, injected into a short text stream and run through the real "
        f"anthropic SDK {version} (default `max_retries=2`, default timeouts), sync and async. "
        "Stalls and timeouts (which wait out the client's timeouts) run on a `VirtualClock`; the SDK's retry backoff is shortened while "
        "generating this page, which changes no count.",
        "",
        "What to take from it:",
        "",
        "- Failures **before** the stream (429, 500, 529, connection errors, timeouts) are retried by the SDK "
        "(3 HTTP calls with the default `max_retries=2`) and then raised as `anthropic.APIStatusError` "
        "subclasses or `APIConnectionError` / `APITimeoutError`.",
        "- Failures **during** the stream are never retried, and a dropped or reset connection or a read "
        "timeout raises the **raw httpx2 exception**: `except anthropic.APIConnectionError` does not catch it. "
        "Catch `httpx2.TransportError` (or `Exception`) around the iteration.",
        "- An in-stream `error` event raises `anthropic.APIStatusError` with status 200, not `OverloadedError`.",
        "- A stream closed without `message_stop` ends **silently**: no exception, and "
        "`get_final_message()` returns a message with `stop_reason=None`. Check it.",
        "",
        *body,
    ])


if __name__ == "__main__":
    print(render(), end="")
