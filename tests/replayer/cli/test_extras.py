"""Without an extra, the commands and functions that need it say in one line which extra to install.

The base install has neither matplotlib nor the servers' starlette and uvicorn. Each case runs
in a fresh interpreter whose import system refuses those modules, as a base install would; the
real base install is checked by .ci/check-base-install.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

EXTRAS = {"plot": ["matplotlib"], "server": ["starlette", "uvicorn"]}
EVERY_EXTRA = [module for modules in EXTRAS.values() for module in modules]

# Runs argv[2:] as the `cassette` command, or argv[2] as Python code when argv[1] is "-c",
# with the modules named in argv[1] missing.
BLOCKED = """
import sys

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

BLOCKED = set(sys.argv[1].split(","))
sys.meta_path.insert(0, NotInstalled())
if sys.argv[2] == "-c":
    exec(sys.argv[3])
else:
    from replayer.cli import main
    sys.argv = ["cassette", *sys.argv[2:]]
    main()
"""


def without(modules: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCKED, ",".join(modules), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("verb", "args", "missing", "extra"), [
    ("plot", ["cassettes/text.jsonl", "-o", "{tmp}/timeline.png"], "matplotlib", "plot"),
    ("serve", ["cassettes/"], "starlette", "server"),
    ("record", ["-o", "{tmp}/out.jsonl", "--", sys.executable, "-c", "pass"], "starlette", "server"),
])
def test_a_verb_without_its_extra_prints_one_line_naming_it(tmp_path: Path, verb: str, args: list[str],
                                                            missing: str, extra: str) -> None:
    done = without(EXTRAS[extra], verb, *(a.format(tmp=tmp_path) for a in args))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"Error: cassette {verb} needs {missing}: pip install 'claude-cassette[{extra}]'\n"
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing recorded


def test_the_module_that_is_missing_is_the_one_named() -> None:
    done = without(["uvicorn"], "serve", "cassettes/")
    assert done.stderr == "Error: cassette serve needs uvicorn: pip install 'claude-cassette[server]'\n"


@pytest.mark.parametrize("args", [["--help"], ["play", "cassettes/tool_use.jsonl"],
                                  ["check", "cassettes/text.jsonl"], ["stats", "cassettes/"], ["plot", "-h"],
                                  ["serve", "--help"], ["record", "-h"]], ids=" ".join)
def test_everything_else_works_without_any_extra(args: list[str]) -> None:
    done = without(EVERY_EXTRA, *args)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout


@pytest.mark.parametrize(("code", "message"), [
    ("replayer.plot_timeline('cassettes/text.jsonl', 'timeline.png')",
     "plotting (replayer.plot_timeline, plot_latency) needs matplotlib: pip install 'claude-cassette[plot]'"),
    ("replayer.serve('cassettes/')", "replayer.serve needs starlette: pip install 'claude-cassette[server]'"),
    ("recorder.proxy('out.jsonl')", "recorder.proxy needs starlette: pip install 'claude-cassette[server]'"),
])
def test_the_python_api_raises_one_line_naming_the_extra(code: str, message: str) -> None:
    probe = f"""
import recorder, replayer
try:
    {code}
except ImportError as exc:
    print(type(exc).__name__, exc, sep=": ")
"""
    done = without(EVERY_EXTRA, "-c", probe)
    assert done.stdout == f"MissingExtraError: {message}\n", done.stderr


def test_replay_fuzzing_and_the_pytest_plugin_need_no_extra() -> None:
    probe = """
import recorder, replayer, replayer.plugin, replayer.strategies
from replayer import ScriptedUpstream
body = recorder.load("cassettes/text.jsonl")[0].request.body.data
print([event.type for event in replayer.FakeAnthropic("cassettes/text.jsonl").messages.create(**body)][-1])
"""
    done = without(EVERY_EXTRA, "-c", probe)
    assert (done.stdout, done.stderr) == ("message_stop\n", "")
