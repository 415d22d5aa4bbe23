"""The shipped example cassettes: labelled, secret-free, and replayable with the calls that recorded them."""

from __future__ import annotations

import importlib.util
import json
import re
import statistics
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import anthropic
import httpx2
import pytest

import recorder
from replayer import FakeAnthropic, ReplayTransport
from tests.helpers import CASSETTES


def _import_make_examples() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_examples", CASSETTES / "make_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ex = _import_make_examples()

OUTCOMES = {
    "text": ["complete"],
    "tool_use": ["complete", "complete"],
    "thinking": ["complete"],
    "overloaded": ["error_event"],
    "dropped": ["disconnected"],
}


def path_of(name: str) -> Path:
    return CASSETTES / f"{name}.jsonl"


def texts(interaction: recorder.Interaction) -> str:
    """The text the recorded stream delivered, from its text_delta events."""
    return "".join(e.data["delta"]["text"] for e in interaction.events
                   if e.event == "content_block_delta" and e.data["delta"]["type"] == "text_delta")


class Capturing(httpx2.BaseTransport):
    """Replays through `inner` and keeps each request body the SDK sent."""

    def __init__(self, inner: ReplayTransport) -> None:
        self.inner = inner
        self.bodies: list[Any] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        self.bodies.append(json.loads(request.read()))
        return self.inner.handle_request(request)


def test_every_shipped_cassette_is_an_example() -> None:
    assert sorted(p.stem for p in CASSETTES.glob("*.jsonl")) == sorted(ex.EXAMPLES) == sorted(OUTCOMES)


@pytest.mark.parametrize("name", OUTCOMES)
def test_outcomes_are_as_labelled(name: str) -> None:
    cassette = recorder.load(path_of(name))
    assert [i.outcome for i in cassette] == OUTCOMES[name]
    assert all(i.is_stream and i.response is not None and i.response.status == 200 for i in cassette)


def test_dropped_records_the_transport_error() -> None:
    (interaction,) = recorder.load(path_of("dropped"))
    assert interaction.end is not None and interaction.end.error is not None
    assert interaction.end.error.type == "httpx2.RemoteProtocolError"
    assert "message_stop" not in [e.event for e in interaction.events]


def test_overloaded_records_the_error_event() -> None:
    (interaction,) = recorder.load(path_of("overloaded"))
    last = interaction.events[-1]
    assert (last.event, last.data) == ("error", {"type": "error", "error": {"type": "overloaded_error",
                                                                           "message": "Overloaded"}})


@pytest.mark.parametrize("name", OUTCOMES)
def test_header_says_synthetic(name: str) -> None:
    header = recorder.load(path_of(name)).header
    assert "synthetic" in header["synthetic"] and "make_examples.py" in header["synthetic"]
    assert header["sdk"].startswith("anthropic ")


@pytest.mark.parametrize("path", sorted(CASSETTES.glob("*.jsonl")) + [CASSETTES / "README.md"],
                         ids=lambda p: p.name)
def test_no_api_key_on_disk(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"sk-ant-[A-Za-z0-9_\-]+", text)
    assert ex.API_KEY not in text


def test_text_pacing_is_plausible() -> None:
    (interaction,) = recorder.load(path_of("text"))
    assert 0.35 < interaction.events[0].t < 1.0
    deltas = [e.t for e in interaction.events if e.event == "content_block_delta"]
    gaps = [b - a for a, b in zip(deltas, deltas[1:])]
    assert 0.015 < statistics.median(gaps) < 0.06


def test_text_replays() -> None:
    final = ex.run_text(FakeAnthropic(path_of("text")))
    assert [b.type for b in final.content] == ["text"]
    assert final.content[0].text == ex.TEXT_ANSWER
    assert (final.id, final.model, final.stop_reason) == ("msg_synthetic_text_01", ex.MODEL, "end_turn")
    (interaction,) = recorder.load(path_of("text"))
    assert final.usage.output_tokens == interaction.events[-2].data["usage"]["output_tokens"]


def test_tool_loop_replays_in_order_with_the_same_requests() -> None:
    cassette = recorder.load(path_of("tool_use"))
    replay = ReplayTransport(cassette)
    capturing = Capturing(replay)
    client = anthropic.Anthropic(api_key="replay", http_client=httpx2.Client(transport=capturing))
    first, second = ex.run_tool_loop(client)
    assert [i.id for i in replay.calls] == [0, 1]
    assert capturing.bodies == [i.request.body.data for i in cassette]
    assert all(body["tools"] == ex.TOOLS for body in capturing.bodies)

    assert first.stop_reason == "tool_use"
    preamble, tool = first.content
    assert preamble.text == ex.WEATHER_PREAMBLE
    assert (tool.type, tool.name, tool.input) == ("tool_use", "get_weather", ex.WEATHER_INPUT)
    result = capturing.bodies[1]["messages"][-1]["content"][0]
    assert (result["type"], result["tool_use_id"]) == ("tool_result", tool.id)

    assert second.stop_reason == "end_turn"
    assert [b.text for b in second.content] == [ex.WEATHER_ANSWER]


def test_thinking_replays() -> None:
    final = ex.run_thinking(FakeAnthropic(path_of("thinking")))
    thinking, text = final.content
    assert (thinking.type, thinking.thinking, thinking.signature) == ("thinking", ex.THINKING, ex.SIGNATURE)
    assert (text.type, text.text) == ("text", ex.THINKING_ANSWER)
    assert final.stop_reason == "end_turn"
    body = recorder.load(path_of("thinking"))[0].request.body.data
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_overloaded_replays() -> None:
    (interaction,) = recorder.load(path_of("overloaded"))
    text, error = ex.run_overloaded(FakeAnthropic(path_of("overloaded")))
    # anthropic 2.14 picks the error class from the HTTP status, which is 200 for an in-stream
    # error event: a plain APIStatusError, not OverloadedError (that is the 529 response).
    assert type(error) is anthropic.APIStatusError and error.status_code == 200
    assert error.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert text == texts(interaction) and text and ex.OVERLOADED_TEXT.startswith(text)


def test_dropped_replays() -> None:
    (interaction,) = recorder.load(path_of("dropped"))
    text, error = ex.run_dropped(FakeAnthropic(path_of("dropped")))
    assert type(error) is httpx2.RemoteProtocolError
    assert interaction.end is not None and interaction.end.error is not None
    assert str(error) == interaction.end.error.message
    assert text == texts(interaction) and text and ex.DROPPED_TEXT.startswith(text) and text != ex.DROPPED_TEXT
