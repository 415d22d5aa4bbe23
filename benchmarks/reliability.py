"""Generate docs/reliability.md: what recording guarantees, and the figures of the run that checked it.

    python benchmarks/reliability.py > docs/reliability.md      # about two minutes on 2 cores

Each section states one guarantee and runs the campaign of the test suite that checks it, with
larger bounds (tests/recorder/test_crash_safety.py, test_secrets.py, test_append_and_locking.py and
test_proxy_errors.py); any broken guarantee stops the run with the failing assertion.
Add a section by adding a function to SECTIONS.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.recorder import test_append_and_locking as locking  # noqa: E402
from tests.recorder import test_crash_safety as crashes  # noqa: E402
from tests.recorder import test_proxy_errors as proxy_errors  # noqa: E402
from tests.recorder import test_secrets as secrets  # noqa: E402


def crash_safety(scale: float) -> list[str]:
    kills = max(2, int(30 * scale))
    with tempfile.TemporaryDirectory() as tmp:
        report = crashes.crash_campaign(Path(tmp), kills, seed=int(time.time()))
    return [
        "A recorder killed at any moment (SIGKILL, mid-stream, mid-write) leaves a cassette that loads, and it",
        "holds every event the application had received: each event is written to the OS in one system call",
        "before its bytes are handed on, so a kill never cuts a line. `append=True` continues such a cassette,",
        "and one whose last line was torn some other way (a full disk, a power loss): that line is dropped",
        "first (kept, with its newline, when it is whole JSON), exactly as `load` reads it.",
        "",
        "| figure | value |", "|---|---|",
        f"| recorder processes SIGKILLed mid-stream (paced stream over a real socket) | {report.kills} |",
        f"| cassettes loaded after a kill, each one appended to after the previous kill | {report.loads} |",
        f"| last lines also torn by hand (as a full disk leaves them), repaired by the next append | {report.torn} |",
        f"| events the application had received, all found on disk | {report.events_received} |",
    ]


def secrets_section(scale: float) -> list[str]:
    secrets.placements_tried.clear()
    for name, (_, examples) in secrets.WRITE_PATHS.items():
        with tempfile.TemporaryDirectory() as tmp:
            campaign(name, Path(tmp), max(5, int(examples * 2 * scale)))
    rows = [f"| {name} | {count} |" for name, count in secrets.placements_tried.items()]
    return [
        "No API key reaches disk in a form a reader could rebuild, on any write path. Checked views: the file's",
        "text, every JSON string decoded, `\\uXXXX` and `%XX` escapes undone, base64 runs decoded (in each of the",
        "four places a run can start), and the deltas of each content block joined. Placements drawn by",
        "hypothesis: " + ", ".join(f"`{p}`" for p in secrets.PLACEMENTS) + ",",
        "with noise around the key and the wire cut into random chunks. What may stay in clear of a key split",
        "across deltas is at most `sk-ant`, never a character of its secret part (docs/cassette-format.md).",
        "",
        "| write path | placements tried, none leaked |", "|---|---|", *rows,
        f"| **total** | **{sum(secrets.placements_tried.values())}** |",
    ]


def campaign(name: str, directory: Path, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(secrets.scenarios())
    def run(scenario: secrets.Scenario) -> None:
        secrets.check(name, scenario, directory)

    run()


def concurrency(scale: float) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        for test in (locking.test_a_hundred_transports_on_one_path_in_threads,
                     locking.test_asyncio_tasks_with_their_own_transports_on_one_path,
                     locking.test_two_transports_on_one_path_keep_both_interactions,
                     locking.test_append_to_a_missing_file_from_two_writers,
                     locking.test_a_second_process_is_refused_clearly_and_nothing_is_lost):
            directory = Path(tmp, test.__name__)
            directory.mkdir()
            test(directory)
    return [
        "Every writer of one process on one file shares it: lines never mix, ids never repeat, a second writer",
        "never truncates the file, and closing one client stops no other (a writer passed in stays open until",
        "whoever created it closes it; a write after that raises `CassetteClosedError`). A second *process*",
        "recording into the same file is refused at once with `CassetteBusyError` (an OS lock, `flock`, held",
        "while the file is open; `cassette record` prints one `Error:` line and exits 2). Taking the lock costs",
        "nothing per event: it is taken once, when the file is opened.",
        "",
        "| figure | value |", "|---|---|",
        "| threads, each with its own RecordingTransport on one path: interactions kept, whole and in order | 100 of 100 |",
        "| asyncio tasks, each with its own AsyncRecordingTransport on one path | 20 of 20 |",
        "| `append=True` on a missing file from two writers | one header, 3 of 3 lines |",
        "| a second process on a file being recorded | refused (`CassetteBusyError`), first process lost nothing |",
    ]


def upstream_errors(scale: float) -> list[str]:
    errors = max(150, int(proxy_errors.ERRORS * 2 * scale))
    with tempfile.TemporaryDirectory() as tmp:
        growth = proxy_errors.errors_through_proxy(Path(tmp), errors)
    return [
        "Recording never holds on to connections: an error body (4xx/5xx) is read at once for the cassette and",
        "the upstream response is closed, so the connection goes back to the pool.",
        "",
        "| figure | value |", "|---|---|",
        f"| upstream errors (429, 500) through the record-through proxy | {errors}, all answered and recorded |",
        f"| spread of the process's open file descriptors after the first 20 errors | {growth} |",
    ]


SECTIONS: list[tuple[str, Callable[[float], list[str]]]] = [
    ("Crash safety", crash_safety),
    ("Secrets", secrets_section),
    ("Concurrent writers", concurrency),
    ("Upstream errors while recording", upstream_errors),
]


def render(scale: float = 1.0) -> str:
    started = time.monotonic()
    body = []
    for title, section in SECTIONS:
        print(f"[reliability] {title} ...", file=sys.stderr)
        body += [f"## {title}", "", *section(scale), ""]
    head = ["# Reliability", "",
            "What recording guarantees, each with the figures of the run that checked it. Generated by",
            f"`python benchmarks/reliability.py > docs/reliability.md` (last run: {time.monotonic() - started:.0f} s); "
            + "the test suite runs the same campaigns with smaller",
            "bounds.", ""]
    return "\n".join(head + body)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the campaigns' sizes (default 1)")
    args = parser.parse_args(argv)
    sys.stdout.write(render(args.scale))


if __name__ == "__main__":
    main()
