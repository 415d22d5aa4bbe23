"""`recorder.proxy` / `cassette record`: record an unchanged program through a local proxy.

The upstream is `replayer.serve` of a shipped cassette at speed 1.0 (or a ScriptedUpstream),
so no test touches the internet: a recording made through the proxy must replay to what
the shipped cassette replays to, with the same timing, and hold no key.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from click.testing import CliRunner

import recorder
from replayer import Chunk, FakeAnthropic, Reply, ScriptedUpstream, serve
from replayer.cli import main
from replayer.server._node import pinned_version, run_js
from tests.helpers import CASSETTES, CLI, Observed, cli_server, observe

TEXT, TOOL_USE = CASSETTES / "text.jsonl", CASSETTES / "tool_use.jsonl"
KEY = "sk-ant-" + "api03-proxy-test-dummy-key-0000"  # split: no key-shaped literal in the repo
# The app being recorded: the very calls that made the shipped cassettes, unchanged.
APP = f"""
import sys
sys.path.insert(0, {str(CASSETTES)!r})
import anthropic, make_examples as ex
client = anthropic.Anthropic()
print(ex.run_text(client).content[0].text[:20])
print([m.stop_reason for m in ex.run_tool_loop(client)])
"""


def bodies(path: Path) -> list[dict[str, Any]]:
    """The recorded request bodies, as the app passes them to messages.stream."""
    return [{k: v for k, v in i.request.body.data.items() if k != "stream"}  # type: ignore[union-attr]
            for i in recorder.load(path)]


def replayed(path: Path | recorder.Cassette, requests: list[dict[str, Any]], **kwargs: Any) -> list[Observed]:
    """What the SDK gives, call after call, replaying `path`."""
    client = FakeAnthropic(path, **kwargs)
    return [observe(lambda: client, "stream", body) for body in requests]


def offsets(interaction: recorder.Interaction) -> list[float]:
    """Event times relative to the first event."""
    return [e.t - interaction.events[0].t for e in interaction.events]


def sdk(url: str, **kwargs: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=KEY, **kwargs)


def test_cassette_record_runs_a_program_and_its_recording_replays_like_the_original(tmp_path: Path) -> None:
    out = tmp_path / "session.jsonl"
    with serve(TEXT, TOOL_USE, speed=1.0) as upstream:
        result = subprocess.run([*CLI, "record", "-o", str(out), "--upstream", upstream, "--",
                                 sys.executable, "-c", APP], check=False, capture_output=True, text=True, timeout=60,
                                env={**os.environ, "ANTHROPIC_API_KEY": KEY})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["The sky looks blue b", "['tool_use', 'end_turn']"]

    shipped = [*recorder.load(TEXT), *recorder.load(TOOL_USE)]
    made = recorder.load(out)
    assert [i.outcome for i in made] == ["complete"] * 3
    assert all(i.request.url.startswith(upstream + "/v1/messages") for i in made)  # type: ignore[union-attr]
    requests = bodies(TEXT) + bodies(TOOL_USE)
    expected = replayed(TEXT, requests[:1]) + replayed(TOOL_USE, requests[1:])
    assert replayed(out, requests) == expected and all(e.error is None for e in expected)
    for mine, theirs in zip(made, shipped, strict=True):
        drift = [abs(a - b) for a, b in zip(offsets(mine), offsets(theirs), strict=True)]
        # The recorded pace survives the round trip (its precision is measured in benchmarks/bench_pacing.py,
        # not asserted here: a loaded machine delays a few events by tens of milliseconds).
        assert max(drift) < 0.25, drift

    text = out.read_text()
    assert KEY not in text and "sk-ant" not in text and "dummy" not in text


def test_the_exit_status_is_the_commands(tmp_path: Path) -> None:
    with serve(TEXT) as upstream:
        result = CliRunner().invoke(main, ["record", "-o", str(tmp_path / "x.jsonl"), "--upstream", upstream, "--",
                                           sys.executable, "-c", "import sys; sys.exit(3)"])
    assert result.exit_code == 3
    assert len(recorder.load(tmp_path / "x.jsonl")) == 0


@pytest.mark.parametrize(("args", "problem"), [
    ([], "give a COMMAND to run"),
    (["--listen", "--", "true"], "give a COMMAND to run"),
    (["--upstream", "ftp://example", "--", "true"], "the upstream must be an http(s) URL"),
])
def test_usage_errors_are_one_line(tmp_path: Path, args: list[str], problem: str) -> None:
    result = CliRunner().invoke(main, ["record", "-o", str(tmp_path / "x.jsonl"), *args])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and problem in result.output
    assert not (tmp_path / "x.jsonl").exists()


def test_listen_serves_until_sigint(tmp_path: Path) -> None:
    out = tmp_path / "listened.jsonl"
    with serve(TEXT, speed=4.0) as upstream:
        with cli_server("record", "-o", str(out), "--listen", "--upstream", upstream) as url:
            seen = observe(lambda: sdk(url), "stream", bodies(TEXT)[0])
            assert seen.error is None and seen.final["stop_reason"] == "end_turn"
    assert replayed(out, bodies(TEXT)) == [seen]


# --- the cassette names the client that was recorded ------------------------------------------------

JS_APP = """
import Anthropic from '@anthropic-ai/sdk';
const final = await new Anthropic().messages.stream(JSON.parse(process.env.CASSETTE_INPUT)).finalMessage();
console.log(JSON.stringify(final.stop_reason));
"""


def test_a_typescript_session_is_labelled_with_the_ts_sdk_not_the_python_one_beside_the_proxy(
        tmp_path: Path, node: Path) -> None:
    out = tmp_path / "js.jsonl"
    version = pinned_version()
    with serve(TEXT) as upstream, recorder.proxy(out, upstream=upstream) as url:
        assert run_js(JS_APP, url, bodies(TEXT)[0]) == "end_turn"
    cassette = recorder.load(out)
    identity = {"user-agent": f"Anthropic/JS {version}", "x-stainless-lang": "js",
                "x-stainless-package-version": version}
    assert cassette.header["sdk"] == f"Anthropic/JS {version}" and cassette.header["client"] == identity
    (interaction,) = cassette
    assert identity.items() <= interaction.request.headers.items()  # and each request keeps its own


def test_a_python_session_through_the_proxy_names_the_python_client_and_an_empty_one_none(tmp_path: Path) -> None:
    with serve(TEXT) as upstream, recorder.proxy(tmp_path / "py.jsonl", upstream=upstream) as url:
        assert observe(lambda: sdk(url), "stream", bodies(TEXT)[0]).error is None
        with recorder.proxy(tmp_path / "none.jsonl", upstream=upstream):
            pass
    header = recorder.load(tmp_path / "py.jsonl").header
    assert header["sdk"] == f"Anthropic/Python {anthropic.__version__}"
    assert header["client"]["x-stainless-lang"] == "python"
    empty = recorder.load(tmp_path / "none.jsonl")
    assert len(empty) == 0 and empty.header["client"] == {} and "sdk" not in empty.header


# --- upstream failures are recorded as they happened ------------------------------------------------


def test_an_upstream_529_comes_back_as_it_is_and_is_recorded(tmp_path: Path) -> None:
    out = tmp_path / "overloaded.jsonl"
    body = bodies(TEXT)[0]
    with serve(TEXT, faults=["529"]) as upstream, recorder.proxy(out, upstream=upstream) as url:
        live = observe(lambda: sdk(url, max_retries=0), "stream", body)
    assert live.error is not None and live.error[0] is anthropic.OverloadedError
    (interaction,) = recorder.load(out)
    assert interaction.response.status == 529 and interaction.body.payload.data["error"]["type"] == "overloaded_error"
    assert replayed(out, [body], max_retries=0) == [live]


def test_an_upstream_drop_mid_stream_is_recorded_and_passed_on(tmp_path: Path) -> None:
    out = tmp_path / "dropped.jsonl"
    body = bodies(TEXT)[0]
    expected = replayed(TEXT, [body], faults=["drop@events=8"])
    with serve(TEXT, faults=["drop@events=8"]) as upstream, recorder.proxy(out, upstream=upstream) as url:
        live = observe(lambda: sdk(url), "stream", body)
    assert [live] == expected and live.error is not None and live.error[0] is httpx2.RemoteProtocolError
    (interaction,) = recorder.load(out)
    assert interaction.outcome == "disconnected" and len(interaction.events) == 8
    assert interaction.end.error.type == "httpx2.RemoteProtocolError"  # type: ignore[union-attr]
    assert replayed(out, [body]) == expected


def test_an_unreachable_upstream_is_recorded_as_disconnected(tmp_path: Path) -> None:
    out = tmp_path / "refused.jsonl"
    with ScriptedUpstream() as gone:
        dead = gone.base_url
    with recorder.proxy(out, upstream=dead) as url:
        live = observe(lambda: sdk(url, max_retries=0), "stream", bodies(TEXT)[0])
    assert live.error is not None and live.error[0] is anthropic.APIConnectionError
    (interaction,) = recorder.load(out)
    assert interaction.outcome == "disconnected" and interaction.end.error.type == "httpx2.ConnectError"  # type: ignore[union-attr]


def test_compressed_bodies_pass_raw_and_are_recorded_decoded_and_the_path_prefix_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "gzip.jsonl"
    packed = gzip.compress(b'{"input_tokens": 7}')
    reply = Reply(headers=(("content-type", "application/json"), ("content-encoding", "gzip"),
                           ("content-length", str(len(packed)))), chunks=(Chunk(packed),))
    with ScriptedUpstream([reply]) as upstream, recorder.proxy(out, upstream=upstream.base_url + "/prefix/") as url:
        counted = sdk(url).messages.count_tokens(model="claude-haiku-4-5", messages=[{"role": "user", "content": "Hi"}])
    assert counted.input_tokens == 7
    (received,) = upstream.requests
    assert received.path == "/prefix/v1/messages/count_tokens"
    assert received.headers["host"] == upstream.base_url.removeprefix("http://")
    assert received.headers["authorization"] == f"Bearer {KEY}"  # forwarded upstream, never written
    (interaction,) = recorder.load(out)
    assert interaction.body.payload.data == {"input_tokens": 7}  # type: ignore[union-attr]
    assert "content-encoding" not in interaction.response.headers  # type: ignore[union-attr]
    assert KEY not in out.read_text()
    assert json.loads(out.read_text().splitlines()[1])["headers"]["authorization"] == recorder.REDACTED


def test_a_compressed_error_body_reaches_the_client_readable(tmp_path: Path) -> None:
    error = {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: too large"}}
    packed = gzip.compress(json.dumps(error).encode())
    reply = Reply(status=400, headers=(("content-type", "application/json"), ("content-encoding", "gzip"),
                                       ("content-length", str(len(packed)))), chunks=(Chunk(packed),))
    with ScriptedUpstream([reply]) as upstream, recorder.proxy(tmp_path / "e.jsonl", upstream=upstream.base_url) as url:
        seen = observe(lambda: sdk(url, max_retries=0), "create")
    assert seen.error is not None and seen.error[0] is anthropic.BadRequestError
    assert "max_tokens: too large" in seen.error[1]
    (interaction,) = recorder.load(tmp_path / "e.jsonl")
    assert interaction.body.payload.data == error  # type: ignore[union-attr]
