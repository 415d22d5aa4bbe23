"""Start-up time of each `cassette` verb, against `python -c pass` measured in the same run.

Each command is a fresh process (the installed `cassette` script of this interpreter's
environment), run interleaved with the others after one discarded warm-up round; the median of
the runs is reported with its ratio to the bare interpreter. Bytecode caches are allowed (an
inherited PYTHONDONTWRITEBYTECODE is dropped), so the warm-up writes them, as a user's first run
or `pip install` does. Targets: `--version`, `--help`,
`check` and `show` under 300 ms. `play FILE` replays through the SDK and so imports it: it is
shown for comparison, without a target.

    python benchmarks/bench_startup.py [--repeat 15] [--other /path/to/other-venv/bin/cassette]

`--other` times another install's `cassette` (an older release, say) in the same run, for comparison.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import _common as c

BENCH = "startup"
TARGET_MS = 300.0
CASSETTE = Path(sys.executable).with_name("cassette")
VERBS: dict[str, list[str]] = {  # name -> arguments; those in FAST have the target
    "--version": ["--version"],
    "--help": ["--help"],
    "check": ["check", "cassettes/text.jsonl"],
    "show": ["show", "cassettes/tool_use.jsonl"],
    "stats": ["stats", "cassettes/"],
    "play --help": ["play", "--help"],
    "play FILE": ["play", "cassettes/text.jsonl"],
}
FAST = ("--version", "--help", "check", "show")
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def run(command: list[str], _state: None) -> None:
    subprocess.run(command, cwd=c.ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV,
                   check=True)


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=15, help="timed runs of each command (default 15)")
    p.add_argument("--other", type=Path, help="another install's cassette script, timed alongside")
    args = p.parse_args()
    if not CASSETTE.exists():
        raise SystemExit(f"no {CASSETTE}: install the project in this environment (pip install -e .)")
    commands = {"python -c pass": [sys.executable, "-c", "pass"]}
    commands |= {f"cassette {verb}": [str(CASSETTE), *argv] for verb, argv in VERBS.items()}
    if args.other:
        commands |= {f"other {verb}": [str(args.other), *argv] for verb, argv in VERBS.items()}
    c.log(f"{len(commands)} commands x {args.repeat} runs, interleaved ...")
    timings = c.compare({name: (c.no_setup, partial(run, command)) for name, command in commands.items()},
                        repeat=args.repeat)
    baseline = timings["python -c pass"].median
    results = [c.Result(BENCH, "python -c pass (baseline)", baseline * 1e3, "ms")]
    for verb in VERBS:
        median = timings[f"cassette {verb}"].median
        fast = verb in FAST
        results += [
            c.Result(BENCH, f"cassette {verb}", median * 1e3, "ms", f"< {TARGET_MS:.0f} ms" if fast else "",
                     median * 1e3 < TARGET_MS if fast else None),
            c.Result(BENCH, f"cassette {verb} / python -c pass", median / baseline, "x"),
        ]
        if args.other:
            other = timings[f"other {verb}"].median
            results.append(c.Result(BENCH, f"other {verb} / python -c pass", other / baseline, "x"))
    c.finish(results, args, f"Start-up, median of {args.repeat} runs (spread in the log)")
    for name, timing in timings.items():
        c.log(f"  {name}: {timing.spread()}")


if __name__ == "__main__":
    main()
