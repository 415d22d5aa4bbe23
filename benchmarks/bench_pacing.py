"""Pacing accuracy: replay at speed=1.0 on the real clock, each event's lateness against its recorded offset.

The cassette is recorded by `recorder.RecordingTransport` from an in-memory stream, then its `t`s are
rewritten through the public model (`dataclasses.replace` on `Response` / `Event` / `End`) to span
`--seconds` (first event at 0.3 s, bursts of events sharing one `t`, like several events in one network
read) and written with `recorder.save`. Replay runs `messages.create(stream=True)` on
`FakeAnthropic(cassette, speed=1.0)`; each event's delivery time is taken with `time.monotonic()` as the SDK yields it.
Lateness = delivery time - pacing origin - recorded `t`, where the origin is the clock's first reading
(the Pacer's origin, seen through a RealClock subclass); never negative, pacing only waits. The
constant gap between calling `create()` and that origin (SDK request building, matching) is shown
apart, with the lateness the app sees from just before `create()`.
Drift = median lateness of the last 10% of events - that of the first 10%.

    python benchmarks/bench_pacing.py [--seconds 10] [--events N]     # --seconds 60 for the full check
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import tempfile
import time
from pathlib import Path

import _common as c

import recorder
import replayer

BENCH = "pacing"
FIRST_EVENT = 0.3  # seconds to the first event, like a model's time to first token
EVENTS_PER_SECOND = 200


def paced(cassette: recorder.Cassette, seconds: float, *, seed: int = 7) -> recorder.Cassette:
    """The cassette's first interaction with its events spread over `seconds` (deterministic)."""
    rng = random.Random(seed)
    interaction = cassette[0]
    events = interaction.events
    step = (seconds - FIRST_EVENT) / max(1, len(events) - 1)
    times, t = [], FIRST_EVENT
    for i in range(len(events)):
        if i and rng.random() >= 0.2:  # one event in five arrives in the same read as the one before
            t = FIRST_EVENT + i * step
        times.append(round(t, 6))
    assert interaction.response is not None and interaction.end is not None
    rewritten = dataclasses.replace(
        interaction,
        response=dataclasses.replace(interaction.response, t=0.25),
        events=tuple(dataclasses.replace(e, t=t) for e, t in zip(events, times)),
        end=dataclasses.replace(interaction.end, t=round(times[-1] + 0.001, 6)),
    )
    return dataclasses.replace(cassette, interactions=(rewritten,))


class OriginClock(replayer.RealClock):
    """The real clock, remembering its first reading: the origin the Pacer measures offsets from."""

    origin: float | None = None

    def now(self) -> float:
        now = super().now()
        if self.origin is None:
            self.origin = now
        return now


def main(argv: list[str] | None = None) -> list[c.Result]:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0, help="recorded length of the stream (default 10)")
    p.add_argument("--events", type=int, default=None, help=f"events (default {EVENTS_PER_SECOND} per second)")
    args = p.parse_args(argv)
    n = args.events or int(EVENTS_PER_SECOND * args.seconds)

    with tempfile.TemporaryDirectory() as tmp:
        c.log(f"[pacing] recording {n:,} events, re-timing them over {args.seconds:g} s ...")
        recorded = c.record_cassette(Path(tmp, "recorded.jsonl"), c.stream_chunks(n))
        path = recorder.save(paced(recorded, args.seconds), Path(tmp, "paced.jsonl"))
        cassette = recorder.load(path)
    offsets = [e.t for e in c.sdk_events(cassette)]

    c.log(f"[pacing] replaying at speed=1.0 on the real clock ({offsets[-1]:.1f} s) ...")
    clock = OriginClock()
    client = replayer.FakeAnthropic(cassette, speed=1.0, clock=clock)
    delivered = []
    start = time.monotonic()
    for _ in client.messages.create(stream=True, **c.REQUEST):
        delivered.append(time.monotonic())
    if len(delivered) != len(offsets):
        raise RuntimeError(f"the SDK yielded {len(delivered)} events, expected {len(offsets)}")
    assert clock.origin is not None

    # From the request start (what the app sees) and from the pacer's origin (what pacing controls).
    seen_ms = [(d - start - t) * 1e3 for d, t in zip(delivered, offsets)]
    late_ms = [(d - clock.origin - t) * 1e3 for d, t in zip(delivered, offsets)]
    tenth = max(1, len(late_ms) // 10)
    drift = statistics.median(late_ms[-tenth:]) - statistics.median(late_ms[:tenth])
    p99 = c.percentile(late_ms, 99)
    R = c.Result
    results = [
        R(BENCH, f"stream: {len(offsets):,} SDK events over {offsets[-1]:.2f} s", len(offsets), "ev"),
        R(BENCH, "lateness p50", c.percentile(late_ms, 50), "ms"),
        R(BENCH, "lateness p99", p99, "ms", "<= 2 ms", p99 <= 2.0),
        R(BENCH, "lateness max", max(late_ms), "ms"),
        R(BENCH, "drift (median last 10% - first 10%)", drift, "ms", "|d| <= 0.5 ms", abs(drift) <= 0.5),
        R(BENCH, "before create() -> pacing origin (SDK + transport setup)", (clock.origin - start) * 1e3, "ms"),
        R(BENCH, "lateness seen by the app (from before create()), p50", c.percentile(seen_ms, 50), "ms"),
        R(BENCH, "lateness seen by the app (from before create()), p99", c.percentile(seen_ms, 99), "ms"),
    ]
    c.finish(results, args, f"Replay at speed=1.0 on the real clock, {args.seconds:g} s stream")
    return results


if __name__ == "__main__":
    main()
