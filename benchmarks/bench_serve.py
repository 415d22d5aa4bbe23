"""Load on `cassette serve`: N concurrent streams at speed=1.0, byte-correct, and how late each event lands.

A cassette of N identical interactions (a ~2 s synthetic text stream: the first event at 0.3 s,
then one event every ~30 ms) is recorded by `recorder.RecordingTransport` from an in-memory
stream, re-timed through the public model and saved. `cassette serve FILE --speed 1` runs as
its own process (the real CLI); N raw asyncio socket clients in this process each POST the
recorded request at once, read the chunked body and note when each SSE event is complete.

- correct: a client's body is byte-for-byte the recorded events re-encoded, in order.
- timing error = arrival - request sent - recorded `t` (positive: late), over every event
  of every client: p50, p99, max; target p99 <= 10 ms.

Raw sockets keep the client side cheap, so the numbers are mostly the server's. Standalone (no
_common import); prints a table, asserts nothing; `--json PATH` writes the rows as run.py reads them.

    python benchmarks/bench_serve.py [--clients 200] [--seconds 2] [--speed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
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
FIRST_EVENT = 0.3
TARGET_P99_MS = 10.0
REQUEST: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 1024, "stream": True,
                           "messages": [{"role": "user", "content": "Tell me a story."}]}
STORY = ("Once upon a time a small lighthouse keeper counted the ships that passed, one by one, "
         "and wrote each name in a blue book that nobody else ever read. ") * 6


def make_cassette(path: Path, clients: int, seconds: float) -> recorder.Cassette:
    """`clients` copies of one ~`seconds` s stream, recorded through the real recorder, then re-timed."""
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
    copies = tuple(dataclasses.replace(timed, id=i) for i in range(clients))
    recorder.save(recorder.Cassette(copies, recorder.header(synthetic="benchmarks/bench_serve.py")), path)
    return recorder.load(path)


@dataclasses.dataclass
class Seen:
    """One client's view: status, body bytes, each event's arrival (s since the request was sent)."""

    status: int = 0
    body: bytes = b""
    arrivals: list[float] = dataclasses.field(default_factory=list)
    error: str | None = None


async def one_client(host: str, port: int, payload: bytes, start: asyncio.Event, delay: float) -> Seen:
    """POST the request on a fresh connection `delay` s after `start`, read the chunked SSE body, time each event."""
    seen = Seen()
    reader, writer = await asyncio.open_connection(host, port)
    head = (f"POST /v1/messages HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
            f"anthropic-version: 2023-06-01\r\ncontent-length: {len(payload)}\r\nconnection: close\r\n\r\n").encode()
    await start.wait()
    if delay:
        await asyncio.sleep(delay)
    sent = time.monotonic()
    writer.write(head + payload)
    try:
        status_line = await reader.readline()
        seen.status = int(status_line.split()[1])
        while await reader.readline() not in (b"\r\n", b""):
            pass
        body = bytearray()
        counted = 0
        while True:
            size = int((await reader.readline()).strip(), 16)
            if size == 0:
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
            now = time.monotonic() - sent
            complete = body.count(b"\n\n")
            seen.arrivals += [now] * (complete - counted)
            counted = complete
        seen.body = bytes(body)
    except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
        seen.error = f"{type(exc).__name__}: {exc}"
    finally:
        writer.close()
    return seen


async def load(url: str, clients: int, payload: bytes, timeout: float, stagger: float = 0.0) -> list[Seen]:
    """Run `clients` streams; their requests go out at once, or evenly spread over `stagger` seconds."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    start = asyncio.Event()
    tasks = [asyncio.create_task(one_client(host, int(port), payload, start, i * stagger / clients))
             for i in range(clients)]
    await asyncio.sleep(0.5)  # let every connection be accepted first, then send all requests at once
    start.set()
    return await asyncio.wait_for(asyncio.gather(*tasks), timeout)


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


def run_mode(path: Path, args: argparse.Namespace, stagger: float, expected: bytes,
             offsets: list[float]) -> tuple[list[Seen], float, float | None]:
    """One `cassette serve` process under one load; the clients' views, the wall time, the server's CPU share."""
    server = subprocess.Popen([sys.executable, "-c", "from replayer.cli import main; main()", "serve", str(path),
                               "--speed", str(args.speed)], stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()  # type: ignore[union-attr]
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"cassette serve did not print its URL (got {url!r})")
        cpu_before = cpu_seconds(server.pid)
        started = time.monotonic()
        payload = json.dumps(REQUEST).encode()
        seen = asyncio.run(load(url, args.clients, payload, timeout=offsets[-1] + stagger + 60, stagger=stagger))
        wall = time.monotonic() - started
        cpu_after = cpu_seconds(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=10)
    cpu = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / wall * 100
    return seen, wall, cpu


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=200, help="concurrent streams (default 200)")
    p.add_argument("--seconds", type=float, default=2.0, help="recorded length of the stream (default 2)")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed (default 1)")
    p.add_argument("--stagger", type=float, default=1.0,
                   help="the staggered run spreads its requests over this many seconds (default 1)")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON (the shape run.py reads)")
    args = p.parse_args(argv)

    results: list[dict[str, Any]] = []
    failures: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "load.jsonl")
        interaction = make_cassette(path, args.clients, args.seconds)[0]
        expected = b"".join(encode_event(e.event, e.payload.text, id=e.sse_id, retry=e.retry)
                            for e in interaction.events)
        offsets = [e.t / args.speed for e in interaction.events]
        results.append(row(f"{args.clients} concurrent streams x {len(offsets)} events, {offsets[-1]:.2f} s "
                           f"at speed {args.speed:g}", args.clients, "streams"))
        for mode, stagger in (("burst", 0.0), (f"staggered {args.stagger:g} s", args.stagger)):
            print(f"[serve] {mode}: {args.clients} streams ...", file=sys.stderr, flush=True)
            seen, wall, cpu = run_mode(path, args, stagger, expected, offsets)
            correct = [s for s in seen if s.error is None and s.status == 200 and s.body == expected
                       and len(s.arrivals) == len(offsets)]
            failures |= {s.error or f"status {s.status}" for s in seen if s not in correct}
            late = [(a - t) * 1e3 for s in correct for a, t in zip(s.arrivals, offsets)]
            nan = float("nan")
            p99 = percentile(late, 99) if late else nan
            results += [
                row(f"{mode}: byte-correct streams", len(correct), "streams", f"= {args.clients}",
                    len(correct) == args.clients),
                row(f"{mode}: timing error p50", percentile(late, 50) if late else nan, "ms"),
                row(f"{mode}: timing error p99", p99, "ms", f"<= {TARGET_P99_MS:g} ms", p99 <= TARGET_P99_MS),
                row(f"{mode}: timing error max", max(late, default=nan), "ms"),
                row(f"{mode}: timing error min (< 0: early)", min(late, default=nan), "ms"),
                row(f"{mode}: wall time", wall, "s"),
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
