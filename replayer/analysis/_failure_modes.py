"""Generate docs/failure-modes.md by running every fault through the real SDKs.

    python -m replayer.analysis._failure_modes > docs/failure-modes.md

The Python tables come from the anthropic SDK on a virtual clock; the TypeScript tables from
the official `@anthropic-ai/sdk` (pinned in tests/typescript/, installed with `npm ci`), run
by node against `replayer.serve` on a real socket (_failure_modes.mjs). A test regenerates
the page and compares its rows: the behaviour, not the version strings.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
from anthropic import _base_client

import recorder

from .._client import FakeAnthropic, FakeAsyncAnthropic, transport_of
from .._timing import VirtualClock
from ..fuzzing._synthetic import text_message
from ..server._node import install, pinned_version, run_js
from ..server._serve import serve

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
# Over `serve` time is real: the 30 s stall is 1 s (shorter than the client's timeout, as 30 s is for Python).
TS_SPECS = tuple(("stall@events=5:1s", "1 s pause after 5 events, then the rest")
                 if spec.startswith("stall@events=5:30s") else (spec, what) for spec, what in SPECS)
TS_TIMEOUT_MS = 1000  # the TypeScript client's `timeout`
TS_DEADLINE_MS = 8000  # an API still waiting then is reported as hanging
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


def _ts_kind(error: dict[str, Any]) -> str:
    if not error["api"]:
        return "not an APIError"
    if error["connection"]:
        return "APIConnectionError"
    return f"APIError, status {error['status']}" if error["status"] is not None else "APIError, no status"


def _ts_name(error: dict[str, Any]) -> str:
    # A non-SDK error is known by its message ("terminated" is undici's word for a broken body).
    return f"`{error['name']}`" if error["api"] else f"`{error['name']}: {error['message']}`"


def _ts_observation(seen: dict[str, Any], api: str) -> Observation:
    error, text = seen["error"], seen["text"]
    shown = f"`{text[:24]}…`" if len(text) > 24 else (f"`{text}`" if text else "—")
    if not seen["done"]:
        return Observation(f"nothing: still waiting after {TS_DEADLINE_MS // 1000} s", "hangs", "iterating",
                           shown, seen["calls"], "—" if api == "stream" else "n/a")
    final = "n/a"
    if api == "stream":
        result = seen["final"]
        final = (f"rejects {_ts_name(result['rejects'])}" if "rejects" in result
                 else f"stop_reason={result['stop_reason']}")
    return Observation(_ts_name(error) if error else "nothing", _ts_kind(error) if error else "—",
                       seen["where"] if error else "—", shown, seen["calls"], final)


def observe_typescript(spec: str) -> dict[str, Observation]:
    """`messages.stream()` + `finalMessage()` and `messages.create({stream: true})` of the TS SDK, over serve."""
    with ExitStack() as servers:
        urls = {api: servers.enter_context(serve(_cassette(), faults=[spec])) for api in ("stream", "create")}
        seen = run_js(Path(__file__).with_suffix(".mjs").read_text(), urls["stream"], {
            "urls": urls, "body": BODY, "timeout": TS_TIMEOUT_MS, "deadline": TS_DEADLINE_MS})
    return {api: _ts_observation(seen[api], api) for api in ("stream", "create")}


Rows = dict[str, list[str]]
"""A table's rows by fault spec: the cells after the spec."""


def python_tables() -> dict[str, Rows]:
    """The Python SDK's tables, by title: every fault through sync and async clients."""
    seen = _observe_all()
    tables = {}
    for title, api in (("`client.messages.stream()`", "stream"), ("`client.messages.create(stream=True)`", "create")):
        rows = {}
        for spec, description in SPECS:
            sync, other = seen[api, spec], seen["a" + api, spec]
            same = "same" if other == sync else "differs: " + ", ".join(
                f"{a}→{b}" for a, b in zip(sync.row(), other.row(), strict=True) if a != b)
            rows[spec] = [description, *sync.row(), same]
        tables[title] = rows
    return tables


def typescript_tables() -> dict[str, Rows]:
    """The TypeScript SDK's tables, by title: every fault over `serve`, one node process per fault."""
    install()
    with ThreadPoolExecutor(max_workers=len(TS_SPECS)) as pool:
        seen = dict(zip([spec for spec, _ in TS_SPECS], pool.map(observe_typescript, [s for s, _ in TS_SPECS]),
                        strict=True))
    return {title: {spec: [description, *seen[spec][api].row()] for spec, description in TS_SPECS}
            for title, api in (("TypeScript: `client.messages.stream()`", "stream"),
                               ("TypeScript: `client.messages.create({stream: true})`", "create"))}


