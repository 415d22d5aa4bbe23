"""Shared pieces of the benchmarks: big streams, clients over in-memory transports, timing, tables.

Every benchmark script imports this module and nothing else from `benchmarks/`. Nothing here
touches the network: the SDK talks to `httpx2.MockTransport` or to a ReplayTransport, and the
base URL points at 127.0.0.1 as a second guard.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # runnable as `python benchmarks/bench_x.py` without installing
    sys.path.insert(0, str(ROOT))

import anthropic
import httpx2

import recorder

BASE_URL = "http://127.0.0.1:9"  # never contacted: every client below has an in-memory transport
REQUEST: dict[str, Any] = {
    "model": "claude-haiku-4-5",  # the model the synthetic streams name
    "max_tokens": 64000,
    "messages": [{"role": "user", "content": "Write a very long story."}],
}
SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "request-id": "req_bench"}


# --- big streams ---------------------------------------------------------------------------


def _synthetic() -> Any:
    try:
        from replayer.fuzzing import _synthetic
    except ImportError as exc:  # pragma: no cover - depends on the other engineer's module
        raise SystemExit(f"benchmarks need replayer/fuzzing/_synthetic.py (text_message, sse_bytes): {exc}") from None
    return _synthetic


def stream_events(n_events: int) -> list[tuple[str, Any]]:
    """A protocol-valid text message of exactly `n_events` SSE events (as (event, data) pairs)."""
    synthetic = _synthetic()
    overhead = len(synthetic.text_message("ab", pieces=2)) - 2  # message_start, block start/stop, ...
    pieces = n_events - overhead
    if pieces < 1:
        raise ValueError(f"a text message needs more than {overhead} events, asked for {n_events}")
    events = synthetic.text_message(_story(pieces), pieces=pieces)
    if len(events) != n_events:
        raise RuntimeError(f"text_message(pieces={pieces}) gave {len(events)} events, expected {n_events}")
    return events


def stream_chunks(n_events: int) -> list[bytes]:
    """The wire bytes of `stream_events(n_events)`, one chunk per event (how replay delivers them)."""
    sse_bytes = _synthetic().sse_bytes
    return [sse_bytes([event]) for event in stream_events(n_events)]


def _story(pieces: int) -> str:
    words = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "again")
    return " ".join(words[i % len(words)] for i in range(pieces * 2))


class ChunkStream(httpx2.SyncByteStream):
    """A response body that yields prepared chunks unchanged, one per iteration."""

    def __init__(self, chunks: Sequence[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks


def mock_transport(chunks: Sequence[bytes]) -> httpx2.MockTransport:
    """An in-memory 'server' answering every request with `chunks` as an SSE stream."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers=SSE_HEADERS, stream=ChunkStream(chunks))

    return httpx2.MockTransport(handler)


def sdk_client(transport: httpx2.BaseTransport) -> anthropic.Anthropic:
    """The real SDK over `transport` (no retries, so a failure shows at once)."""
    return anthropic.Anthropic(api_key="bench-no-key", base_url=BASE_URL, max_retries=0,
                               http_client=httpx2.Client(transport=transport))


def record_cassette(path: str | os.PathLike[str], chunks: Sequence[bytes]) -> recorder.Cassette:
    """Record `chunks` with the real RecordingTransport (SDK `create(stream=True)`), then load it."""
    transport = recorder.RecordingTransport(path, transport=mock_transport(chunks))
    try:
        consume_create(sdk_client(transport))
    finally:
        transport.close()
    return recorder.load(path)


def consume_create(client: anthropic.Anthropic) -> int:
    """`messages.create(stream=True)` and iterate every event; returns how many the SDK yielded."""
    count = 0
    for _ in client.messages.create(stream=True, **REQUEST):
        count += 1
    return count


def consume_stream(client: anthropic.Anthropic) -> int:
    """`messages.stream()` then `get_final_message()`; returns the number of text characters."""
    with client.messages.stream(**REQUEST) as stream:
        message = stream.get_final_message()
    return sum(len(block.text) for block in message.content if block.type == "text")


