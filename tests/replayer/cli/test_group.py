"""The `cassette` group: verbs load on first use, start without the heavy libraries, take -h, honour NO_COLOR.

Start-up time itself is measured in benchmarks/bench_startup.py; here only which modules each
verb imports, in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from replayer.cli import COMMANDS, main
from tests.helpers import CLI, ROOT

HEAVY = ("anthropic", "vcr", "hypothesis", "starlette", "uvicorn", "matplotlib", "numpy", "httpx2", "yaml")

# Runs `cassette ARGS...` and prints, last, which of HEAVY it imported.
PROBE = f"""
import json, sys
from replayer.cli import main
sys.argv = ["cassette", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
"""


def heavy_imports(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["check", "cassettes/text.jsonl"],
                                  ["show", "cassettes/tool_use.jsonl"], ["stats", "cassettes/"],
                                  ["diff", "cassettes/text.jsonl", "cassettes/text.jsonl"],
                                  *([verb, "--help"] for verb in COMMANDS)], ids=" ".join)
def test_verbs_that_do_not_replay_load_none_of_the_heavy_libraries(args: list[str]) -> None:
    assert heavy_imports(*args) == []


@pytest.mark.parametrize("statement", ["import recorder", "import replayer", "import replayer.analysis",
                                       "from recorder import load, problems, Cassette"])
def test_importing_the_packages_loads_none_of_the_heavy_libraries(statement: str) -> None:
    probe = f"import sys; {statement}; print([m for m in {HEAVY!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout == "[]\n", done.stderr


def test_the_probe_sees_what_replay_loads() -> None:
    assert {"anthropic", "httpx2", "vcr"} <= set(heavy_imports("play", "cassettes/text.jsonl"))


def test_every_verb_in_the_table_loads_as_named() -> None:
    ctx = click.Context(main)
    assert main.list_commands(ctx) == sorted(COMMANDS)
    for name in COMMANDS:
        command = main.get_command(ctx, name)
        assert isinstance(command, click.Command) and command.name == name
    assert main.get_command(ctx, "no-such-verb") is None


def test_an_unknown_verb_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["no-such-verb"])
    assert result.exit_code == 2 and "No such command 'no-such-verb'" in result.stderr


@pytest.mark.parametrize("verb", [None, *COMMANDS])
def test_dash_h_is_help_on_every_command(verb: str | None) -> None:
    # In a fresh process, as a user runs it: click caches each command's help option, and other
    # tests mount some of these commands on groups of their own.
    args = [] if verb is None else [verb]
    short, long = (subprocess.run([*CLI, *args, flag], capture_output=True, text=True, timeout=120)
                   for flag in ("-h", "--help"))
    assert (short.returncode, long.returncode) == (0, 0)
    assert short.stdout == long.stdout and short.stdout.startswith("Usage: ")
    assert "-h, --help" in short.stdout


@pytest.mark.parametrize(("no_color", "coloured"), [(None, True), ("", True), ("1", False), ("yes", False)])
def test_no_color_turns_colour_off(no_color: str | None, coloured: bool) -> None:
    env = {} if no_color is None else {"NO_COLOR": no_color}
    result = CliRunner(env=env).invoke(main, ["play", str(ROOT / "cassettes" / "tool_use.jsonl")], color=True)
    assert result.exit_code == 0
    assert ("\x1b[" in result.stdout) is coloured
