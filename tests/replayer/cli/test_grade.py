"""`cassette grade`: the table, --json, --markdown, colour, exit statuses and one-line errors."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from replayer.cli import main
from replayer.cli._grade import use_color
from replayer.grading import grade
from replayer.grading._cases import Positions, default_cassette
from replayer.grading._report import table
from tests.helpers import CASSETTES, ROOT

N = Positions.of(default_cassette()).middle
GUIDE = "examples.graded:guide_stream"
RESILIENT = "examples.graded:resilient_stream"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_the_table_names_each_case_and_its_verdict_and_exit_1_on_a_silent_one() -> None:
    result = invoke("grade", GUIDE, "--case", "529x1", "--case", f"truncate@events={N}x1",
                    "--case", f"drop@events={N}x1")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"grade {GUIDE}"
    header = next(line for line in lines if line.startswith("case"))
    assert header.split() == ["case", "what", "happens", "verdict", "raised", "APIError", "caught", "by", "retries",
                              "seconds"]
    rows = {line.split()[0]: line for line in lines if line.startswith(("529x1", "truncate", "drop"))}
    assert "recovered" in rows["529x1"]
    assert "failed_silently" in rows[f"truncate@events={N}x1"]
    assert "httpx2.RemoteProtocolError" in rows[f"drop@events={N}x1"] and "neither" in rows[f"drop@events={N}x1"]
    assert lines[-1] == "3 cases: 1 recovered, 1 failed_loudly, 1 failed_silently (seconds: virtual time)"
    assert "\x1b[" not in result.output  # not a terminal: no colour


def test_json_is_one_object_per_case_and_markdown_a_table(tmp_path: Path) -> None:
    page = tmp_path / "grade.md"
    result = invoke("grade", RESILIENT, "--json", "--markdown", str(page), "--case", f"drop@events={N}x1",
                    "--case", f"malformed@events={N}x1")
    assert result.exit_code == 1  # the malformed chunk crashes it
    cases = json.loads(result.output)
    assert [(c["case"], c["verdict"], c["raised"], c["retries"]) for c in cases] == [
        (f"drop@events={N}x1", "recovered", None, 1), (f"malformed@events={N}x1", "crashed", "json.JSONDecodeError", 0)]
    assert {"case", "verdict", "raised", "retries", "seconds", "api_error", "caught_by_api_connection_error",
            "caught_by_api_status_error"} <= set(cases[0])
    assert cases[1]["api_error"] is False and isinstance(cases[1]["seconds"], float)
    text = page.read_text()
    assert text.startswith(f"## `cassette grade` {RESILIENT}\n\n2 cases: 1 recovered, 1 crashed")
    assert f"| `malformed@events={N}x1` | a malformed chunk in the middle | **crashed** | `json.JSONDecodeError` |" in text


@pytest.mark.parametrize(("fail_on", "status"), [("silent,hung,crashed", 0), ("loud", 1), ("silent", 0)])
def test_fail_on_picks_the_verdicts_that_fail(fail_on: str, status: int) -> None:
    result = invoke("grade", RESILIENT, "--fail-on", fail_on, "--case", "529x1",
                    "--case", f"error@events={N}:overloaded_errorx1")
    assert result.exit_code == status, result.output


def test_a_whole_catalogue_runs_on_a_recorded_cassette() -> None:
    result = invoke("grade", "cassettes.make_examples:run_text", "--cassette", str(CASSETTES / "text.jsonl"), "--json")
    cases = json.loads(result.output)
    assert len(cases) == 21 and result.exit_code == 1  # a truncation returns a partial Message: silent
    assert {c["verdict"] for c in cases} == {"recovered", "failed_loudly", "failed_silently", "crashed"}


def test_a_command_after_double_dash() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    result = invoke("grade", "--case", f"truncate@events={N}x1", "--json", "--", node,
                    str(ROOT / "tests" / "replayer" / "grading" / "stream.mjs"))
    assert json.loads(result.output)[0]["verdict"] == "failed_silently" and result.exit_code == 1


@pytest.mark.parametrize(("args", "message"), [
    ((), "give TARGET (module:function) or a command after --"),
    (("x:y", "--", "node"), "give TARGET (module:function) or a command after --"),
    ((GUIDE, "--fail-on", "sometimes"), "unknown verdict 'sometimes'"),
    ((GUIDE, "--case", "boom"), "unknown fault 'boom'"),
    (("nosuchmodule:f",), "cannot import 'nosuchmodule'"),
    (("examples.graded:guide_stream", "--cassette", "missing.jsonl"), "missing.jsonl"),
    (("--", "no-such-program-here"), "cannot run 'no-such-program-here'"),
    ((GUIDE, "--budget", "0"), "--budget expects a number > 0"),
])
def test_bad_input_is_one_error_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    result = invoke("grade", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: ")


def test_a_target_that_fails_without_faults_is_an_error() -> None:
    result = invoke("grade", "cassettes.make_examples:run_tool_loop", "--cassette", str(CASSETTES / "text.jsonl"))
    assert result.exit_code == 2 and "with no fault injected" in result.output


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(_Terminal()) and not use_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(_Terminal())


def test_the_table_colours_verdicts_when_asked() -> None:
    result = grade(GUIDE, cases=["529x1", f"truncate@events={N}x1"])
    coloured = table(result, color=True)
    assert click.style("failed_silently", fg="red", bold=True) in coloured
    assert click.style("recovered      ", fg="green") in coloured
    assert click.unstyle(coloured) == table(result)
