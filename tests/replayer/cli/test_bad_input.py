"""Every verb of `cassette`, fed bad input or an out-of-range flag: one `Error: ...` line, exit 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from replayer.cli import main
from tests.helpers import CASSETTES, CLI

TEXT = str(CASSETTES / "text.jsonl")

INPUTS: dict[str, bytes | None] = {
    "missing": None,
    "empty": b"",
    "blank": b"\n\n  \n",
    "binary": bytes(range(256)) * 16,
    "truncated": (CASSETTES / "text.jsonl").read_bytes()[:20],  # cut inside the header line
    "wrong-shape": b'[1, 2, 3]\n{"cassette": 1}\n',
    "no-header": b'{"id": 0, "kind": "request", "method": "POST", "url": "http://x/v1/messages"}\n',
    "bad-line": b'{"cassette": 1}\n{"id": 0, "kind": "teleport", "t": 0}\n',
    "oversized": b"x" * 8_000_000 + b"\n",
}

# Each verb, with `{}` where the bad file goes.
VERBS: dict[str, list[str]] = {
    "play": ["play", "{}"],
    "show": ["show", "{}"],
    "check": ["check", "{}"],
    "stats": ["stats", "{}"],
    "plot": ["plot", "{}", "-o", "{out}.png"],
    "diff": ["diff", TEXT, "{}"],
    "serve": ["serve", "{}"],
    "export-vcr": ["export-vcr", "{}", "-o", "{out}.yaml"],
    "import-vcr": ["import-vcr", "{}", "-o", "{out}.jsonl"],
    "import-sse": ["import-sse", "{}", "-o", "{out}.jsonl"],
    "fuzz": ["fuzz", "examples.consumers:naive_tool_input", "-n", "1", "--cassette", "{}"],
    "grade": ["grade", "examples.consumers:naive_tool_input", "--case", "529x2", "--cassette", "{}"],
}

FLAGS: list[list[str]] = [
    *[["play", TEXT, "--speed", value] for value in ("0", "-1", "abc", "nan", "inf", "1e-9", "1e300")],
    *[["serve", TEXT, "--speed", value] for value in ("0", "abc", "inf", "1e-9")],
    ["serve", TEXT, "--port", "70000"], ["serve", TEXT, "--port", "-1"],
    ["play", TEXT, "--max-retries", "-1"], ["play", TEXT, "--max-retries", "1000"], ["play", TEXT, "--fault", "nope"],
    ["play", TEXT, "--fault", "drop@events=9999"],
    ["plot", TEXT, "-o", "x.png", "--interaction", "-1"], ["plot", TEXT, "-o", "x.png", "--interaction", "7"],
    ["plot", TEXT, "-o", "x.bmp"],
    ["import-sse", TEXT, "-o", "x.jsonl", "--gap-ms", "-1"], ["import-sse", TEXT, "-o", "x.jsonl", "--gap-ms", "inf"],
    ["fuzz", "examples.consumers:naive_tool_input", "-n", "0"], ["fuzz", "examples.consumers:naive_tool_input", "-j", "0"],
    ["fuzz", "no_colon_here"],
    *[["grade", "examples.consumers:naive_tool_input", flag, value]
      for flag in ("--budget", "--client-timeout") for value in ("0", "-1", "nan", "inf", "", "abc")],
    *[["grade", "examples.consumers:naive_tool_input", "--case", spec] for spec in ("", "nope", "529x-1", "\u2603")],
    ["grade", "examples.consumers:naive_tool_input", "--fail-on", "nope"],
    ["grade", "examples.consumers:naive_tool_input", "--sdk-retries", "-1"],
    ["grade", "examples.consumers:naive_tool_input", "-j", "0"], ["grade", "no_colon_here"], ["grade", ""],
    ["grade", "examples.consumers:nope"], ["grade", "json:dumps", "--case", "529x2"],
    ["grade", "--cassette", TEXT, "--case", "529x2"],
    # the target's requests match nothing in the cassette: the NoMatchError explanation stays off the line
    ["grade", "examples.consumers:naive_tool_input", "--cassette", TEXT, "--case", "529x2"],
    ["fuzz", "examples.consumers:nope"], ["fuzz", ""], ["fuzz", "examples.consumers:naive_tool_input", "--seed", "x"],
    ["fuzz", "examples.consumers:naive_tool_input", "-n", "-5"],
    ["record", "-o", "x.jsonl", "--listen", "--port", "99999"], ["record", "-o", "x.jsonl"],
    ["record", "--listen"], ["record", "-o", "x.jsonl", "--upstream", "ftp://nowhere", "--listen"],
    ["play"], ["play", TEXT, "extra"], ["play", "--bogus", TEXT], ["nope"], ["check"], ["diff", TEXT],
]


def assert_one_error_line(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    lines = result.output.splitlines()
    assert result.exit_code == 2, (args, result.output)
    assert len(lines) == 1 and lines[0].startswith("Error: "), (args, result.output)
    assert "Traceback" not in result.output and not isinstance(result.exception, AssertionError)
    assert len(lines[0]) < 600, lines[0]  # says what is wrong, does not echo the input


@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_refuses_bad_input_in_one_line(tmp_path: Path, verb: str, kind: str) -> None:
    content = INPUTS[kind]
    bad = tmp_path / f"{kind}.input"
    if content is not None:
        bad.write_bytes(content)
    out = tmp_path / "out"
    assert_one_error_line([arg.format(bad, out=out) for arg in VERBS[verb]])
    assert not any(p.name.startswith("out") for p in tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("args", FLAGS, ids=" ".join)
def test_out_of_range_flags_and_usage_errors_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         args: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert_one_error_line(args)


def _limited() -> None:
    """In the child: at most 1 GB, so a verb that reads /dev/zero forever fails fast instead of filling memory."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize("verb", ["check", "show", "play", "serve", "import-sse", "import-vcr"])
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_fifo_or_a_device_is_refused_at_once_in_one_line(tmp_path: Path, verb: str, kind: str) -> None:
    special = Path("/dev/zero")
    if kind == "fifo":
        special = tmp_path / "pipe.jsonl"
        os.mkfifo(special)
    args = [arg.format(special, out=tmp_path / "out") for arg in VERBS[verb]]
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60,
                            preexec_fn=_limited, check=False)
    output = result.stdout + result.stderr  # `check` reports on stdout
    assert result.returncode == 2, output
    what = "a FIFO" if kind == "fifo" else "a device"
    assert output.splitlines() == [f"Error: {special}: not a regular file ({what}); expected "
                                   + output.split("; expected ", 1)[-1].rstrip("\n")]
    assert "Traceback" not in output and not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("append", [[], ["--append"]], ids=["new", "append"])
def test_recording_into_a_fifo_is_refused_in_one_line(tmp_path: Path, append: list[str]) -> None:
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    result = subprocess.run([*CLI, "record", "-o", str(fifo), *append, "--", sys.executable, "-c", "pass"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"Error: {fifo}: not a regular file (a FIFO); expected a .jsonl cassette file to record into"]


@pytest.mark.parametrize("verb", VERBS)
def test_a_directory_where_a_file_is_expected_is_one_line(tmp_path: Path, verb: str) -> None:
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    assert_one_error_line([arg.format(folder, out=tmp_path / "out") for arg in VERBS[verb]])
