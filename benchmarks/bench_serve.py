"""Load on `cassette serve`: many concurrent streams at speed=1.0, byte-correct, and how late each event lands.

A cassette of one interaction (a ~2 s synthetic text stream: the first event at 0.3 s, then one
event every ~30 ms) is recorded by `recorder.RecordingTransport` from an in-memory stream,
re-timed through the public model and saved. The server runs as its own process:
`replayer.serve()` of a `ReplayTransport(cassette, speed=1, repeat=True)`, what `cassette serve
FILE --speed 1` runs, with every request answered by the one recording (a cassette of N copies
would measure matching a request against N candidates instead). The clients run in
`--processes` other processes (forked), raw asyncio sockets, each process with its share of the
streams: every client opens its connection first, then all POST the recorded request at one
instant (burst: `--clients`, 200) or evenly spread (`--spread-clients`, 1,000, over `--spread`
s, 5); each notes when each SSE event of the chunked body is complete.

- correct: a client's body is byte-for-byte the recorded events re-encoded, in order.
- timing error = arrival - request sent - recorded `t` (positive: late), over every event
  of every client: p50, p99, max; target p99 <= 10 ms.

Raw sockets in several processes keep the client side cheap and parallel, so the numbers are the
server's; two rows check it (the client processes' own event-loop lag, and an idle process's: the
machine's noise). Standalone (no _common import); prints a table, asserts nothing; `--json PATH` writes
the rows as run.py reads them.

    python benchmarks/bench_serve.py [--clients 200] [--spread-clients 1000] [--spread 5] [--processes 4]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx2

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import recorder
from recorder import encode_event
from replayer.fuzzing._synthetic import sse_bytes, text_message

BENCH = "serve"
# The server process: `cassette serve FILE --speed S` (its start-up too), every request answered by one recording.
SERVER = """
import signal, sys, threading
import recorder
from replayer import ReplayTransport, serve
from replayer.cli._server import listening
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
transport = ReplayTransport(recorder.load(sys.argv[1]), speed=float(sys.argv[2]), repeat=True)
with serve(transport, on_listen=listening):
    while not stop.wait(0.5):
        pass
"""
FIRST_EVENT = 0.3
TARGET_P99_MS = 10.0
SETTLE = 0.2  # s after the last stream is due before the client processes decode what they got
REQUEST: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 1024, "stream": True,
                           "messages": [{"role": "user", "content": "Tell me a story."}]}
STORY = ("Once upon a time a small lighthouse keeper counted the ships that passed, one by one, "
         "and wrote each name in a blue book that nobody else ever read. ") * 6


def make_cassette(path: Path, seconds: float) -> recorder.Cassette:
    """One ~`seconds` s stream, recorded through the real recorder, then re-timed."""
    events = text_message(STORY, pieces=max(1, round((seconds - FIRST_EVENT) / 0.03) - 6))
    chunks = [sse_bytes([event]) for event in events]
    transport = httpx2.MockTransport(lambda request: httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, content=b"".join(chunks)))
    raw = Path(path.parent, "raw.jsonl")
    sdk = anthropic.Anthropic(api_key="-", base_url="http://127.0.0.1:9",
                              http_client=httpx2.Client(transport=recorder.RecordingTransport(raw, transport)))
    with sdk.messages.create(**REQUEST) as stream:
        for _ in stream:
            pass
    sdk.close()
    one = recorder.load(raw)[0]
    step = (seconds - FIRST_EVENT) / max(1, len(one.events) - 1)
    timed = dataclasses.replace(
        one, response=dataclasses.replace(one.response, t=0.25),  # type: ignore[type-var]
        events=tuple(dataclasses.replace(e, t=round(FIRST_EVENT + i * step, 6)) for i, e in enumerate(one.events)),
        end=dataclasses.replace(one.end, t=round(seconds + 0.001, 6)))  # type: ignore[type-var]
    recorder.save(recorder.Cassette((timed,), recorder.header(synthetic="benchmarks/bench_serve.py")), path)
    return recorder.load(path)


@dataclasses.dataclass
class Seen:
    """One client's view: status, body bytes, each event's arrival (s since the request was sent)."""

    status: int = 0
    body: bytes = b""
    arrivals: list[float] = dataclasses.field(default_factory=list)
    error: str | None = None
    sent: float = 0.0  # when the request was written (time.monotonic)


class _Client(asyncio.Protocol):
    """A raw HTTP/1.1 client that only timestamps what arrives (cheap), and decodes it at the end."""

    def __init__(self) -> None:
        self.raw = bytearray()
        self.arrivals: list[float] = []
        self.done = asyncio.get_running_loop().create_future()
        self.sent = 0.0

    def data_received(self, data: bytes) -> None:
        before = len(self.raw)
        self.raw += data
        # An event ends with a blank line; the chunk framing (\r\n) never forms one.
        self.arrivals += [time.monotonic() - self.sent] * self.raw.count(b"\n\n", max(0, before - 1))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(exc)


def _dechunk(raw: bytes) -> tuple[int, bytes]:
    """The status and the de-chunked body of a raw chunked HTTP/1.1 response."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    body = bytearray()
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return status, bytes(body)
        body += rest[:size]
        rest = rest[size + 2:]


