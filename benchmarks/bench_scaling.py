"""Scaling with stream length: recording, `recorder.load` and instant replay for 1k, 10k and 100k events.

Each cassette is recorded by `recorder.RecordingTransport` from an in-memory stream, then timed:
- record: `messages.create(stream=True)` iterated to the end through `RecordingTransport(tmpfile,
  transport=mock)`, one chunk per event (as bench_record.py; creating and closing the writer untimed);
- load:   `recorder.load(path)` (read, validate, build the model);
- replay: `FakeAnthropic(cassette)` then `messages.create(stream=True)` iterated to the end.
- diagnostic: `recorder.load` with Python's cyclic garbage collector paused, to show how much of
  the load time (and of its growth) is the collector walking the fresh objects.
Per-event cost that stays flat from 1k to 100k means linear growth; the 100k/1k ratio of
per-event costs should be about 1 (below 1: fixed per-request costs amortised).

    python benchmarks/bench_scaling.py [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import gc
import tempfile
from pathlib import Path

import _common as c

import recorder
import replayer

BENCH = "scaling"


def repeats_for(n: int) -> int:
    """More runs for small (fast, noisier) sizes; about 0.5-3 s of timed work per size."""
    return 15 if n <= 2_000 else 7 if n <= 20_000 else 3


def load_without_gc(path: Path) -> recorder.Cassette:
    gc.disable()
    try:
        return recorder.load(path)
    finally:
        gc.enable()


def measure(path: Path, n: int) -> dict[str, c.Timing]:
    """Record an `n`-event cassette at `path`, then time recording, loading and replaying it."""
    c.log(f"[scaling] {n:,} events: recording the cassette ...")
    chunks = c.stream_chunks(n)
    cassette = c.record_cassette(path, chunks)
    expected = c.sdk_event_count(cassette)
    take = path.with_suffix(".take.jsonl")

    def recording_setup() -> recorder.RecordingTransport:
        return recorder.RecordingTransport(take, transport=c.mock_transport(chunks))

    def record(transport: recorder.RecordingTransport) -> int:
        count = c.consume_create(c.sdk_client(transport))
        if count != expected:
            raise RuntimeError(f"the SDK yielded {count} events while recording, expected {expected}")
        return count

    def recording_teardown(transport: recorder.RecordingTransport) -> None:
        transport.close()
        take.unlink()

    def replay(_: None) -> int:
        count = c.consume_create(replayer.FakeAnthropic(cassette))
        if count != expected:
            raise RuntimeError(f"the SDK yielded {count} events, expected {expected}")
        return count

    repeat = repeats_for(n)
    c.log(f"[scaling] {n:,} events: record / load / load with GC paused / replay, {repeat} interleaved runs each ...")
    return c.compare({
        "record": (recording_setup, record, recording_teardown),
        "load": (c.no_setup, lambda _: recorder.load(path)),
        "load, GC paused (diagnostic)": (c.no_setup, lambda _: load_without_gc(path)),
        "replay": (c.no_setup, replay),
    }, repeat=repeat)


def main(argv: list[str] | None = None) -> list[c.Result]:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000,100000", help="comma-separated event counts")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    per_event: dict[str, dict[int, float]] = {}
    results: list[c.Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            for what, timing in measure(Path(tmp, f"{n}.jsonl"), n).items():
                per_event.setdefault(what, {})[n] = timing.median / n * 1e6
                results.append(c.Result(BENCH, f"{what}, {n:,} events [{timing.spread()}]", per_event[what][n],
                                        "us/event"))

    small, big = min(sizes), max(sizes)
    for what, costs in per_event.items():
        ratio = costs[big] / costs[small]
        target = "" if "diagnostic" in what else "~1 (<= 1.2)"
        results.append(c.Result(BENCH, f"{what}: per-event cost {big:,} / {small:,}", ratio, "x", target,
                                ratio <= 1.2 if target else None))
    c.finish(results, args, "Recording, load and instant-replay time against stream length (medians)")
    return results


if __name__ == "__main__":
    main()
