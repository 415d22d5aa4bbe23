"""Recording overhead: the SDK reading a big in-memory stream, with and without RecordingTransport.

Both variants run `messages.create(stream=True)` to the end over the same `httpx2.MockTransport`
(one chunk per event); the recorded one goes through `recorder.RecordingTransport(tmpfile, transport=mock)`,
which decodes every event and appends (and flushes) one cassette line per event as it passes.
Creating the writer (header line) and closing it are outside the timing.

`--floors` also times three stand-ins for a recorder that do nothing per chunk but take the time
and hand the raw chunk to where a recording could keep it: `write(2)` to a file (the durability
contract's one system call per event), a copy into a shared memory map of a file (no system call),
and `write(2)` to a pipe read by another process (whose work would then run on the other core).
Each bounds from above what a real recorder of that design could reach.

    python benchmarks/bench_record.py [--events 20000] [--repeat 7] [--floors] [--profile]
"""

from __future__ import annotations

import itertools
import mmap
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import _common as c
import httpx2

import recorder

BENCH = "record"


def main(argv: list[str] | None = None) -> list[c.Result]:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=20_000, help="SSE events in the stream (default 20000)")
    p.add_argument("--repeat", type=int, default=7, help="timed runs per variant (default 7)")
    p.add_argument("--floors", action="store_true", help="also time the stand-ins described above")
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

        variants = {
            "unrecorded": (lambda: c.mock_transport(chunks), consume),
            "recorded": (recording_setup, consume, recording_teardown),
        }
        if args.floors:
            floors = Floors(Path(tmp), sum(map(len, chunks)))
            variants.update({name: (lambda keep=keep: Handing(c.mock_transport(chunks), keep), consume)
                             for name, keep in floors.sinks.items()})
        c.log(f"[record] create(stream=True): {' / '.join(variants)}, {args.repeat} interleaved runs each ...")
        try:
            timings = c.compare(variants, repeat=args.repeat)
        finally:
            if args.floors:
                floors.close()

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
        *(R(BENCH, f"{name} / unrecorded [{timing.spread()}]", plain.median / timing.median, "x")
          for name, timing in timings.items() if name.startswith("floor")),
    ]
    c.finish(results, args, f"Recording a {n:,}-event in-memory stream (medians)")
    return results


class Floors:
    """Where the stand-in recorders put each chunk: a file, a shared memory map, a pipe to another process."""

    def __init__(self, directory: Path, size: int) -> None:
        self.file = os.open(directory / "floor.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self.mapped = os.open(directory / "floor.map", os.O_RDWR | os.O_CREAT)
        os.posix_fallocate(self.mapped, 0, size)
        self.map = mmap.mmap(self.mapped, size)
        self.at = 0
        self.reader = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        pipe = self.reader.stdin.fileno()  # type: ignore[union-attr]
        self.sinks: dict[str, Callable[[bytes], object]] = {
            "floor: write(2) per event": lambda chunk: os.write(self.file, chunk),
            "floor: copy into a shared mmap": self.copy,
            "floor: write(2) to a pipe": lambda chunk: os.write(pipe, chunk),
        }

    def copy(self, chunk: bytes) -> None:
        end = self.at + len(chunk)
        if end > len(self.map):
            end, self.at = len(chunk), 0  # the next run: over the same pages again
        self.map[self.at:end] = chunk
        self.at = end

    def close(self) -> None:
        self.reader.stdin.close()  # type: ignore[union-attr]
        self.reader.wait()
        self.map.close()
        os.close(self.mapped)
        os.close(self.file)


class Handing(httpx2.BaseTransport):
    """A stand-in recorder around `inner`: per chunk, the time since the request and `keep(chunk)`."""

    def __init__(self, inner: httpx2.BaseTransport, keep: Callable[[bytes], object]) -> None:
        self.inner, self.keep = inner, keep

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        return httpx2.Response(response.status_code, headers=response.headers,
                               stream=_Handed(response.stream, self.keep))  # type: ignore[arg-type]


class _Handed(httpx2.SyncByteStream):
    def __init__(self, inner: Iterable[bytes], keep: Callable[[bytes], object]) -> None:
        self.inner, self.keep = inner, keep

    def __iter__(self) -> Iterator[bytes]:
        started, keep = time.monotonic(), self.keep
        for chunk in self.inner:
            round(time.monotonic() - started, 6)  # what a recorder stamps each event with
            keep(chunk)
            yield chunk


if __name__ == "__main__":
    main()
