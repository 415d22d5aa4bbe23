"""Instant replay of a big stream: FakeAnthropic vs the in-memory ceiling vs vcrpy.

All three run the same SDK call, `messages.create(stream=True)` iterated to the end:
- ceiling: the SDK reading the original wire bytes from an `httpx2.MockTransport`, one chunk per event;
- ours:    `replayer.FakeAnthropic(cassette)`, the cassette recorded by `recorder.RecordingTransport`
           around that same MockTransport and loaded beforehand (load time reported on its own);
- vcrpy:   vcrpy replaying its own recording of the same MockTransport response.

Also timed, to explain the vcrpy number: the MockTransport serving the whole body as one chunk, which
is what vcrpy hands the SDK (it stores and replays a stream as one string).

    python benchmarks/bench_replay.py [--events 20000] [--repeat 7] [--profile]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import _common as c

import recorder
import replayer

BENCH = "replay"


def main(argv: list[str] | None = None) -> list[c.Result]:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=20_000, help="SSE events in the stream (default 20000)")
    p.add_argument("--repeat", type=int, default=7, help="timed runs per variant (default 7)")
    args = p.parse_args(argv)
    n = args.events

    with tempfile.TemporaryDirectory() as tmp:
        c.log(f"[replay] building and recording a {n:,}-event stream ...")
        chunks = c.stream_chunks(n)
        path = Path(tmp, "ours.jsonl")
        cassette = c.record_cassette(path, chunks)
        wire = sum(map(len, chunks))
        replayed = sum(len(chunk) for _, chunk in replayer.Script.of(cassette[0]).chunks)
        expected = c.sdk_event_count(cassette)

        load = c.Timing(tuple(c.timed(lambda: recorder.load(path))[0] for _ in range(args.repeat)))
        client_setup = c.Timing(tuple(c.timed(lambda: replayer.FakeAnthropic(cassette))[0] for _ in range(args.repeat)))

        vcr_path = Path(tmp, "vcrpy.yaml")
        vcr_record(vcr_path, chunks)
        vcr_load, vcr_context = _vcr_player(vcr_path)

        def check(count: int) -> int:
            if count != expected:
                raise RuntimeError(f"the SDK yielded {count} events, expected {expected}")
            return count

        c.log(f"[replay] create(stream=True): ceiling / ours / vcrpy, {args.repeat} interleaved runs each ...")

        def vcr_setup():
            context = vcr_context()
            context.__enter__()  # loads the vcrpy cassette: untimed, like recorder.load for ours
            return context, c.sdk_client(c.mock_transport(()))  # patched by vcrpy: answers from its cassette

        body = [b"".join(chunks)]
        create = c.compare({
            "ceiling": (lambda: c.sdk_client(c.mock_transport(chunks)), lambda cl: check(c.consume_create(cl))),
            "one chunk": (lambda: c.sdk_client(c.mock_transport(body)), lambda cl: check(c.consume_create(cl))),
            "ours": (lambda: replayer.FakeAnthropic(cassette), lambda cl: check(c.consume_create(cl))),
            "vcrpy": (vcr_setup, lambda state: check(c.consume_create(state[1])),
                      lambda state: state[0].__exit__(None, None, None)),
        }, repeat=args.repeat)

        c.log("[replay] messages.stream() + get_final_message(): ceiling / ours ...")
        final = c.compare({
            "ceiling": (lambda: c.sdk_client(c.mock_transport(chunks)), c.consume_stream),
            "ours": (lambda: replayer.FakeAnthropic(cassette), c.consume_stream),
        }, repeat=max(3, args.repeat // 2), warmup=0)

        if args.profile:
            c.profile(lambda: c.consume_create(replayer.FakeAnthropic(cassette)), title="FakeAnthropic create(stream=True)")

    rate = {name: n / t.median for name, t in create.items()}
    ratio = rate["ours"] / rate["ceiling"]
    vs_vcr = rate["ours"] / rate["vcrpy"]
    final_ratio = final["ceiling"].median / final["ours"].median
    R = c.Result
    results = [
        R(BENCH, f"stream size: {n:,} events, wire bytes {wire:,} (replayed {replayed:,})", wire, "B"),
        R(BENCH, "recorder.load (excluded from replay)", load.median * 1e3, "ms"),
        R(BENCH, "FakeAnthropic(cassette) construction (excluded)", client_setup.median * 1e3, "ms"),
        R(BENCH, "vcrpy cassette load (excluded)", vcr_load * 1e3, "ms"),
        R(BENCH, f"create(stream=True) ceiling MockTransport [{create['ceiling'].spread()}]", rate["ceiling"], "ev/s"),
        R(BENCH, f"create(stream=True) FakeAnthropic [{create['ours'].spread()}]", rate["ours"], "ev/s"),
        R(BENCH, f"create(stream=True) vcrpy [{create['vcrpy'].spread()}]", rate["vcrpy"], "ev/s"),
        R(BENCH, f"create(stream=True) MockTransport, body in one chunk [{create['one chunk'].spread()}]",
          rate["one chunk"], "ev/s"),
        R(BENCH, "ours / ceiling", ratio, "x", ">= 0.9", ratio >= 0.9),
        R(BENCH, "ours / vcrpy", vs_vcr, "x", "> 1", vs_vcr > 1),
        R(BENCH, f"stream()+get_final_message ceiling [{final['ceiling'].spread()}]", n / final["ceiling"].median,
          "ev/s"),
        R(BENCH, f"stream()+get_final_message FakeAnthropic [{final['ours'].spread()}]", n / final["ours"].median,
          "ev/s"),
        R(BENCH, "stream() ours / ceiling", final_ratio, "x", ">= 0.9", final_ratio >= 0.9),
    ]
    c.finish(results, args, f"Instant replay of a {n:,}-event stream (medians)")
    return results


def vcr_record(path: Path, chunks: list[bytes]) -> None:
    """Record the MockTransport response with vcrpy (it patches httpx2.MockTransport too)."""
    import vcr

    with vcr.VCR(record_mode="all").use_cassette(str(path)):
        c.consume_create(c.sdk_client(c.mock_transport(chunks)))


def _vcr_player(path: Path):
    """(median seconds to load the vcrpy cassette, a factory of replaying contexts)."""
    import vcr

    player = vcr.VCR(record_mode="none")
    loads = []
    for _ in range(3):
        start = time.perf_counter()
        with player.use_cassette(str(path)):
            loads.append(time.perf_counter() - start)
    return sorted(loads)[1], lambda: player.use_cassette(str(path))


if __name__ == "__main__":
    main()