PY_COLUMNS = ["fault", "what happens", "raised", "is", "raised while", "text the app got first", "HTTP calls",
              "get_final_message()", "async client"]
TS_COLUMNS = ["fault", "what happens", "raised", "is", "raised while", "text the app got first", "HTTP calls",
              "finalMessage()"]


def _table(title: str, columns: list[str], rows: Rows) -> list[str]:
    lines = [f"## {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join([f"`{spec}`", *cells]) + " |" for spec, cells in rows.items()]
    return lines + [""]


def tables_of(page: str) -> dict[str, Rows]:
    """The tables of a rendered page, by title (the inverse of the rendering, for comparing behaviour)."""
    tables: dict[str, Rows] = {}
    title = None
    for line in page.splitlines():
        if line.startswith("## "):
            title = line[3:]
            tables[title] = {}
        elif title is not None and line.startswith("| `"):
            spec, *cells = [cell.strip() for cell in line.strip("|").split(" | ")]
            tables[title][spec.strip("`")] = cells
    return tables


def changes(committed: dict[str, Rows], fresh: dict[str, Rows]) -> list[str]:
    """Each behaviour that differs between two pages' tables, as `table, fault: column: was -> now`."""
    found = [f"table {title!r} is new" for title in fresh if title not in committed]
    found += [f"table {title!r} is gone" for title in committed if title not in fresh]
    for title in fresh.keys() & committed.keys():
        columns = TS_COLUMNS if title.startswith("TypeScript") else PY_COLUMNS
        old, new = committed[title], fresh[title]
        found += [f"{title}, `{spec}`: row is new" for spec in new if spec not in old]
        found += [f"{title}, `{spec}`: row is gone" for spec in old if spec not in new]
        for spec in new.keys() & old.keys():
            found += [f"{title}, `{spec}`: {column}: was {was!r}, now {now!r}"
                      for column, was, now in zip(columns[1:], old[spec], new[spec], strict=False) if was != now]
    return found


def without_versions(page: str) -> str:
    """`page` with the SDK versions it names masked, so that a new release alone changes nothing."""
    return re.sub(r"(anthropic SDK|@anthropic-ai/sdk`?) \d[\w.+-]*", r"\1 <version>", page)


def render(tables: dict[str, Rows] | None = None) -> str:
    """The whole docs/failure-modes.md page (from freshly observed `tables` unless given)."""
    if tables is None:
        with ThreadPoolExecutor(max_workers=1) as pool:  # the TypeScript runs wait on real time: overlap them
            typescript = pool.submit(typescript_tables)
            tables = {**python_tables(), **typescript.result()}
    body = [line for title, rows in tables.items()
            for line in _table(title, TS_COLUMNS if title.startswith("TypeScript") else PY_COLUMNS, rows)]
    version = getattr(anthropic, "__version__", "?")
    return "\n".join([
        "# Failure modes: what the application sees",
        "",
        "<!-- Generated by `python -m replayer.analysis._failure_modes > docs/failure-modes.md`; "
        "tests/replayer/analysis/test_failure_modes.py fails when its rows are stale. -->",
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
        f"The TypeScript tables run the official `@anthropic-ai/sdk` {pinned_version()} with node against "
        f"`cassette serve` (real sockets, real time; `timeout: {TS_TIMEOUT_MS}` ms, default `maxRetries: 2`; "
        "the 30 s stall is 1 s there). Over HTTP:",
        "",
        "- Failures before the stream are retried as in Python, then rejected as `APIError` subclasses; "
        "a connection that cannot be made or times out before the response is an `APIConnectionError`.",
        "- A dropped or reset connection mid-stream looks the same: node's fetch says `terminated` (a `TypeError` "
        "from `create()`, wrapped in an `AnthropicError` by `stream()`), not an `APIError`.",
        "- An in-stream `error` event is a base `APIError` with **no status**.",
        "- A stream closed without `message_stop`: `create({stream: true})` ends **silently**, while "
        "`finalMessage()` rejects.",
        "- The client's `timeout` covers the wait for the response headers only: a server that goes silent "
        "mid-stream keeps the client waiting (here, until the page's deadline).",
        "",
        *body,
    ])


if __name__ == "__main__":
    print(render(), end="")
