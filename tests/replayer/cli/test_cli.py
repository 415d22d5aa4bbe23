"""The `cassette` command: play, show, check, import-sse, and one-line errors with exit status 2.

Cassettes are recorded from real SDK calls through RecordingTransport around an in-memory
upstream serving synthetic, protocol-valid SSE (helpers.Upstream, replayer.fuzzing._synthetic).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import anthropic
import httpx2
import pytest
from click.testing import CliRunner, Result

import recorder
import replayer
from replayer.cli import main
from replayer.fuzzing._synthetic import error_event, split, sse_bytes, text_message, thinking_message, tool_use_message
from tests.helpers import BODY, Upstream, direct, json_reply, recording, sse_reply

WEATHER = {"city": "Paris", "days": [1, 2], "unit": "°C"}
PLAIN = {"id": "msg_plain", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
         "content": [{"type": "text", "text": "A plain answer."}], "stop_reason": "end_turn",
         "stop_sequence": None, "usage": {"input_tokens": 7, "output_tokens": 4}}
RATE_LIMITED = b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}'


def invoke(*args: str, color: bool = False) -> Result:
    return CliRunner().invoke(main, list(args), color=color)


def record(path: Path, replies: list, *, calls: str) -> Path:
    """Make one real SDK call per letter of `calls` (s: messages.stream, c: messages.create) through the recorder."""
    client = recording(Upstream(replies), path, max_retries=0)
    for how in calls:
        try:
            if how == "s":
                with client.messages.stream(**BODY) as stream:
                    stream.get_final_message()
            else:
                client.messages.create(**BODY)
        except (anthropic.APIError, httpx2.HTTPError):
            pass  # recorded as it happened
    client.close()
    return path


@pytest.fixture
def session(tmp_path: Path) -> Path:
    """Text, tool_use with a preamble, thinking then text: all complete."""
    return record(tmp_path / "session.jsonl", [
        sse_reply(sse_bytes(text_message("Hello there, streaming world!"))),
        sse_reply(sse_bytes(tool_use_message("get_weather", WEATHER, preamble="Let me check."))),
        sse_reply(sse_bytes(thinking_message("Six times seven.", "The answer is 42."))),
    ], calls="sss")


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A dropped stream, an in-stream error, a 429, a non-streaming answer, then a good stream."""
    return record(tmp_path / "broken.jsonl", [
        sse_reply(sse_bytes(text_message("Cut off here", pieces=3)[:4]),
                  error=httpx2.RemoteProtocolError("peer closed connection without sending complete message body")),
        sse_reply(sse_bytes(text_message("Overloaded soon", pieces=2)[:4] + [error_event()])),
        json_reply(429, RATE_LIMITED, **{"retry-after": "1"}),
        json_reply(200, json.dumps(PLAIN).encode()),
        sse_reply(sse_bytes(text_message("Still here."))),
    ], calls="ssccs")


# --- play -------------------------------------------------------------------------------


def test_play_renders_text_tools_and_thinking(session: Path) -> None:
    result = invoke("play", str(session))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Hello there, streaming world!\n" in out
    assert "Let me check.\n" in out
    tool_line = next(line for line in out.splitlines() if line.startswith("[tool_use] get_weather "))
    assert json.loads(tool_line.removeprefix("[tool_use] get_weather ")) == WEATHER
    assert "[thinking] Six times seven.\nThe answer is 42.\n" in out
    summaries = [line for line in out.splitlines() if line.startswith("stop_reason=")]
    assert [s.split()[0] for s in summaries] == ["stop_reason=end_turn", "stop_reason=tool_use", "stop_reason=end_turn"]
    assert all("usage: in=25 out=" in s and "ttft " in s and "(recorded " in s for s in summaries)
    assert out.count("── interaction ") == 3


def test_play_styles_thinking_apart(session: Path) -> None:
    out = invoke("play", str(session), color=True).output
    dim_italic = ("\x1b[2m\x1b[3m", "\x1b[3m\x1b[2m")
    assert any(f"{style}[thinking] " in out for style in dim_italic)
    assert any(f"{style}Six " in out for style in dim_italic)  # each fragment is styled


