"""Grading speed: the whole catalogue on a Python consumer (virtual time), and a command, 1 vs 4 at a time.

- python: `grade(consumer)` over the 21 cases: wall seconds against the virtual seconds the cases
  took (stalls, 600 s timeouts, the SDK's retry backoff). Target: the catalogue in under 5 s of wall
  time while covering over 1,000 s of virtual time (virtual / wall >= 100).
- command: 8 cases (no stalls or timeouts: those wait on the wall clock) on `python -c <SDK client>` (each run starts an interpreter and imports
  the SDK), workers=1 against workers=4, interleaved. Target: parallel runs at least 1.5x faster
  on this 2-core machine.

    python benchmarks/bench_grade.py [--repeat 3]
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import anthropic

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common as c

from replayer.grading import catalogue, grade
from replayer.grading._cases import default_cassette

BENCH = "grade"
REQUEST = {"model": "claude-haiku-4-5", "max_tokens": 256, "messages": [{"role": "user", "content": "Hi"}]}
CLIENT = textwrap.dedent("""
    import anthropic
    with anthropic.Anthropic().messages.stream(model="claude-haiku-4-5", max_tokens=64,
                                               messages=[{"role": "user", "content": "Hi"}]) as stream:
        print("".join(stream.text_stream))
""")


def consumer(client: anthropic.Anthropic) -> str:
    with client.messages.stream(**REQUEST) as stream:
        return "".join(stream.text_stream)


def main(argv: list[str] | None = None) -> list[c.Result]:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    cases = catalogue(default_cassette())
    command_cases = [case.spec for case in cases if "stall" not in case.spec and "timeout" not in case.spec][:8]
    argv_ = [sys.executable, "-c", CLIENT]
    timings = c.compare({
        "python": (c.no_setup, lambda _: grade(consumer)),
        "command -j 1": (c.no_setup, lambda _: grade(command=argv_, cases=command_cases, workers=1)),
        "command -j 4": (c.no_setup, lambda _: grade(command=argv_, cases=command_cases, workers=4)),
    }, repeat=args.repeat)
    virtual = sum(case.seconds for case in grade(consumer).cases)
    wall = timings["python"].median
    speedup = timings["command -j 1"].median / timings["command -j 4"].median
    results = [
        c.Result(BENCH, f"python: {len(cases)} cases, wall", wall, "s", "< 5", wall < 5),
        c.Result(BENCH, "python: virtual seconds covered", virtual, "s"),
        c.Result(BENCH, "python: virtual / wall", virtual / wall, "x", ">= 100", virtual / wall >= 100),
        c.Result(BENCH, f"command: {len(command_cases)} cases, -j 1", timings["command -j 1"].median, "s"),
        c.Result(BENCH, f"command: {len(command_cases)} cases, -j 4", timings["command -j 4"].median, "s"),
        c.Result(BENCH, "command: -j 1 / -j 4", speedup, "x", ">= 1.5", speedup >= 1.5),
    ]
    c.finish(results, args, f"Grading speed (median of {args.repeat})")
    return results


if __name__ == "__main__":
    main()
