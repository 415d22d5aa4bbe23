"""replayer.analysis._diff: what makes two recordings of one conversation differ, and the `diff` command's exit status."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

import recorder
from recorder import Cassette, End, ErrorInfo, Event, Interaction, Payload, Request, Response
from replayer.analysis._diff import diff
from replayer.cli._analysis import diff_command
from replayer.fuzzing._synthetic import text_message, tool_use_message

HEADERS = {"host": "127.0.0.1:1234", "x-stainless-os": "Linux", "anthropic-version": "2023-06-01",
           "content-type": "application/json", "authorization": "REDACTED"}
QUESTION = {"model": "claude-haiku-4-5", "max_tokens": 64, "stream": True,
            "messages": [{"role": "user", "content": "Weather in Paris?"}]}
ANSWERED = {**QUESTION, "messages": QUESTION["messages"] + [{"role": "assistant", "content": "(tool call)"}]}


def streamed(id: int, body: dict[str, Any], events: list[tuple[str, dict]], outcome: str = "complete") -> Interaction:
    timed = tuple(Event(0.5 + i / 32, name, Payload(data)) for i, (name, data) in enumerate(events))
    return Interaction(id, Request("POST", "http://127.0.0.1:1234/v1/messages", HEADERS, Payload(body)),
                       Response(0.125, 200, {"content-type": "text/event-stream"}), timed, None,
                       End(timed[-1].t + 0.0625, outcome))  # type: ignore[arg-type]


def conversation() -> Cassette:
    """A two-call agent loop: a tool call, then the answer."""
    return Cassette((
        streamed(0, QUESTION, tool_use_message("get_weather", {"location": "Paris", "unit": "celsius"},
                                               preamble="Let me check.")),
        streamed(1, ANSWERED, text_message("It is 18 degrees and cloudy.")),
    ), path="conversation.jsonl")


def changed(cassette: Cassette, index: int, edit: Any) -> Cassette:
    """A copy whose `index`-th interaction has every event's data passed through `edit(name, data)`."""
    interactions = list(cassette.interactions)
    target = interactions[index]
    events = tuple(dataclasses.replace(e, payload=Payload(edit(e.event, json.loads(json.dumps(e.data)))))
                   for e in target.events)
    interactions[index] = dataclasses.replace(target, events=events)
    return dataclasses.replace(cassette, interactions=tuple(interactions), path="changed.jsonl")


def retimed(cassette: Cassette, factor: float) -> Cassette:
    def scale(i: Interaction) -> Interaction:
        return dataclasses.replace(
            i, response=dataclasses.replace(i.response, t=i.response.t * factor),
            events=tuple(dataclasses.replace(e, t=e.t * factor) for e in i.events),
            end=dataclasses.replace(i.end, t=i.end.t * factor))
    return dataclasses.replace(cassette, interactions=tuple(map(scale, cassette)), path="retimed.jsonl")


def aspects(report: Any) -> list[tuple[int | None, str]]:
    return [(d.interaction, d.aspect) for d in report]


def test_identical_recordings_are_equivalent_with_nothing_to_say() -> None:
    report = diff(conversation(), conversation())
    assert report.equivalent and list(report) == [] and len(report) == 0


def test_retimed_copy_is_equivalent_and_timing_is_noted() -> None:
    report = diff(conversation(), retimed(conversation(), 0.5))
    assert report.equivalent
    assert aspects(report) == [(0, "timing"), (0, "timing"), (1, "timing"), (1, "timing")]
    assert str(report.timing[0]) == "#0 timing: time_to_first_token 0.594 s -> 0.297 s (-50.0%)"


def test_timing_noise_below_the_tolerance_is_not_noted() -> None:
    assert list(diff(conversation(), retimed(conversation(), 1.0001))) == []
    assert len(diff(conversation(), retimed(conversation(), 1.0001), timing_tolerance=0).timing) == 4


def test_changed_text_is_named() -> None:
    def edit(name: str, data: dict) -> dict:
        if name == "content_block_delta":
            data["delta"]["text"] = data["delta"]["text"].replace("cloudy", "sunny")
        return data
    report = diff(conversation(), changed(conversation(), 1, edit))
    assert not report.equivalent
    [difference] = report.substantive
    assert (difference.interaction, difference.aspect) == (1, "text")
    assert str(difference) == "#1 text: block 0 (text) differs from character 21: \"cloudy.\" != \"sunny.\""


def test_changed_tool_input_is_named() -> None:
    def edit(name: str, data: dict) -> dict:
        if name == "content_block_delta" and data["delta"]["type"] == "input_json_delta":
            data["delta"]["partial_json"] = data["delta"]["partial_json"].replace("Paris", "Lyon")
        return data
    report = diff(conversation(), changed(conversation(), 0, edit))
    assert [str(d) for d in report.substantive] == ['#0 tool: block 1 (get_weather) input.location: "Paris" != "Lyon"']