def test_play_prints_text_live_one_delta_at_a_time(session: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import click

    writes: list[str] = []
    real_echo = click.echo

    def spy(message: object = None, *args: object, **kwargs: object) -> None:
        writes.append(str(message))
        real_echo(message, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(click, "echo", spy)
    invoke("play", str(session))
    fragments = split("Hello there, streaming world!")
    start = writes.index(fragments[0])
    assert writes[start:start + len(fragments)] == fragments  # one write (click.echo flushes) per text delta


def test_play_shows_errors_and_goes_on(broken: Path) -> None:
    result = invoke("play", str(broken))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "stream ended: httpx2.RemoteProtocolError: peer closed connection without sending complete message body" \
        in lines
    assert any(line.startswith("stream ended: anthropic.APIStatusError: ") and "overloaded_error" in line
               for line in lines)
    assert any(line.startswith("request failed: anthropic.RateLimitError: Error code: 429") for line in lines)
    assert "A plain answer." in lines  # non-streaming message
    assert lines[-2:][0] == "Still here."  # the last interaction still played
    assert result.output.count("stop_reason=None") == 2  # the broken streams never got a stop_reason


def test_play_recorded_connect_error(tmp_path: Path) -> None:
    request = recorder.Request("POST", "https://api.anthropic.com/v1/messages", {}, recorder.Payload(BODY))
    end = recorder.End(0.2, "disconnected", recorder.ErrorInfo("httpx2.ConnectError", "connection refused"))
    path = recorder.save(recorder.Cassette((recorder.Interaction(0, request, None, end=end),)), tmp_path / "c.jsonl")
    result = invoke("play", str(path))
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "request failed: anthropic.APIConnectionError: Connection error."
    assert "outcome=disconnected (httpx2.ConnectError: connection refused)" in invoke("show", str(path)).output


def test_play_paced(session: Path) -> None:
    result = invoke("play", str(session), "--speed", "1000")
    assert result.exit_code == 0 and "The answer is 42." in result.output


@pytest.mark.parametrize("value", ["0", "-1", "fast", "nan"])
def test_play_rejects_bad_speed_in_one_line(session: Path, value: str) -> None:
    result = invoke("play", str(session), "--speed", value)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"Error: --speed expects a number > 0, got {value!r}"]


def test_play_missing_or_corrupt_file(tmp_path: Path) -> None:
    result = invoke("play", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2
    assert result.stderr == f"Error: {tmp_path / 'nope.jsonl'}: no such cassette; record one first, or check the path\n"
    corrupt = tmp_path / "corrupt.jsonl"
    corrupt.write_text('{"cassette": 1}\n{"id": 0, "kind": "event"}\n')
    result = invoke("play", str(corrupt))
    assert result.exit_code == 2 and result.stderr.startswith(f"Error: {corrupt}:2: ")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.output


# --- show -------------------------------------------------------------------------------


def test_show_summarises_each_interaction(session: Path, broken: Path) -> None:
    result = invoke("show", str(session))
    assert result.exit_code == 0, result.output
    head, *rows = result.output.splitlines()
    assert head.startswith(f"{session}: 3 interactions (")
    assert len(rows) == 3
    assert rows[1].startswith("#1 POST /v1/messages -> 200  model=claude-haiku-4-5  events=")
    assert "stop_reason=tool_use  outcome=complete  ttft=" in rows[1]
    assert "tokens in=25 out=" in rows[1] and "duration=" in rows[1]

    rows = invoke("show", str(broken)).output.splitlines()[1:]
    assert "stop_reason=None  outcome=disconnected (httpx2.RemoteProtocolError: peer closed" in rows[0]
    assert "outcome=error_event (overloaded_error: Overloaded)" in rows[1]
    assert "-> 429" in rows[2] and "(rate_limit_error: slow down)" in rows[2] and "ttft=n/a" in rows[2]
    assert "events=0  stop_reason=end_turn  outcome=complete" in rows[3] and "tokens in=7 out=4" in rows[3]


def test_show_ttft_is_the_first_content_delta(session: Path) -> None:
    interaction = recorder.load(session)[0]
    first = next(e for e in interaction.events if e.event == "content_block_delta")
    summary = replayer.analysis._stats.interaction_stats(interaction)
    assert summary.time_to_first_token == first.t and summary.duration == interaction.end.t  # type: ignore[union-attr]


# --- check ------------------------------------------------------------------------------


def test_check_ok(session: Path, broken: Path) -> None:
    result = invoke("check", str(session), str(broken))
    assert result.exit_code == 0, result.output
    assert result.output == f"ok {session} (3 interactions)\nok {broken} (5 interactions)\n"


def test_check_bad_json_names_the_line(session: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    lines = session.read_text().splitlines(keepends=True)
    lines[2] = '{"id": 0, "kind": "event", oops\n'
    bad.write_text("".join(lines))
    result = invoke("check", str(session), str(bad))
    assert result.exit_code == 2
    ok, problem = result.output.splitlines()
    assert ok == f"ok {session} (3 interactions)"
    assert problem.startswith(f"{bad}:3: expected one JSON object per line")


def test_check_wrong_version_and_missing_file(tmp_path: Path) -> None:
    future = tmp_path / "future.jsonl"
    future.write_text('{"cassette": 99}\n')
    missing = tmp_path / "missing.jsonl"
    result = invoke("check", str(future), str(missing))
    assert result.exit_code == 2
    version, absent = result.output.splitlines()
    assert version.startswith(f"{future}:1: cassette format version 99, this release reads version 1")
    assert absent == f"{missing}: no such cassette; record one first, or check the path"


def test_check_reports_protocol_problems(session: Path, tmp_path: Path) -> None:
    cassette = recorder.load(session)
    first = cassette[0]
    broken = recorder.Interaction(first.id, first.request, first.response, first.events[1:], first.body, first.end)
    path = recorder.save(recorder.Cassette((broken, *cassette.interactions[1:]), cassette.header), tmp_path / "p.jsonl")
    result = invoke("check", str(path))
    assert result.exit_code == 2
    assert result.output == (f"{path}: interaction 0: event 0 (content_block_start): "
                             "a complete stream must start with message_start\n")


# --- import-sse -------------------------------------------------------------------------

CURL_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\nrequest-id: req_01\r\n"
             b"Set-Cookie: session=abc\r\nTransfer-Encoding: chunked\r\n\r\n")
EVENTS = tool_use_message("get_weather", WEATHER, preamble="Checking the sky.")


def crlf_capture() -> bytes:
    """What `curl -i -N` saves: a CRLF header block, then CRLF-framed SSE with a comment and multi-line data."""
    wire = sse_bytes(EVENTS, newline="\r\n")
    # The same message_start payload, its JSON split over two data lines (joined with "\n": still JSON).
    start = json.dumps(EVENTS[0][1], separators=(",", ":"))
    cut = start.index(',"message"')
    split_start = f"event: message_start\r\ndata: {start[:cut]}\r\ndata: {start[cut:]}\r\n\r\n".encode()
    rest = wire[wire.index(b"event: content_block_start"):]
    return CURL_HEAD + b": connected\r\n\r\n" + split_start + rest


def test_import_sse_of_a_curl_capture_then_play(tmp_path: Path) -> None:
    capture = tmp_path / "capture.sse"
    capture.write_bytes(crlf_capture())
    out = tmp_path / "imported.jsonl"
    result = invoke("import-sse", str(capture), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {out}: {len(EVENTS)} events, outcome complete\n"

    cassette = recorder.load(out)
    (interaction,) = cassette.interactions
    assert interaction.request is None and interaction.response is not None
    assert interaction.response.status == 200 and interaction.response.t == 0
    assert interaction.response.headers == {"content-type": "text/event-stream; charset=utf-8",
                                            "request-id": "req_01", "set-cookie": recorder.REDACTED}
    assert [e.event for e in interaction.events] == [name for name, _ in EVENTS]
    assert interaction.events[0].data == EVENTS[0][1]
    assert all(e.t == 0 for e in interaction.events) and interaction.end == recorder.End(0.0, "complete")
    assert {k: cassette.header[k] for k in ("imported", "timing", "source")} == {
        "imported": "sse", "timing": "none", "source": str(capture)}
    assert invoke("check", str(out)).exit_code == 0

    played = invoke("play", str(out))
    assert played.exit_code == 0, played.output
    assert "── interaction 0: imported capture" in played.output
    assert "Checking the sky.\n[tool_use] get_weather " in played.output
    assert "stop_reason=tool_use" in played.output


def test_import_replays_like_the_sdk_reads_the_raw_bytes(tmp_path: Path) -> None:
    raw = crlf_capture()[len(CURL_HEAD):]
    with direct(Upstream([sse_reply(raw)])).messages.stream(**BODY) as stream:
        expected = stream.get_final_message()
    cassette = recorder.import_sse(raw, gap=0.01)
    with replayer.FakeAnthropic(cassette).messages.stream(**BODY) as stream:
        assert stream.get_final_message() == expected
    assert expected.content[1].input == WEATHER  # type: ignore[union-attr]


def test_import_sse_gap_places_events(tmp_path: Path) -> None:
    capture = tmp_path / "c.sse"
    capture.write_bytes(sse_bytes(text_message("Hi there", pieces=2)))
    out = tmp_path / "c.jsonl"
    assert invoke("import-sse", str(capture), "-o", str(out), "--gap-ms", "25").exit_code == 0
    cassette = recorder.load(out)
    assert [e.t for e in cassette[0].events] == [round(i * 0.025, 6) for i in range(len(cassette[0].events))]
    assert cassette.header["timing"] == "synthetic gap of 25 ms"
    assert cassette[0].end.t == cassette[0].events[-1].t  # type: ignore[union-attr]


@pytest.mark.parametrize(("tail", "outcome", "rest"), [
    (b"", "truncated", None),
    (b"event: message_stop\ndata: {\"ty", "truncated", "event: message_stop\ndata: {\"ty"),
    (sse_bytes([error_event()]), "error_event", None),
])
def test_import_sse_outcomes(tail: bytes, outcome: str, rest: str | None) -> None:
    wire = sse_bytes(text_message("Hi", pieces=1)[:-1]) + tail  # everything but message_stop
    interaction = recorder.import_sse(wire)[0]
    assert interaction.end == recorder.End(0.0, outcome, tail=rest)  # type: ignore[arg-type]


def test_import_sse_keeps_a_non_stream_answer_whole() -> None:
    data = b"HTTP/2 529\r\ncontent-type: application/json\r\n\r\n" + RATE_LIMITED
    interaction = recorder.import_sse(data)[0]
    assert interaction.response == recorder.Response(0.0, 529, {"content-type": "application/json"})
    assert interaction.body is not None and interaction.body.payload.data["error"]["type"] == "rate_limit_error"


def test_import_sse_last_header_block_wins() -> None:
    data = b"HTTP/1.1 200 Connection established\r\n\r\n" + CURL_HEAD + sse_bytes(text_message("Hi"))
    interaction = recorder.import_sse(data)[0]
    assert interaction.response is not None and interaction.response.headers["request-id"] == "req_01"
    assert interaction.outcome == "complete"


def test_import_sse_bad_input(tmp_path: Path) -> None:
    with pytest.raises(recorder.CassetteError, match="expected an HTTP status line"):
        recorder.import_sse(b"HTTP/1.1 OK\r\n\r\n", source="x.sse")
    with pytest.raises(ValueError, match="gap"):
        recorder.import_sse(b"", gap=-1)
    result = invoke("import-sse", str(tmp_path / "none.sse"), "-o", str(tmp_path / "o.jsonl"))
    assert result.exit_code == 2 and result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1
    capture = tmp_path / "c.sse"
    capture.write_bytes(b"data: {}\n\n")
    result = invoke("import-sse", str(capture), "-o", str(tmp_path / "o.jsonl"), "--gap-ms", "-5")
    assert result.exit_code == 2 and result.stderr == "Error: --gap-ms expects a number >= 0, got '-5'\n"
    result = invoke("import-sse", str(capture), "-o", str(capture))
    assert result.exit_code == 2 and "refusing to overwrite" in result.stderr


# --- the installed script ---------------------------------------------------------------


def test_installed_script_help_and_bad_file(tmp_path: Path) -> None:
    script = shutil.which("cassette")
    assert script is not None, "the console script is not installed: pip install -e ."
    shown = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0
    assert all(command in shown.stdout for command in ("play", "show", "check", "import-sse"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text("this is not a cassette\n")
    failed = subprocess.run([script, "play", str(bad)], capture_output=True, text=True, timeout=60)
    assert failed.returncode == 2
    assert failed.stdout == "" and "Traceback" not in failed.stderr
    (line,) = failed.stderr.splitlines()
    assert line.startswith(f"Error: {bad}:1: expected one JSON object per line")
