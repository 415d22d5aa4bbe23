"""Instant replay of a big stream: FakeAnthropic vs the in-memory ceiling vs vcrpy.

All variants build their client and run the same SDK call, `messages.create(stream=True)` iterated
to the end; both steps are timed, since building a ReplayTransport prepares the replayed bytes:
- ceiling:   the SDK reading the original wire bytes from an `httpx2.MockTransport`, one chunk per event;
- ours, load included (the headline): `replayer.FakeAnthropic(path)`, which loads the cassette
             recorded by `recorder.RecordingTransport` around that same MockTransport, then the call;
- vcrpy, load included: entering vcrpy's `use_cassette` (which loads its YAML), then the call;
- ours:      `replayer.FakeAnthropic(cassette)` on a cassette loaded beforehand;
- vcrpy:     vcrpy replaying its own recording of the same MockTransport response (its cassette is
             loaded when its context is entered, untimed; load time reported on its own);
- one chunk: the MockTransport serving the whole body as a single chunk, which is what vcrpy hands the
             SDK (it stores a stream as one string): it explains why vcrpy beats the per-event ceiling.
Then `messages.stream()` + `get_final_message()` for the ceiling and ours.

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
        body = [b"".join(chunks)]
        path = Path(tmp, "ours.jsonl")
        cassette = c.record_cassette(path, chunks)
        script = replayer.Script.of(cassette[0])
        same_bytes = b"".join(item for _, item in script.steps if isinstance(item, bytes)) == body[0]
        expected = c.sdk_event_count(cassette)

        load = c.Timing(tuple(c.timed(lambda: recorder.load(path))[0] for _ in range(args.repeat)))
        construct = c.Timing(tuple(c.timed(lambda: replayer.FakeAnthropic(cassette))[0] for _ in range(args.repeat)))

        vcr_path = Path(tmp, "vcrpy.yaml")
        vcr_record(vcr_path, chunks)
        vcr_load, vcr_context = vcr_player(vcr_path)

        def check(count: int) -> int:
            if count != expected:
                raise RuntimeError(f"the SDK yielded {count} events, expected {expected}")
            return count

        def vcr_enter():
            context = vcr_context()
            context.__enter__()  # loads the vcrpy cassette: untimed, like recorder.load for ours
            return context

        c.log(f"[replay] create(stream=True): ceiling / one chunk / ours / vcrpy, {args.repeat} interleaved runs ...")
        def vcr_loaded(_: None) -> int:
            with vcr_context():
                return check(c.consume_create(c.sdk_client(c.mock_transport(()))))

        create = c.compare({
            "ceiling": (c.no_setup, lambda _: check(c.consume_create(c.sdk_client(c.mock_transport(chunks))))),
            "ours, load included": (c.no_setup, lambda _: check(c.consume_create(replayer.FakeAnthropic(path)))),
            "vcrpy, load included": (c.no_setup, vcr_loaded),
            "one chunk": (c.no_setup, lambda _: check(c.consume_create(c.sdk_client(c.mock_transport(body))))),
            "ours": (c.no_setup, lambda _: check(c.consume_create(replayer.FakeAnthropic(cassette)))),
            # vcrpy patches MockTransport: this one's own (empty) answer is never used.
            "vcrpy": (vcr_enter, lambda _: check(c.consume_create(c.sdk_client(c.mock_transport(())))),
                      lambda context: context.__exit__(None, None, None)),
        }, repeat=args.repeat)

        c.log("[replay] messages.stream() + get_final_message(): ceiling / ours ...")
        final = c.compare({
            "ceiling": (c.no_setup, lambda _: c.consume_stream(c.sdk_client(c.mock_transport(chunks)))),
            "ours": (c.no_setup, lambda _: c.consume_stream(replayer.FakeAnthropic(cassette))),
        }, repeat=max(3, args.repeat // 2), warmup=0)

        if args.profile:
            c.profile(lambda: c.consume_create(replayer.FakeAnthropic(cassette)),
                      title="FakeAnthropic(cassette) + create(stream=True)")

    rate = {name: n / t.median for name, t in create.items()}
    loaded = rate["ours, load included"] / rate["ceiling"]
    loaded_vs_vcr = rate["ours, load included"] / rate["vcrpy, load included"]
    load_vs_vcr = load.median / vcr_load
    ratio = rate["ours"] / rate["ceiling"]
    vs_vcr = rate["ours"] / rate["vcrpy"]
    final_ratio = final["ceiling"].median / final["ours"].median
    R = c.Result
    results = [
        R(BENCH, f"stream: {n:,} events; replayed bytes identical to the wire: {'yes' if same_bytes else 'NO'}",
          len(body[0]), "B"),
        R(BENCH, "FakeAnthropic(path) + drain, load included / ceiling", loaded, "x", ">= 0.9", loaded >= 0.9),
        R(BENCH, "FakeAnthropic(path) + drain / vcrpy load + replay", loaded_vs_vcr, "x", ">= 1.05",
          loaded_vs_vcr >= 1.05),
        R(BENCH, f"create(stream=True) FakeAnthropic(path), load included [{create['ours, load included'].spread()}]",
          rate["ours, load included"], "ev/s"),
        R(BENCH, f"create(stream=True) vcrpy, load included [{create['vcrpy, load included'].spread()}]",
          rate["vcrpy, load included"], "ev/s"),
        R(BENCH, f"recorder.load [{load.spread()}]", load.median * 1e3, "ms"),
        R(BENCH, "vcrpy cassette load", vcr_load * 1e3, "ms"),
        R(BENCH, "recorder.load / vcrpy load", load_vs_vcr, "x", "<= 2", load_vs_vcr <= 2),
        R(BENCH, "FakeAnthropic(cassette) alone (part of replay)", construct.median * 1e3, "ms"),
        R(BENCH, f"create(stream=True) ceiling MockTransport [{create['ceiling'].spread()}]", rate["ceiling"], "ev/s"),
        R(BENCH, f"create(stream=True) FakeAnthropic, preloaded [{create['ours'].spread()}]", rate["ours"], "ev/s"),
        R(BENCH, f"create(stream=True) vcrpy [{create['vcrpy'].spread()}]", rate["vcrpy"], "ev/s"),
        R(BENCH, f"create(stream=True) MockTransport, body in one chunk [{create['one chunk'].spread()}]",
          rate["one chunk"], "ev/s"),
        R(BENCH, "preloaded ours / ceiling", ratio, "x", ">= 0.9", ratio >= 0.9),
        R(BENCH, "preloaded ours / vcrpy, loads excluded", vs_vcr, "x"),
        R(BENCH, "ours extra cost per event over the ceiling",
          (create["ours"].median - create["ceiling"].median) / n * 1e6, "us"),
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


def vcr_player(path: Path):
    """(median seconds to load the vcrpy cassette, a factory of contexts replaying it)."""
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
