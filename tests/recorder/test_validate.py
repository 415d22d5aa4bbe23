"""Protocol checks of recorder.problems: where the problem is, and what was expected."""

from __future__ import annotations

from typing import Any

import pytest

import recorder
from recorder import Body, Cassette, End, Event, Interaction, Payload, Request, Response
from replayer.fuzzing._synthetic import error_event, text_message, thinking_message, tool_use_message

SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}
REQUEST = Request("POST", "https://api.anthropic.com/v1/messages", {}, Payload({"model": "m", "stream": True}))


def stream(events: list[tuple[str, Any]], *, outcome: str = "complete", times: list[float] | None = None,
           id: int = 0, end_t: float | None = None) -> Cassette:
    """A one-interaction streaming cassette of `events` (name, data), at `times` (default 0.1 s apart)."""
    times = times if times is not None else [round(0.1 * (i + 1), 3) for i in range(len(events))]
    parsed = tuple(Event(t, name, Payload(data) if not isinstance(data, str) else Payload(raw=data))
                   for t, (name, data) in zip(times, events))
    last = end_t if end_t is not None else (times[-1] if times else 0.0)
    end = End(last, outcome)  # type: ignore[arg-type]
    interaction = Interaction(id, REQUEST, Response(0.05, 200, SSE), parsed, end=end)
    return Cassette((interaction,))


@pytest.mark.parametrize("events", [
    text_message("Hello there, world"),
    tool_use_message("get_weather", {"city": "Paris"}, preamble="Checking."),
    thinking_message("Let me think.", "42."),
], ids=["text", "tool_use", "thinking"])
def test_protocol_valid_streams_have_no_problems(events: list[tuple[str, Any]]) -> None:
    assert recorder.problems(stream(events)) == []


def test_is_exported() -> None:
    assert "problems" in recorder.__all__ and recorder.problems is recorder._validate.problems


def test_complete_stream_must_start_with_message_start() -> None:
    events = text_message("Hi")[1:]
    assert recorder.problems(stream(events)) == [
        "interaction 0: event 0 (content_block_start): a complete stream must start with message_start"]


def test_complete_stream_must_end_with_message_stop() -> None:
    events = text_message("Hi")[:-1]
    last = len(events) - 1
    assert recorder.problems(stream(events)) == [
        f"interaction 0: event {last} (message_delta): a complete stream must end with message_stop"]


def test_complete_stream_without_any_message_event() -> None:
    (problem,) = recorder.problems(stream([("ping", {"type": "ping"})]))
    assert "no message events; expected message_start ... message_stop" in problem


def test_truncated_and_error_streams_need_not_be_framed() -> None:
    assert recorder.problems(stream(text_message("Hi there")[:4], outcome="truncated")) == []
    assert recorder.problems(stream(text_message("Hi there")[:4] + [error_event()], outcome="error_event")) == []


def test_pings_and_unknown_events_may_come_first_and_last() -> None:
    # The SDK skips them (anthropic/_streaming.py), so they do not break the framing.
    events = [("ping", {"type": "ping"}), *text_message("Hi"), ("future_event", {"type": "future_event"})]
    assert recorder.problems(stream(events)) == []


def test_delta_for_a_block_never_started() -> None:
    events = text_message("Hi")
    events.insert(3, ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                              "delta": {"type": "text_delta", "text": "x"}}))
    assert recorder.problems(stream(events)) == [
        "interaction 0: event 3 (content_block_delta): index 1 was never started; "
        "expected a content_block_start with index 1 first"]


def test_delta_and_stop_after_the_block_stopped() -> None:
    events = text_message("Hi", pieces=1, ping=False)
    # message_start, block_start, delta, block_stop, message_delta, message_stop
    events[4:4] = [events[2], events[3]]
    assert recorder.problems(stream(events)) == [
        "interaction 0: event 4 (content_block_delta): index 0 was already stopped; "
        "expected no content_block_delta after its content_block_stop",
        "interaction 0: event 5 (content_block_stop): index 0 was already stopped; "
        "expected no content_block_stop after its content_block_stop",
    ]