def test_changed_tool_name_and_stop_reason_are_named() -> None:
    def edit(name: str, data: dict) -> dict:
        if name == "content_block_start" and data["content_block"]["type"] == "tool_use":
            data["content_block"]["name"] = "get_forecast"
        if name == "message_delta":
            data["delta"]["stop_reason"] = "end_turn"
        return data
    report = diff(conversation(), changed(conversation(), 0, edit))
    assert [str(d) for d in report.substantive] == ["#0 tool: block 1 tool name get_weather != get_forecast",
                                                     "#0 stop_reason: tool_use != end_turn"]


def test_outcome_events_and_count() -> None:
    cut = conversation().interactions[1]
    broken = dataclasses.replace(cut, events=cut.events[:5],
                                 end=End(1.0, "disconnected", ErrorInfo("httpx2.RemoteProtocolError", "peer closed")))
    report = diff(conversation(), Cassette((conversation()[0], broken)))
    kinds = aspects(report.substantive)
    assert (1, "events") in kinds and (1, "text") in kinds and (1, "stop_reason") in kinds
    assert "#1 outcome: complete != disconnected (httpx2.RemoteProtocolError)" in [str(d) for d in report]
    shorter = diff(conversation(), Cassette(conversation().interactions[:1]))
    assert [str(d) for d in shorter] == ["interactions: 2 != 1 interactions"]


def test_requests_compare_body_and_meaningful_headers_only() -> None:
    def with_request(**changes: Any) -> Cassette:
        first = conversation()[0]
        request = dataclasses.replace(first.request, **changes)
        return Cassette((dataclasses.replace(first, request=request), conversation()[1]))

    volatile = {**HEADERS, "host": "localhost:9", "x-stainless-os": "MacOS", "user-agent": "other"}
    assert diff(conversation(), with_request(headers=volatile, url="http://localhost:9/v1/messages")).equivalent
    beta = diff(conversation(), with_request(headers={**HEADERS, "anthropic-beta": "x"}))
    assert [str(d) for d in beta] == ['#0 request: header anthropic-beta: (missing) != "x"']
    body = diff(conversation(), with_request(body=Payload({**QUESTION, "max_tokens": 128})))
    assert [str(d) for d in body] == ["#0 request: body.max_tokens: 64 != 128"]
    path = diff(conversation(), with_request(url="http://127.0.0.1:1234/v1/messages/count_tokens"))
    assert [str(d) for d in path] == ["#0 request: path /v1/messages != /v1/messages/count_tokens"]


def test_pings_are_ignored() -> None:
    first = conversation()[0]
    no_ping = dataclasses.replace(first, events=tuple(e for e in first.events if e.event != "ping"))
    assert diff(conversation(), Cassette((no_ping, conversation()[1]))).equivalent


# --- the `diff` command -------------------------------------------------------------------


def invoke(a: Path, b: Path) -> Result:
    group = click.Group("cassette")
    group.add_command(diff_command)
    return CliRunner().invoke(group, ["diff", str(a), str(b)])


def saved(tmp_path: Path, name: str, cassette: Cassette) -> Path:
    return recorder.save(cassette, tmp_path / name)


def test_command_itself_exit_0(tmp_path: Path) -> None:
    a = saved(tmp_path, "a.jsonl", conversation())
    result = invoke(a, a)
    assert result.exit_code == 0
    assert result.output == f"{a} and {a} are equivalent\n"


def test_command_retimed_exit_0_with_timing_notes(tmp_path: Path) -> None:
    a = saved(tmp_path, "a.jsonl", conversation())
    b = saved(tmp_path, "b.jsonl", retimed(conversation(), 2.0))
    result = invoke(a, b)
    assert result.exit_code == 0, result.output
    assert "#0 timing: time_to_first_token 0.594 s -> 1.188 s (+100.0%) (timing only)" in result.output
    assert result.output.endswith("are equivalent; 4 timing notes\n")


def test_command_different_exit_1(tmp_path: Path) -> None:
    def edit(name: str, data: dict) -> dict:
        if name == "message_delta":
            data["delta"]["stop_reason"] = "max_tokens"
        return data
    a = saved(tmp_path, "a.jsonl", conversation())
    b = saved(tmp_path, "b.jsonl", changed(conversation(), 1, edit))
    result = invoke(a, b)
    assert result.exit_code == 1
    assert result.output.splitlines() == ["#1 stop_reason: end_turn != max_tokens", f"{a} and {b} differ: 1 difference"]


@pytest.mark.parametrize("content", [None, b"garbage\n"])
def test_command_bad_input_exit_2(tmp_path: Path, content: bytes | None) -> None:
    a = saved(tmp_path, "a.jsonl", conversation())
    bad = tmp_path / "bad.jsonl"
    if content is not None:
        bad.write_bytes(content)
    result = invoke(a, bad)
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