def sdk_event_count(cassette: recorder.Cassette) -> int:
    """How many events `create(stream=True)` yields for the first interaction (pings and empty ones are skipped)."""
    return len(sdk_events(cassette))


def sdk_events(cassette: recorder.Cassette) -> list[recorder.Event]:
    """The recorded events that the SDK's `create(stream=True)` iterator yields, in order."""
    return [e for e in cassette[0].events if e.event not in (None, "ping") and e.payload.text]


# --- timing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Wall times of repeated runs, seconds."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def best(self) -> float:
        return min(self.samples)

    def spread(self) -> str:
        return f"{self.best * 1e3:.1f}..{max(self.samples) * 1e3:.1f} ms"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run `fn` once with the collector settled first; return (seconds, result)."""
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def compare(variants: dict[str, tuple[Callable[..., Any], ...]], *, repeat: int, warmup: int = 1) -> dict[str, Timing]:
    """Time several variants, interleaved (A B C A B C ...) so machine noise hits them alike.

    Each variant is `(setup, run)` or `(setup, run, teardown)`: `setup()` is untimed and its
    result is passed to the timed `run(state)`, then to the untimed `teardown(state)`.
    Warm-up rounds are run and discarded.
    """
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(warmup + repeat):
        for name, (setup, run, *teardown) in variants.items():
            state = setup()
            try:
                seconds, _ = timed(functools.partial(run, state))
            finally:
                for down in teardown:
                    down(state)
            if round_ >= warmup:
                samples[name].append(seconds)
    return {name: Timing(tuple(values)) for name, values in samples.items()}


def no_setup() -> None:
    return None


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0..100), nearest-rank on sorted values."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# --- results and tables ------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One printed number: `value` in `unit`, with the target it is checked against (if any)."""

    bench: str
    metric: str
    value: float
    unit: str = ""
    target: str = ""
    ok: bool | None = None

    def formatted(self) -> str:
        v = self.value
        if self.unit in ("x", "ratio"):
            text = f"{v:.2f}"
        elif (float(v).is_integer() and self.unit not in ("ms", "us", "us/event")) or abs(v) >= 1000:
            text = f"{v:,.0f}"
        elif abs(v) >= 10:
            text = f"{v:.1f}"
        else:
            text = f"{v:.3f}"
        return f"{text} {self.unit}".rstrip()


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("ok" if ok else "MISSED")


def print_table(results: Sequence[Result], *, title: str | None = None, file: Any = None) -> None:
    """Print results as an aligned table."""
    file = file or sys.stdout
    rows = [("benchmark", "metric", "value", "target", "")]
    rows += [(r.bench, r.metric, r.formatted(), r.target, verdict(r.ok)) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    if title:
        print(f"\n{title}", file=file)
    for index, row in enumerate(rows):
        cells = [cell.rjust(w) if i == 2 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip(), file=file)
        if index == 0:
            print("  ".join("-" * w for w in widths), file=file)
    file.flush()


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON (used by run.py)")
    p.add_argument("--profile", action="store_true", help="also print a cProfile of our code path, once")
    return p


def finish(results: list[Result], args: argparse.Namespace, title: str) -> None:
    """Print the table and, with --json, write the results for run.py."""
    print_table(results, title=title)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results]))


def load_results(path: str | os.PathLike[str]) -> list[Result]:
    return [Result(**row) for row in json.loads(Path(path).read_text())]


def profile(fn: Callable[[], Any], *, top: int = 25, title: str = "") -> None:
    """Run `fn` once under cProfile and print the `top` functions by own time (to stderr)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    log(f"\n--- cProfile: {title} (sorted by own time; profiling inflates small calls) ---")
    pstats.Stats(profiler, stream=sys.stderr).strip_dirs().sort_stats("tottime").print_stats(top)


def log(message: str) -> None:
    """Progress to stderr, so stdout stays a clean table."""
    print(message, file=sys.stderr, flush=True)