async def one_client(host: str, port: int, payload: bytes, start: asyncio.Event,
                     delay: float) -> tuple[_Client, Exception | None]:
    """POST the request on a fresh connection `delay` s after `start`; the raw answer, timestamped as it came."""
    transport, client = await asyncio.get_running_loop().create_connection(_Client, host, port)
    head = (f"POST /v1/messages HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
            f"anthropic-version: 2023-06-01\r\ncontent-length: {len(payload)}\r\nconnection: close\r\n\r\n").encode()
    await start.wait()
    if delay:
        await asyncio.sleep(delay)
    client.sent = time.monotonic()
    transport.write(head + payload)
    return client, await client.done


def decoded(client: _Client, error: Exception | None) -> Seen:
    """A client's view: status, de-chunked body, each event's arrival. Run once every stream of the
    process has ended: decoding while others still stream would delay their timestamps."""
    seen = Seen(sent=client.sent)
    raw = bytes(client.raw)
    try:
        seen.status, seen.body = _dechunk(raw)
        seen.arrivals = client.arrivals[raw.partition(b"\r\n\r\n")[0].count(b"\n\n"):]
    except (ValueError, IndexError) as exc:
        seen.error = f"{type(exc).__name__}: {exc}" if error is None else f"{type(error).__name__}: {error}"
    return seen


async def load(url: str, payload: bytes, delays: list[float], start_at: float, timeout: float,
               watch: float) -> tuple[list[Seen], list[float]]:
    """Open one connection per delay, then at `start_at` (time.monotonic) plus its delay each client sends.

    Meanwhile a ticker notes how late this process's event loop wakes from 1 ms sleeps, for `watch`
    seconds after the start or until the streams end: the lag of the measuring side itself.
    """
    host, port = url.removeprefix("http://").rsplit(":", 1)
    start = asyncio.Event()
    tasks = [asyncio.create_task(one_client(host, int(port), payload, start, delay)) for delay in delays]
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    start.set()
    streams = asyncio.ensure_future(asyncio.wait_for(asyncio.gather(*tasks), timeout))
    lags, until = [], time.monotonic() + watch
    while time.monotonic() < until and not (tasks and streams.done()):
        before = time.monotonic()
        await asyncio.sleep(0.001)
        lags.append(time.monotonic() - before - 0.001)
    answers = await streams
    # Decode, and hand the results over, only once every process's streams should have ended:
    # doing it sooner takes the CPU from the server (and the other clients) while they still stream.
    await asyncio.sleep(max(0.0, until + SETTLE - time.monotonic()))
    return [decoded(client, error) for client, error in answers], lags


