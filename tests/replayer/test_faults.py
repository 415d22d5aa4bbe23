"""Faults: specs, determinism, and what the SDK raises compared with the same failure on a real socket."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest

import recorder
import replayer
from replayer import Chunk, Reply, ScriptedUpstream, VirtualClock, faults
from replayer.fuzzing._synthetic import sse_bytes, text_message
from tests.helpers import BODY, run

EVENTS = text_message("alpha beta gamma delta epsilon zeta eta theta", pieces=8)  # 14 wire events
FAST_429 = {"retry-after": "0.001"}


@pytest.fixture(scope="module")
def cassette(tmp_path_factory: pytest.TempPathFactory) -> recorder.Cassette:
    """EVENTS recorded through the real recorder from a real socket."""
    path = tmp_path_factory.mktemp("faults") / "text.jsonl"
    with ScriptedUpstream([Reply(chunks=tuple(Chunk(sse_bytes([e])) for e in EVENTS))]) as upstream:
        with recorder.record(path):
            for _ in anthropic.Anthropic(api_key="k", base_url=upstream.base_url).messages.create(**BODY, stream=True):
                pass
    return recorder.load(path)


def consume(client: anthropic.Anthropic, how: str = "stream") -> dict[str, Any]:
    """What the app observes: text that arrived, the error (class, message), where it was raised."""
    seen: dict[str, Any] = {"text": "", "error": None, "where": None, "final": None}
    where = "request"
    try:
        if how == "stream":
            with client.messages.stream(**BODY) as stream:
                where = "iteration"
                for text in stream.text_stream:
                    seen["text"] += text
                where = "final"
                seen["final"] = stream.get_final_message()
        else:
            events = client.messages.create(**BODY, stream=True)
            where = "iteration"
            for event in events:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    seen["text"] += event.delta.text
    except Exception as exc:
        seen["error"], seen["where"] = (type(exc), str(exc)), where
    return seen


def text_of(events: list) -> str:
    return "".join(d["delta"]["text"] for name, d in events if name == "content_block_delta")


# --- specs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "expected"), [
    ("529x2", faults.Status(status=529, calls=(0, 2))),
    ("429x3", faults.Status(status=429, retry_after=1.0, calls=(0, 3))),
    ("500x1", faults.Status(status=500, calls=(0, 1))),
    ("drop@events=5", faults.drop(events=5)),
    ("truncate@events=6", faults.truncate(events=6)),
    ("stall@events=3:2s", faults.stall(2.0, events=3)),
    ("stall@t=1.5:250ms:drop", faults.stall(0.25, t=1.5, then="drop")),
    ("error@events=4:overloaded_error", faults.error_event("overloaded_error", events=4)),
    ("timeout@events=5", faults.read_timeout(events=5)),
    ("timeout", faults.read_timeout()),
    ("connect-error", faults.connect_error()),
    ("read-error@bytes=100", faults.read_error(bytes=100)),
    ("malformed@events=2", faults.malformed(events=2)),
    ("drop@p=0.25&seed=7", faults.drop(p=0.25, seed=7)),
    ("529,drop@events=5,ok", faults.sequence(faults.overloaded(), faults.drop(events=5), None)),
    ("529x2,ok,429", faults.sequence((faults.overloaded(), 2), None, faults.rate_limited())),
])
def test_specs_parse_to_the_same_faults_as_the_constructors(spec: str, expected: Any) -> None:
    assert faults.parse(spec) == expected


@pytest.mark.parametrize(("spec", "problem"), [
    ("boom", "unknown fault 'boom'"),
    ("drop", "needs a trigger"),
    ("drop@events=x", "bad trigger 'events=x'"),
    ("drop@events=1.5", "whole number"),
    ("529@events=3", "takes no '@' trigger"),
    ("stall@events=3", "stall takes a duration"),
    ("stall@events=3:soon", "bad duration 'soon'"),
    ("529x0", "x0 would never fire"),
    ("700", "400-599"),
    ("drop@p=2", "out of range"),
    ("", "empty fault spec"),
    ("529,,ok", "empty fault spec"),
    ("truncate@events=1:now", "takes no ':' argument"),
])
def test_bad_specs_are_rejected_with_one_clear_error(spec: str, problem: str) -> None:
    with pytest.raises(faults.FaultError, match=problem):
        faults.parse(spec)


def test_impossible_trigger_is_rejected_up_front(cassette: recorder.Cassette) -> None:
    with pytest.raises(faults.FaultError, match="drop@events=50 can never fire: the longest recorded stream .* has 14 events"):
        replayer.FakeAnthropic(cassette, faults=["drop@events=50"])


# --- before the response ----------------------------------------------------------------------------


def test_529x2_then_the_recording_counts_calls(cassette: recorder.Cassette) -> None:
    client = replayer.FakeAnthropic(cassette, faults=[faults.status(529, retry_after=0.001, times=2)])
    seen = consume(client)
    assert seen["error"] is None and seen["text"] == text_of(EVENTS)
    transport = replayer.transport_of(client)
    assert transport.requests == 3 and len(transport.calls) == 1


@pytest.mark.parametrize(("fault", "error"), [
    (faults.status(529, retry_after=0.001), anthropic.OverloadedError),
    (faults.rate_limited(retry_after=0.001), anthropic.RateLimitError),
    (faults.status(500, retry_after=0.001), anthropic.InternalServerError),
    (faults.connect_error(), anthropic.APIConnectionError),
    (faults.connect_timeout(), anthropic.APITimeoutError),
])
def test_failures_before_the_stream_are_retried_then_raised(cassette: recorder.Cassette, fault: Any,
                                                            error: type) -> None:
    client = replayer.FakeAnthropic(cassette, faults=[fault], max_retries=2)
    seen = consume(client)
    assert seen["error"][0] is error and seen["where"] == "request" and seen["text"] == ""
    assert replayer.transport_of(client).requests == 3


def test_status_faults_match_a_real_server(cassette: recorder.Cassette) -> None:
    body = {"type": "error", "error": {"type": "rate_limit_error", "message": "x"}}
    with ScriptedUpstream([Reply.json(429, body, headers=tuple(FAST_429.items()))] * 3) as upstream:
        real = consume(anthropic.Anthropic(api_key="k", base_url=upstream.base_url))
        real_calls = len(upstream.requests)
    client = replayer.FakeAnthropic(cassette, faults=[faults.status(429, message="x", retry_after=0.001)])
    fake = consume(client)
    assert fake["error"][0] is real["error"][0] is anthropic.RateLimitError
    assert replayer.transport_of(client).requests == real_calls == 3


# --- mid-stream: compared with a real socket -------------------------------------------------------------


@pytest.mark.parametrize("how", ["stream", "create"])
@pytest.mark.parametrize("n", [0, 1, 5, 13, 14])
def test_drop_looks_exactly_like_a_real_server_dying(cassette: recorder.Cassette, n: int, how: str) -> None:
    with ScriptedUpstream([Reply(chunks=tuple(Chunk(sse_bytes([e])) for e in EVENTS[:n]),
                                 ending="abort")]) as upstream:
        real = consume(anthropic.Anthropic(api_key="k", base_url=upstream.base_url), how)
        real_calls = len(upstream.requests)
    client = replayer.FakeAnthropic(cassette, faults=[f"drop@events={n}"])
    fake = consume(client, how)
    assert fake == real
    assert fake["error"][0] is httpx2.RemoteProtocolError  # raw: `except anthropic.APIConnectionError` misses it
    assert replayer.transport_of(client).requests == real_calls == 1


def test_read_timeout_looks_like_a_real_silent_server(cassette: recorder.Cassette) -> None:
    with ScriptedUpstream([Reply(chunks=tuple(Chunk(sse_bytes([e])) for e in EVENTS[:5]),
                                 ending="stall")]) as upstream:
        real = consume(anthropic.Anthropic(api_key="k", base_url=upstream.base_url, timeout=0.3))
    clock = VirtualClock()
    fake = consume(replayer.FakeAnthropic(cassette, faults=["timeout@events=5"], clock=clock, timeout=30.0))
    assert fake == real
    assert fake["error"][0] is httpx2.ReadTimeout
    assert clock.now() == 30.0  # waited the client's read timeout, on the virtual clock


def test_truncation_ends_silently_with_no_stop_reason(cassette: recorder.Cassette) -> None:
    with ScriptedUpstream([Reply(chunks=tuple(Chunk(sse_bytes([e])) for e in EVENTS[:6]))]) as upstream:
        real = consume(anthropic.Anthropic(api_key="k", base_url=upstream.base_url))
    fake = consume(replayer.FakeAnthropic(cassette, faults=["truncate@events=6"]))
    assert fake["error"] is real["error"] is None
    assert fake["final"].to_dict() == real["final"].to_dict()
    assert fake["final"].stop_reason is None


def test_error_event_mid_stream(cassette: recorder.Cassette) -> None:
    seen = consume(replayer.FakeAnthropic(cassette, faults=["error@events=6:overloaded_error"]))
    assert seen["error"][0] is anthropic.APIStatusError  # status 200: not OverloadedError
    assert "overloaded_error" in seen["error"][1]
    assert seen["text"] == text_of(EVENTS[:6])


def test_malformed_chunk(cassette: recorder.Cassette) -> None:
    seen = consume(replayer.FakeAnthropic(cassette, faults=["malformed@events=5"]))
    assert seen["where"] == "iteration" and issubclass(seen["error"][0], ValueError)
    assert seen["text"] == text_of(EVENTS[:5])


def test_bytes_trigger_cuts_inside_an_event(cassette: recorder.Cassette) -> None:
    wire = sse_bytes(EVENTS)
    cut = len(sse_bytes(EVENTS[:7])) + 10
    with ScriptedUpstream([Reply(chunks=(Chunk(wire[:cut]),), ending="abort")]) as upstream:
        real = consume(anthropic.Anthropic(api_key="k", base_url=upstream.base_url))
    assert consume(replayer.FakeAnthropic(cassette, faults=[f"drop@bytes={cut}"])) == real


# --- timing ----------------------------------------------------------------------------------------------


def test_long_stall_costs_no_wall_time_under_the_virtual_clock(cassette: recorder.Cassette) -> None:
    clock = VirtualClock()
    started = time.monotonic()
    seen = consume(replayer.FakeAnthropic(cassette, faults=["stall@events=3:30s"], clock=clock, speed=1.0))
    assert seen["error"] is None and seen["text"] == text_of(EVENTS)
    assert clock.now() == pytest.approx(cassette[0].events[-1].t + 30.0)
    assert time.monotonic() - started < 5


def test_stall_longer_than_the_read_timeout_raises_read_timeout(cassette: recorder.Cassette) -> None:
    clock = VirtualClock()
    seen = consume(replayer.FakeAnthropic(cassette, faults=["stall@events=3:120s"], clock=clock, timeout=60.0))
    assert seen["error"][0] is httpx2.ReadTimeout
    assert clock.now() == 60.0


def test_stall_then_drop(cassette: recorder.Cassette) -> None:
    clock = VirtualClock()
    seen = consume(replayer.FakeAnthropic(cassette, faults=["stall@events=4:5s:drop"], clock=clock))
    assert seen["error"][0] is httpx2.RemoteProtocolError and clock.now() == 5.0


def test_t_trigger_uses_recorded_offsets(cassette: recorder.Cassette) -> None:
    t = cassette[0].events[8].t
    seen = consume(replayer.FakeAnthropic(cassette, faults=[faults.truncate(t=t)]))
    delivered = [name for name, _ in EVENTS[:9]]
    assert seen["text"] == text_of([e for e in EVENTS[: len(delivered)]])


# --- scenarios and determinism --------------------------------------------------------------------------


def test_drop_then_succeed_scenario_for_resume_logic(cassette: recorder.Cassette) -> None:
    client = replayer.FakeAnthropic(cassette, faults=["drop@events=5,ok"])
    first, second = consume(client), consume(client)
    assert first["error"][0] is httpx2.RemoteProtocolError and first["text"] == text_of(EVENTS[:5])
    assert second["error"] is None and second["text"] == text_of(EVENTS)


def test_probability_trigger_is_seeded_and_reproducible(tmp_path: Path, cassette: recorder.Cassette) -> None:
    many = recorder.Cassette(tuple(recorder.Interaction(i, c.request, c.response, c.events, None, c.end)
                                   for i, c in enumerate([cassette[0]] * 40)))

    def outcomes(seed: int) -> list[str]:
        client = replayer.FakeAnthropic(many, faults=[faults.drop(p=0.1, seed=seed)])
        return [consume(client)["text"] for _ in range(40)]

    assert outcomes(3) == outcomes(3)
    assert outcomes(3) != outcomes(4)
    dropped = sum(text != text_of(EVENTS) for text in outcomes(3))
    assert 0 < dropped < 40


def test_async_clients_see_the_same_faults(cassette: recorder.Cassette) -> None:
    async def consume_async(spec: str) -> tuple[str, type | None]:
        client = replayer.FakeAsyncAnthropic(cassette, faults=[spec], clock=VirtualClock())
        text = ""
        try:
            async with client.messages.stream(**BODY) as stream:
                async for piece in stream.text_stream:
                    text += piece
        except Exception as exc:
            return text, type(exc)
        return text, None

    for spec in ["drop@events=5", "timeout@events=5", "stall@events=5:3s", "error@events=5:api_error",
                 "truncate@events=5"]:
        sync = consume(replayer.FakeAnthropic(cassette, faults=[spec], clock=VirtualClock()))
        assert run(consume_async(spec)) == (sync["text"], sync["error"] and sync["error"][0]), spec


def test_replay_context_manager_takes_faults(cassette: recorder.Cassette) -> None:
    with replayer.replay(cassette, faults=["drop@events=2"]):
        seen = consume(anthropic.Anthropic(api_key="k"))
    assert seen["error"][0] is httpx2.RemoteProtocolError


# --- real failures, recorded then replayed ---------------------------------------------------------------


def test_real_upstream_failures_are_recorded_and_replay_the_same(tmp_path: Path) -> None:
    """429 then 529 (retried by the SDK), then a stream that stalls past the client's read timeout."""
    path = tmp_path / "failures.jsonl"
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    replies = [Reply.json(429, {**error, "error": {"type": "rate_limit_error", "message": "slow"}},
                          headers=tuple(FAST_429.items())),
               Reply.json(529, error, headers=tuple(FAST_429.items())),
               Reply(chunks=tuple(Chunk(sse_bytes([e])) for e in EVENTS[:7]), ending="stall")]
    with ScriptedUpstream(replies) as upstream, recorder.record(path):
        live = consume(anthropic.Anthropic(api_key="k", base_url=upstream.base_url, timeout=0.5))
    assert live["error"][0] is httpx2.ReadTimeout
    cassette = recorder.load(path)
    assert [(i.response.status, i.outcome) for i in cassette] == [(429, "complete"), (529, "complete"),
                                                                  (200, "disconnected")]
    assert cassette[2].end.error.type == "httpx2.ReadTimeout"
    assert cassette[2].end.t - cassette[2].events[-1].t >= 0.4  # the silence is in the recording

    clock = VirtualClock()
    client = replayer.FakeAnthropic(path, speed=1.0, clock=clock, timeout=0.5)
    replayed = consume(client)
    assert replayed == live
    assert replayer.transport_of(client).requests == 3
