"""Memory of loading a cassette: peak bytes allocated by `recorder.load` against the file's size.

The worst case is many tiny lines (the per-line objects dominate): a cassette of `--events` one-line
`ping` events (1,000,000 by default, about 60 MB) is written, then loaded once under `tracemalloc`,
which counts every allocation of Python and msgspec (its peak includes the file's bytes, which the
loaded cassette keeps: events are decoded from them on use). Loading time is printed too, untraced.

    python benchmarks/bench_load.py [--events 1000000]
"""

from __future__ import annotations

import gc
import tempfile
import time
import tracemalloc
from pathlib import Path

import _common as c

import recorder

BENCH = "load"


def tiny_cassette(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as file:
        file.write('{"cassette":1}\n'
                   '{"id":0,"kind":"request","method":"POST","url":"http://127.0.0.1:9/v1/messages","headers":{}}\n'
                   '{"id":0,"kind":"response","t":0.1,"status":200,"headers":{"content-type":"text/event-stream"}}\n')
        file.writelines(f'{{"id":0,"kind":"event","t":{0.1 + i * 1e-6:.6f},"event":"ping","data":{{}}}}\n'
                        for i in range(n))


def main(argv: list[str] | None = None) -> list[c.Result]:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000, help="tiny event lines (default 1000000)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "tiny.jsonl")
        c.log(f"[load] writing {args.events:,} tiny lines ...")
        tiny_cassette(path, args.events)
        size = path.stat().st_size
        seconds, cassette = c.timed(lambda: recorder.load(path))
        if len(cassette[0].events) != args.events:
            raise RuntimeError(f"loaded {len(cassette[0].events)} events, expected {args.events}")
        del cassette
        gc.collect()
        c.log("[load] loading again under tracemalloc ...")
        tracemalloc.start()
        start = time.perf_counter()
        cassette = recorder.load(path)
        traced = time.perf_counter() - start
        held, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    R = c.Result
    results = [
        R(BENCH, f"file: {args.events:,} tiny event lines", size / 1e6, "MB"),
        R(BENCH, "recorder.load time (untraced)", seconds * 1e3, "ms"),
        R(BENCH, f"recorder.load peak memory (traced run took {traced:.1f} s)", peak / 1e6, "MB"),
        R(BENCH, "peak memory / file size", peak / size, "x", "<= 4", peak / size <= 4),
        R(BENCH, "memory held by the loaded cassette / file size", held / size, "x"),
    ]
    c.finish(results, args, f"Memory of loading {args.events:,} tiny lines")
    return results


if __name__ == "__main__":
    main()
