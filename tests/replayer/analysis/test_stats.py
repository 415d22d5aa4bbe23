"""replayer.analysis._stats: timing statistics checked against numbers worked out by hand, and the `stats` command.

The cassettes are built from the model classes with times that are exact binary fractions,
so most expected values compare with `==`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy
import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

import recorder
from recorder import Body, Cassette, End, ErrorInfo, Event, Interaction, Payload, Request, Response
from replayer.analysis._stats import InteractionStats, aggregate, content_blocks, percentile, stats
from replayer.cli._analysis import stats_command
from tests.helpers import ROOT

SSE = {"content-type": "text/event-stream"}
REQUEST = Request("POST", "https://api.anthropic.com/v1/messages", {},
                  Payload({"model": "claude-requested", "max_tokens": 64, "stream": True}))


def ev(t: float, name: str, **data: Any) -> Event:
    return Event(t, name, Payload({"type": name, **data}))


def start(t: float, output_tokens: int = 1, model: str = "claude-test") -> Event:
    return ev(t, "message_start", message={"id": "msg_1", "type": "message", "role": "assistant", "model": model,
                                           "content": [], "stop_reason": None, "stop_sequence": None,
                                           "usage": {"input_tokens": 5, "output_tokens": output_tokens}})


def delta(t: float, kind: str, value: str, index: int = 0) -> Event:
    key = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json",
           "signature_delta": "signature"}[kind]
    return ev(t, "content_block_delta", index=index, delta={"type": kind, key: value})


def block(t: float, content_block: dict[str, Any], index: int = 0) -> Event:
    return ev(t, "content_block_start", index=index, content_block=content_block)


def interaction(events: list[Event], end: End | None, id: int = 0, response_t: float = 0.125) -> Interaction:
    return Interaction(id, REQUEST, Response(response_t, 200, SSE), tuple(events), None, end)


TEXT_EVENTS = [
    start(0.5),
    block(0.5, {"type": "text", "text": ""}),
    ev(0.625, "ping"),
    delta(0.75, "text_delta", ""),  # empty: not a token
    delta(1.0, "text_delta", "Hello"),
    delta(1.5, "text_delta", " world"),
    ev(1.75, "content_block_stop", index=0),
    ev(2.0, "message_delta", delta={"stop_reason": "end_turn", "stop_sequence": None}, usage={"output_tokens": 10}),
    ev(2.0, "message_stop"),
]
TEXT = interaction(TEXT_EVENTS, End(2.25, "complete"))


def test_text_stream_by_hand() -> None:
    s = stats(Cassette((TEXT,), path="by-hand.jsonl"))[0]
    # Gaps between the 9 events: 0, .125, .125, .25, .5, .25, .25, 0 -> sorted
    # [0, 0, .125, .125, .25, .25, .25, .5]; linear interpolation at rank (n-1)q = 7q.
    assert s == InteractionStats(
        cassette="by-hand.jsonl", id=0, request=s.request, model="claude-test", status=200,
        time_to_first_byte=0.125,
        time_to_first_token=1.0,  # the empty delta at 0.75 carries no token
        duration=2.25, events=9, input_tokens=s.input_tokens, output_tokens=10,
        output_tokens_per_second=10.0,  # 10 tokens over 2.0 - 1.0 s
        gap_p50=0.1875,  # rank 3.5: halfway between x[3] = .125 and x[4] = .25
        gap_p95=s.gap_p95, gap_p99=s.gap_p99, gap_max=0.5,
        stop_reason="end_turn", outcome="complete", error=None)
    assert s.gap_p95 == pytest.approx(0.25 + 0.65 * 0.25, abs=1e-12)  # rank 6.65
    assert s.gap_p99 == pytest.approx(0.25 + 0.93 * 0.25, abs=1e-12)  # rank 6.93


def test_to_dict_has_every_documented_field() -> None:
    row = stats(Cassette((TEXT,)))[0].to_dict()
    assert list(row) == ["cassette", "id", "request", "model", "status", "time_to_first_byte", "time_to_first_token",
                         "duration", "events", "input_tokens", "output_tokens", "output_tokens_per_second", "gap_p50",
                         "gap_p95", "gap_p99", "gap_max", "stop_reason", "outcome", "error"]
    assert json.loads(json.dumps(row)) == row


def test_disconnected_stream_counts_tokens_from_message_start() -> None:
    cut = interaction([start(0.25, output_tokens=3), block(0.5, {"type": "text", "text": ""}),
                       delta(0.75, "text_delta", "Hel")],
                      End(1.5, "disconnected", ErrorInfo("httpx2.RemoteProtocolError", "peer closed")))
    s = stats(Cassette((cut,)))[0]
    assert (s.time_to_first_token, s.duration, s.events, s.output_tokens) == (0.75, 1.5, 3, 3)
    assert s.output_tokens_per_second is None  # first token is the last event: no span
    assert (s.stop_reason, s.outcome) == (None, "disconnected")
    assert (s.gap_p50, s.gap_max) == (0.25, 0.25)


def test_without_an_end_line_duration_is_the_last_event() -> None:
    s = stats(Cassette((interaction([start(0.25), block(0.5, {"type": "text", "text": ""}),
                                     delta(0.75, "text_delta", "a"), delta(1.75, "text_delta", "b")], None),)))[0]
    assert (s.duration, s.outcome, s.output_tokens) == (1.75, "incomplete", 1)
    assert s.output_tokens_per_second == 1.0  # 1 token over 1.75 - 0.75 s
    assert (s.gap_p50, s.gap_max) == (0.25, 1.0)  # gaps .25, .25, 1.0


def test_tool_input_and_thinking_deltas_are_tokens_but_signatures_are_not() -> None:
    thinking = interaction([start(0.25), block(0.25, {"type": "thinking", "thinking": "", "signature": ""}),
                            delta(0.5, "signature_delta", "sig"), delta(0.75, "thinking_delta", "hmm")],
                           End(1.0, "complete"))
    tool = interaction([start(0.25), block(0.25, {"type": "tool_use", "id": "t", "name": "f", "input": {}}),
                        delta(0.375, "input_json_delta", ""), delta(0.5, "input_json_delta", '{"a": 1}')],
                       End(1.0, "complete"))
    assert [s.time_to_first_token for s in stats(Cassette((thinking, tool)))] == [0.75, 0.5]


def test_non_streaming_body() -> None:
    message = {"id": "msg_2", "type": "message", "role": "assistant", "model": "claude-body",
               "content": [{"type": "text", "text": "Hi"}], "stop_reason": "max_tokens",
               "usage": {"input_tokens": 3, "output_tokens": 7}}
    plain = Interaction(0, REQUEST, Response(0.5, 200, {"content-type": "application/json"}), (),
                        Body(0.75, Payload(message)), End(0.75, "complete"))
    s = stats(Cassette((plain,)))[0]
    assert (s.model, s.time_to_first_byte, s.time_to_first_token, s.duration) == ("claude-body", 0.5, None, 0.75)
    assert (s.events, s.output_tokens, s.output_tokens_per_second) == (0, 7, None)
    assert (s.gap_p50, s.gap_p95, s.gap_p99, s.gap_max) == (None, None, None, None)
    assert s.stop_reason == "max_tokens"
    assert content_blocks(plain)[0].text == "Hi"


def test_model_falls_back_to_the_request_and_no_response_gives_none() -> None:
    lost = Interaction(0, REQUEST, None, (), None, End(2.0, "disconnected", ErrorInfo("httpx2.ConnectError", "no")))
    s = stats(Cassette((lost,)))[0]
    assert (s.model, s.status, s.time_to_first_byte, s.duration, s.events) == ("claude-requested", None, None, 2.0, 0)


def test_content_blocks_assemble_text_and_tool_input() -> None:
    tool = interaction([start(0.25), block(0.25, {"type": "text", "text": ""}), delta(0.5, "text_delta", "Let "),
                        delta(0.625, "text_delta", "me."), ev(0.75, "content_block_stop", index=0),
                        block(0.75, {"type": "tool_use", "id": "t", "name": "get", "input": {}}, index=1),
                        delta(0.875, "input_json_delta", '{"ci', index=1),
                        delta(1.0, "input_json_delta", 'ty": "Paris"}', index=1)], End(1.25, "complete"))
    text, call = content_blocks(tool)
    assert (text.type, text.text, text.start, text.stop, text.first_delta) == ("text", "Let me.", 0.25, 0.75, 0.5)
    assert (call.type, call.name, call.input, call.stop) == ("tool_use", "get", {"city": "Paris"}, None)


def test_aggregate() -> None:
    rows = [InteractionStats(None, i, None, "m", 200, 0.0, ttft, dur, 3, 1, 4, tps, None, None, None, None, stop,
                             outcome, None)
            for i, (ttft, dur, tps, stop, outcome) in enumerate([
                (0.5, 1.0, 10.0, "end_turn", "complete"),
                (1.0, 2.0, 20.0, "end_turn", "complete"),
                (None, 0.25, None, None, "disconnected"),
                (1.5, 3.0, 30.0, "tool_use", "complete"),
            ])]
    summary = aggregate(rows)
    assert summary["count"] == 4
    assert summary["outcomes"] == {"complete": 3, "disconnected": 1}
    assert summary["stop_reasons"] == {"end_turn": 2, None: 1, "tool_use": 1}
    # TTFT over [0.5, 1.0, 1.5]: p50 at rank 1 -> 1.0; p95 at rank 1.9 -> 1.0 + .9 * .5
    assert summary["time_to_first_token"]["n"] == 3
    assert summary["time_to_first_token"]["p50"] == 1.0
    assert summary["time_to_first_token"]["p95"] == pytest.approx(1.45)
    assert (summary["duration"]["min"], summary["duration"]["max"], summary["duration"]["p50"]) == (0.25, 3.0, 1.5)
    assert summary["output_tokens_per_second"]["p50"] == 20.0
    assert aggregate([])["duration"] == {"n": 0, "min": None, "p50": None, "p95": None, "p99": None, "max": None}


def test_percentile_small_cases() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0) == 1.0


@given(st.lists(st.floats(0, 1e3), min_size=1, max_size=50), st.sampled_from([0, 25, 50, 90, 95, 99, 100]))
def test_percentile_matches_numpy_linear(values: list[float], q: int) -> None:
    expected = float(numpy.percentile(values, q, method="linear"))
    assert percentile(sorted(values), q) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_paths_and_directories(tmp_path: Path) -> None:
    recorder.save(Cassette((TEXT,)), tmp_path / "b.jsonl")
    recorder.save(Cassette((TEXT, Interaction(1, REQUEST, TEXT.response, TEXT.events, None, TEXT.end))),
                  tmp_path / "a.jsonl")
    rows = stats(tmp_path)
    assert [(Path(r.cassette).name, r.id) for r in rows] == [("a.jsonl", 0), ("a.jsonl", 1), ("b.jsonl", 0)]
    assert stats(tmp_path / "b.jsonl") == stats([str(tmp_path / "b.jsonl")])


def test_shipped_cassettes_are_consistent() -> None:
    root = ROOT / "cassettes"
    for row in stats(root):
        assert row.time_to_first_byte is not None
        if row.time_to_first_token is not None:
            assert row.time_to_first_byte <= row.time_to_first_token <= (row.duration or 0)


# --- the `stats` command ------------------------------------------------------------------


def invoke(*args: str) -> Result:
    group = click.Group("cassette")
    group.add_command(stats_command)
    return CliRunner().invoke(group, ["stats", *args])


@pytest.fixture
def cassettes(tmp_path: Path) -> Path:
    recorder.save(Cassette((TEXT,)), tmp_path / "one.jsonl")
    recorder.save(Cassette((TEXT,)), tmp_path / "two.jsonl")
    return tmp_path


def test_command_json(cassettes: Path) -> None:
    result = invoke(str(cassettes / "one.jsonl"), "--json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    for key in ("time_to_first_byte", "time_to_first_token", "duration", "events", "output_tokens",
                "output_tokens_per_second", "gap_p50", "gap_p95", "gap_p99", "gap_max", "stop_reason", "outcome",
                "cassette", "id"):
        assert key in row
    assert (row["time_to_first_token"], row["gap_p50"], row["gap_p95"]) == (1.0, 0.1875, 0.4125)
    assert row["output_tokens"] == 10


def test_command_table_expands_directories(cassettes: Path) -> None:
    result = invoke(str(cassettes))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["cassette", "id", "model"]
    assert "one.jsonl" in lines[1] and "two.jsonl" in lines[2]
    assert "1000.0ms" in lines[1] and "187.5ms" in lines[1]
    assert lines[3].startswith("2 interactions: outcomes complete=2; stop_reasons end_turn=2; ttft p50 1000.0ms")


@pytest.mark.parametrize("content", [None, b"not json\n", b'{"cassette": 99}\n'])
def test_command_bad_input_is_one_line_and_exit_2(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "bad.jsonl"
    if content is not None:
        path.write_bytes(content)
    result = invoke(str(path))
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert "Traceback" not in result.output


def test_command_empty_directory(tmp_path: Path) -> None:
    result = invoke(str(tmp_path))
    assert result.exit_code == 2 and "no cassettes" in result.output
