"""Recording overhead: the SDK reading a big in-memory stream, with and without RecordingTransport.

Both variants run `messages.create(stream=True)` to the end over the same `httpx2.MockTransport`
(one chunk per event); the recorded one goes through `recorder.RecordingTransport(tmpfile, transport=mock)`,
which decodes every event and appends (and flushes) one cassette line per event as it passes.
Creating the writer (header line) and closing it are outside the timing.

    python benchmarks/bench_record.py [--events 20000] [--repeat 7] [--profile]
"""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

import _common as c

import recorder

BENCH = "record"


def main(argv: list[str] | None = None) -> list[c.Result]:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=20_000, help="SSE events in the stream (default 20000)")
    p.add_argument("--repeat", type=int, default=7, help="timed runs per variant (default 7)")
    args = p.parse_args(argv)
    n = args.events

    c.log(f"[record] building a {n:,}-event stream ...")
    chunks = c.stream_chunks(n)
    expected = n - sum(chunk.startswith(b"event: ping") for chunk in chunks)
    sizes: list[int] = []

    with tempfile.TemporaryDirectory() as tmp:
        names = (Path(tmp, f"take{i}.jsonl") for i in itertools.count())

        def recording_setup() -> recorder.RecordingTransport:
            return recorder.RecordingTransport(next(names), transport=c.mock_transport(chunks))

        def recording_teardown(transport: recorder.RecordingTransport) -> None:
            transport.close()
            sizes.append(os.path.getsize(transport.path))
            os.remove(transport.path)

        def consume(transport) -> int:
            count = c.consume_create(c.sdk_client(transport))
            if count != expected:
                raise RuntimeError(f"the SDK yielded {count} events, expected {expected}")
            return count

        c.log(f"[record] create(stream=True): unrecorded / recorded, {args.repeat} interleaved runs each ...")
        timings = c.compare({
            "unrecorded": (lambda: c.mock_transport(chunks), consume),
            "recorded": (recording_setup, consume, recording_teardown),
        }, repeat=args.repeat)

        last = Path(tmp, "check.jsonl")
        transport = recorder.RecordingTransport(last, transport=c.mock_transport(chunks))
        if args.profile:
            c.profile(lambda: consume(transport), title="recording create(stream=True)")
        else:
            consume(transport)
        transport.close()
        cassette = recorder.load(last)
        if len(cassette[0].events) != n or cassette[0].outcome != "complete":
            raise RuntimeError(f"recorded {len(cassette[0].events)} events ({cassette[0].outcome}), expected {n}")

    plain, recorded = timings["unrecorded"], timings["recorded"]
    ratio = plain.median / recorded.median
    overhead_us = (recorded.median - plain.median) / n * 1e6
    R = c.Result
    results = [
        R(BENCH, f"cassette size for {n:,} events", sizes[-1], "B"),
        R(BENCH, f"create(stream=True) unrecorded [{plain.spread()}]", n / plain.median, "ev/s"),
        R(BENCH, f"create(stream=True) through RecordingTransport [{recorded.spread()}]", n / recorded.median, "ev/s"),
        R(BENCH, "recording cost per event", overhead_us, "us"),
        R(BENCH, "SDK's own cost per event (unrecorded)", plain.median / n * 1e6, "us"),
        R(BENCH, "recorded / unrecorded", ratio, "x", ">= 0.85", ratio >= 0.85),
    ]
    c.finish(results, args, f"Recording a {n:,}-event in-memory stream (medians)")
    return results


if __name__ == "__main__":
    main()
