"""Run every benchmark, each in its own process, then print one summary table.

    python benchmarks/run.py                   # all of them, about 2 minutes
    python benchmarks/run.py --only replay,pacing
    python benchmarks/run.py --seconds 60      # the full 60 s pacing check

Numbers are medians of interleaved runs measured in the same process, so ratios compare like with
like; absolute numbers depend on the machine. Nothing is asserted: targets are printed as ok / MISSED.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as c

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("replay", "load", "record", "scaling", "pacing", "serve", "fuzz", "startup")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    p.add_argument("--seconds", type=float, default=None, help="recorded length of the pacing stream (default 10)")
    args = p.parse_args(argv)
    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        p.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")

    results: list[c.Result] = []
    failed: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            out = Path(tmp, f"{name}.json")
            command = [sys.executable, str(HERE / f"bench_{name}.py"), "--json", str(out)]
            if name == "pacing" and args.seconds is not None:
                command += ["--seconds", str(args.seconds)]
            c.log(f"\n=== bench_{name}.py ===")
            bench_start = time.monotonic()
            code = subprocess.call(command)
            c.log(f"(bench_{name}.py took {time.monotonic() - bench_start:.0f} s)")
            if code != 0 or not out.exists():
                failed.append(name)
                continue
            results += c.load_results(out)

    c.print_table(results, title=f"Summary ({time.monotonic() - started:.0f} s in all)")
    missed = [r for r in results if r.ok is False]
    if missed:
        print(f"\n{len(missed)} target(s) missed: " + "; ".join(f"{r.bench}: {r.metric}" for r in missed))
    if failed:
        print(f"\nbenchmark(s) failed to run: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
