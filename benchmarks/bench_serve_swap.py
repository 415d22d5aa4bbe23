"""Fuzzing through a real server: examples/s with one `serve()` per example vs one server swapped per example.

For libraries that bring their own HTTP client, the fuzzed case must sit behind a real socket.
Each example here is what such a fuzz loop does: hypothesis draws a case, the server is made to
answer from it, and an SDK client pointed at the server's URL (`base_url`, a real 127.0.0.1
socket) streams the answer and checks it against the case's oracle. The client is made once,
as a library under test makes its own (a new anthropic client costs ~20 ms: its SSL context).

- per-example server: `with serve(stream) as url:` around every example (a new uvicorn each time);
- swapped:            one `serve()` for the whole run, `server.use(stream)` per example;
- swapped, conversations: the same with `conversations()`: each request answered live as it
                      arrives, drawn from hypothesis in the server's thread.

Prints examples/s and checks the swapped variants at >= 100 examples/s.

    python benchmarks/bench_serve_swap.py [--examples 300] [--repeat 3]
"""

from __future__ import annotations

import time
from typing import Any

import _common as c
import anthropic
from hypothesis import HealthCheck, Phase, given, seed, settings

from replayer import serve
from replayer.strategies import conversations, message_streams

BENCH = "serve_swap"
TARGET = 100.0  # examples per second through a swapped server
SEED = 20240501
REQUEST = {**c.REQUEST, "max_tokens": 1024}


def consume(client: anthropic.Anthropic, expected: dict[str, Any]) -> None:
    with client.messages.stream(**REQUEST) as stream:
        assert stream.get_final_message().to_dict() == expected


def run(n: int, strategy: Any, example: Any) -> float:
    """Seconds for hypothesis to run `example` on `n` drawn cases."""
    @seed(SEED)
    @settings(max_examples=n, database=None, deadline=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def test(case: Any) -> None:
        example(case)

    start = time.perf_counter()
    test()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> list[c.Result]:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=300, help="examples per swapped run (default 300)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per variant (default 3)")
    args = p.parse_args(argv)
    n, few = args.examples, max(10, args.examples // 15)
    streams = message_streams(max_blocks=3)

    def per_example(stream: Any) -> None:
        with serve(stream) as url, anthropic.Anthropic(api_key="bench", base_url=url, max_retries=0) as client:
            consume(client, stream.final_message)

    runs: dict[str, list[float]] = {"per-example": [], "swapped": [], "conversations": []}
    # The library under test keeps its client (and its kept-alive connection); only the case changes.
    with serve(c.ROOT / "cassettes" / "text.jsonl") as server, anthropic.Anthropic(
            api_key="bench", base_url=server, max_retries=0) as client:
        def swapped(stream: Any) -> None:
            server.use(stream)
            consume(client, stream.final_message)

        def conversation(case: Any) -> None:
            server.use(case)
            with client.messages.stream(**REQUEST) as stream:
                assert stream.get_final_message().to_dict() == case.expected[-1]

        run(20, streams, swapped)  # warm-up
        for i in range(args.repeat):
            c.log(f"[serve_swap] round {i + 1}/{args.repeat}")
            runs["per-example"].append(run(few, streams, per_example) * n / few)
            runs["swapped"].append(run(n, streams, swapped))
            runs["conversations"].append(run(n, conversations(), conversation))
        if args.profile:
            c.profile(lambda: run(n, streams, swapped), title="swapped server")
    rate = {name: n / c.Timing(tuple(samples)).median for name, samples in runs.items()}
    results = [
        c.Result(BENCH, "one server per example", rate["per-example"], "examples/s"),
        c.Result(BENCH, "one server, use(case) per example", rate["swapped"], "examples/s", f">= {TARGET:g}",
                 rate["swapped"] >= TARGET),
        c.Result(BENCH, "one server, conversations", rate["conversations"], "examples/s", f">= {TARGET:g}",
                 rate["conversations"] >= TARGET),
        c.Result(BENCH, "swapped / per-example", rate["swapped"] / rate["per-example"], "x"),
    ]
    c.finish(results, args, f"Fuzzing through a server ({n} examples, median of {args.repeat})")
    return results


if __name__ == "__main__":
    main()
