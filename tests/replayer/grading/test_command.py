"""Command targets: programs in any language graded against their own server, compared with a real socket."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from replayer import Reply, ScriptedUpstream
from replayer.grading import GradeError, grade
from replayer.grading._command import CommandRun, python_error
from replayer.grading._result import preview
from replayer.grading._verdict import classify
from tests.replayer.grading.test_grade import EVENTS, FULL, ON_A_SOCKET, TEXT, N

NODE = shutil.which("node")
STREAM_MJS = Path(__file__).with_name("stream.mjs")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


def run_on_socket(argv: list[str], replies: list[Reply]) -> CommandRun:
    with ScriptedUpstream([*replies, FULL, FULL]) as upstream:
        env = {**os.environ, "ANTHROPIC_BASE_URL": upstream.base_url, "ANTHROPIC_API_KEY": "k"}
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        return CommandRun(done.returncode, done.stdout, done.stderr, len(upstream.requests), 0.0)


@needs_node
@pytest.mark.parametrize(("spec", "verdict", "raised"), [
    ("529x1", "failed_loudly", "exit 1"),  # plain fetch does not retry: the program reports the status
    (f"drop@events={N}x1", "failed_loudly", "TypeError"),  # undici's "terminated"
    (f"truncate@events={N}x1", "failed_silently", None),
    (f"error@events={N}:overloaded_errorx1", "failed_loudly", "Error"),
    (f"malformed@events={N}x1", "failed_loudly", "SyntaxError"),
])
def test_a_node_program_is_graded_as_on_a_real_socket(spec: str, verdict: str, raised: str | None) -> None:
    argv = [NODE or "node", str(STREAM_MJS)]
    result = grade(command=argv, cases=[spec], workers=2)
    assert result.full == preview(TEXT)
    graded = result.cases[0]
    full = run_on_socket(argv, [])
    real = run_on_socket(argv, ON_A_SOCKET[spec]())
    assert graded.verdict == classify(hung=real.hung, raised=real.raised(), output=real.stdout,
                                      full=full.stdout) == verdict
    assert (graded.raised.name if graded.raised else None) == (real.raised().name if real.raised() else None) == raised
    assert graded.exit_code == real.exit_code


@needs_node
def test_commands_run_in_parallel_and_a_silent_server_is_hung_on_the_wall_clock() -> None:
    result = grade(command=[NODE or "node", str(STREAM_MJS)], cases=["timeoutx1", "529x1", "stall@events=5:0.2sx1"],
                   budget=3, workers=3)
    hung, loud, stalled = result.cases
    assert hung.verdict == "hung" and hung.exit_code is None and 3 <= hung.seconds
    assert loud.verdict == "failed_loudly" and stalled.verdict == "recovered"
    assert result.clock == "wall"


PYTHON_CLIENT = textwrap.dedent("""
    import anthropic
    with anthropic.Anthropic().messages.stream(model="claude-haiku-4-5", max_tokens=64,
                                               messages=[{"role": "user", "content": "Hi"}]) as stream:
        for text in stream.text_stream:
            print(text, end="")
""")


def test_a_python_program_is_graded_from_its_traceback() -> None:
    result = grade(command=[sys.executable, "-c", PYTHON_CLIENT], cases=["529x1", "529x3", f"drop@events={N}x1"])
    retried, overloaded, dropped = result.cases
    assert retried.verdict == "recovered" and retried.retries == 1
    assert overloaded.verdict == "failed_loudly" and overloaded.raised is not None
    assert (overloaded.raised.name, overloaded.raised.api_error, overloaded.raised.status_error) == (
        "anthropic.OverloadedError", True, True)
    assert dropped.raised is not None and dropped.raised.name == "httpx2.RemoteProtocolError"
    assert dropped.raised.connection_error is False


def test_tracebacks_and_exit_statuses_are_read() -> None:
    traceback = "Traceback (most recent call last):\n  File \"x.py\", line 1\n    x = {}['a']\nKeyError: 'a'\n"
    assert python_error(traceback).crash  # type: ignore[union-attr]
    assert python_error("no traceback here") is None
    own = python_error("Traceback (most recent call last):\n  File \"app.py\"\nmyapp_errors_x.Boom: no\n")
    assert own is not None and own.name == "myapp_errors_x.Boom" and own.api_error is None  # never imported
    assert "myapp_errors_x" not in sys.modules
    killed = CommandRun(-11, "", "", 1, 0.0).raised()
    assert killed is not None and killed.name == "SIGSEGV" and killed.crash
    plain = CommandRun(3, "", "something went wrong\n", 1, 0.0).raised()
    assert plain is not None and plain.name == "exit 3" and plain.message == "something went wrong"
    assert CommandRun(0, "", "", 1, 0.0).raised() is None


def test_a_command_that_fails_unfaulted_or_does_not_exist_cannot_be_graded() -> None:
    with pytest.raises(GradeError, match="exited 1 with no fault injected"):
        grade(command=[sys.executable, "-c", "raise SystemExit(1)"], cases=["529x1"])
    with pytest.raises(GradeError, match="cannot run 'no-such-program-here'"):
        grade(command=["no-such-program-here"], cases=["529x1"])
    assert len(EVENTS) > N