def test_blocks_must_start_in_order() -> None:
    events = text_message("Hi", pieces=1, ping=False)
    events[1] = ("content_block_start", {**events[1][1], "index": 1})
    found = recorder.problems(stream(events))
    assert found[0] == ("interaction 0: event 1 (content_block_start): index 1 out of order; "
                        "expected the next block index, 0")


def test_missing_or_bad_index() -> None:
    events = text_message("Hi", pieces=1, ping=False)
    events[2] = ("content_block_delta", {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "x"}})
    assert recorder.problems(stream(events)) == [
        "interaction 0: event 2 (content_block_delta): expected an integer 'index', got None"]


def test_payload_type_must_match_the_event_name() -> None:
    events = text_message("Hi", pieces=1, ping=False)
    events[4] = ("message_delta", {**events[4][1], "type": "message_stop"})
    (problem,) = recorder.problems(stream(events))
    assert problem.startswith("interaction 0: event 4 (message_delta): payload type 'message_stop' differs")


def test_non_json_payload_of_a_message_event() -> None:
    events: list[tuple[str, Any]] = text_message("Hi", pieces=1, ping=False)
    events[2] = ("content_block_delta", "{not json")
    (problem,) = recorder.problems(stream(events))
    assert problem.startswith("interaction 0: event 2 (content_block_delta): expected a JSON object payload")


def test_time_must_not_go_backwards() -> None:
    events = text_message("Hi", pieces=1, ping=False)
    assert recorder.problems(stream(events, times=[0.1, 0.2, 0.15, 0.3, 0.4, 0.5])) == [
        "interaction 0: event 2 (content_block_delta): t=0.15 goes back in time; "
        "expected t >= 0.2 (the t of event 1 (content_block_start))"]


def test_end_before_the_last_event() -> None:
    events = text_message("Hi", pieces=1, ping=False)
    (problem,) = recorder.problems(stream(events, end_t=0.3))
    assert problem == ("interaction 0: the end: t=0.3 goes back in time; "
                       "expected t >= 0.6 (the t of event 5 (message_stop))")


def test_first_event_before_the_response() -> None:
    (problem,) = recorder.problems(stream(text_message("Hi"), times=[0.01 * (i + 1) for i in range(9)]))
    assert problem.startswith("interaction 0: event 0 (message_start): t=0.01 goes back in time")


def test_non_streaming_complete_needs_a_body() -> None:
    without = Interaction(3, REQUEST, Response(0.1, 200, JSON), end=End(0.2, "complete"))
    with_body = Interaction(4, REQUEST, Response(0.1, 200, JSON), body=Body(0.2, Payload({"type": "message"})),
                            end=End(0.2, "complete"))
    cut = Interaction(5, REQUEST, Response(0.1, 200, JSON), end=End(0.2, "disconnected"))
    assert recorder.problems(Cassette((without, with_body, cut))) == [
        "interaction 3: non-streaming response marked complete has no body; expected a 'body' line before the end"]


def test_complete_without_a_response() -> None:
    interaction = Interaction(0, REQUEST, None, end=End(0.2, "complete"))
    (problem,) = recorder.problems(Cassette((interaction,)))
    assert "no response line" in problem


def test_problems_name_the_interaction_id() -> None:
    good = stream(text_message("Hi"))[0]
    bad = stream(text_message("Hi")[1:], id=7)[0]
    (problem,) = recorder.problems(Cassette((good, bad)))
    assert problem.startswith("interaction 7: event 0")


def test_imported_and_incomplete_interactions() -> None:
    imported = recorder.import_sse(b"".join(f"event: {n}\ndata: {{}}\n\n".encode() for n in ("ping",)))
    assert recorder.problems(imported) == []  # truncated: nothing to frame
    killed = Interaction(0, REQUEST, Response(0.1, 200, SSE), tuple(stream(text_message("Hi")[:3])[0].events))
    assert killed.outcome == "incomplete" and recorder.problems(Cassette((killed,))) == []