def client_process(url: str, payload: bytes, delays: list[float], start_at: float, timeout: float,
                   watch: float) -> tuple[list[Seen], list[float]]:
    """One client process's share of the streams (CLOCK_MONOTONIC is one clock for all processes).

    The clients run on uvloop when it is installed: the measuring side should be the cheap one.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(load(url, payload, delays, start_at, timeout, watch))
    return uvloop.run(load(url, payload, delays, start_at, timeout, watch))


def run_clients(url: str, clients: int, spread: float, processes: int,
                timeout: float, watch: float) -> tuple[list[Seen], list[float], list[float]]:
    """`clients` streams from `processes` forked processes, sent at once or evenly over `spread` seconds.

    Returns every client's view, the client processes' loop lags, and those of one more process
    with no clients (the machine's own scheduling noise over the same `watch` seconds).
    """
    delays = [i * spread / clients for i in range(clients)]
    shares = [delays[i::processes] for i in range(processes)] + [[]]
    payload = json.dumps(REQUEST).encode()
    start_at = time.monotonic() + 1.0 + clients / 1000  # time to fork, connect every client, settle
    with multiprocessing.get_context("fork").Pool(len(shares)) as pool:
        parts = pool.starmap(client_process, [(url, payload, share, start_at, timeout, watch) for share in shares])
    return ([seen for seen_, _ in parts for seen in seen_], [lag for _, lags in parts[:-1] for lag in lags],
            parts[-1][1])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def run_mode(path: Path, args: argparse.Namespace, clients: int, spread: float,
             offsets: list[float]) -> tuple[list[Seen], float, float | None, list[float], list[float]]:
    """One server process under one load; the clients' views, the wall time, the server's CPU share."""
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(path), str(args.speed)], stdout=subprocess.PIPE,
                              text=True)
    try:
        url = server.stdout.readline().strip()  # type: ignore[union-attr]
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the server did not print its URL (got {url!r})")
        cpu_before = cpu_seconds(server.pid)
        started = time.monotonic()
        seen, client_lags, floor = run_clients(url, clients, spread, args.processes, timeout=offsets[-1] + spread + 60,
                                               watch=offsets[-1] + spread)
        wall = time.monotonic() - started
        cpu_after = cpu_seconds(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=10)
    cpu = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / wall * 100
    return seen, wall, cpu, client_lags, floor


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=200, help="streams sent at the same instant (default 200)")
    p.add_argument("--spread-clients", type=int, default=1000, help="streams of the spread run (default 1000)")
    p.add_argument("--spread", type=float, default=5.0, help="the spread run sends over this many s (default 5)")
    p.add_argument("--processes", type=int, default=4, help="client processes (default 4)")
    p.add_argument("--seconds", type=float, default=2.0, help="recorded length of the stream (default 2)")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed (default 1)")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON (the shape run.py reads)")
    args = p.parse_args(argv)

    results: list[dict[str, Any]] = []
    failures: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "load.jsonl")
        interaction = make_cassette(path, args.seconds)[0]
        expected = b"".join(encode_event(e.event, e.payload.text, id=e.sse_id, retry=e.retry)
                            for e in interaction.events)
        offsets = [e.t / args.speed for e in interaction.events]
        results.append(row(f"streams of {len(offsets)} events, {offsets[-1]:.2f} s at speed {args.speed:g}, "
                           f"clients in {args.processes} processes", len(offsets), "events"))
        for mode, clients, spread in ((f"burst of {args.clients}", args.clients, 0.0),
                                      (f"{args.spread_clients} over {args.spread:g} s", args.spread_clients,
                                       args.spread)):
            print(f"[serve] {mode} ...", file=sys.stderr, flush=True)
            seen, wall, cpu, client_lags, floor = run_mode(path, args, clients, spread, offsets)
            correct = [s for s in seen if s.error is None and s.status == 200 and s.body == expected
                       and len(s.arrivals) == len(offsets)]
            failures |= {s.error or f"status {s.status}" for s in seen if s not in correct}
            late = [(a - t) * 1e3 for s in correct for a, t in zip(s.arrivals, offsets)]
            nan = float("nan")
            p99 = percentile(late, 99) if late else nan
            results += [
                row(f"{mode}: byte-correct streams", len(correct), "streams", f"= {clients}",
                    len(correct) == clients),
                row(f"{mode}: timing error p50", percentile(late, 50) if late else nan, "ms"),
                row(f"{mode}: timing error p99", p99, "ms", f"<= {TARGET_P99_MS:g} ms", p99 <= TARGET_P99_MS),
                row(f"{mode}: timing error max", max(late, default=nan), "ms"),
                row(f"{mode}: timing error min (< 0: early)", min(late, default=nan), "ms"),
                row(f"{mode}: wall time", wall, "s"),
                # The measuring side: if these are as late as the events, the figure is not the server's.
                row(f"{mode}: client processes' loop lag p99", percentile(client_lags, 99) * 1e3, "ms"),
                row(f"{mode}: idle process's loop lag p99 (machine noise)", percentile(floor, 99) * 1e3, "ms"),
            ]
            if cpu is not None:
                results.append(row(f"{mode}: server CPU", cpu, "% of a core"))

    print("\nLoad on `cassette serve`: timing error = event arrival - request sent - recorded t")
    width = max(len(r["metric"]) for r in results)
    for r in results:
        verdict = "" if r["ok"] is None else ("ok" if r["ok"] else "MISSED")
        print(f"{r['metric']:<{width}}  {r['value']:>9.2f} {r['unit']:<12} {r['target']:<10} {verdict}".rstrip())
    if failures:
        print("failures: " + "; ".join(sorted(failures)[:5]))
    if args.json:
        Path(args.json).write_text(json.dumps(results))
    return results


def row(metric: str, value: float, unit: str = "", target: str = "", ok: bool | None = None) -> dict[str, Any]:
    """One result, in the shape of benchmarks/_common.Result (bench, metric, value, unit, target, ok)."""
    return {"bench": BENCH, "metric": metric, "value": float(value), "unit": unit, "target": target, "ok": ok}


if __name__ == "__main__":
    main()
