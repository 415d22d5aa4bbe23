"""The README's worked example: testing retry and resume wrappers with fault scenarios, in no wall time."""

from __future__ import annotations

import time

import anthropic
import httpx2
import pytest

import replayer
from examples.resilience import stream_text, with_backoff
from replayer import VirtualClock
from tests.helpers import ROOT

CASSETTE = ROOT / "cassettes" / "text.jsonl"


def request() -> dict:
    import recorder

    body = dict(recorder.load(CASSETTE)[0].request.body.data)
    body.pop("stream")
    return body


def full_text() -> str:
    with replayer.FakeAnthropic(CASSETTE).messages.stream(**request()) as stream:
        return stream.get_final_text()


def test_backoff_survives_two_overloads_with_growing_waits() -> None:
    clock = VirtualClock()
    client = replayer.FakeAnthropic(CASSETTE, faults=["529x2"], max_retries=0)
    started = time.monotonic()
    events = with_backoff(lambda: list(client.messages.create(**request(), stream=True)), sleep=clock.sleep)
    assert events[-1].type == "message_stop"
    assert replayer.transport_of(client).requests == 3
    assert clock.now() == 1.0 + 2.0  # waited 1 s, then 2 s, on the virtual clock
    assert time.monotonic() - started < 5


def test_backoff_honours_retry_after_and_gives_up() -> None:
    clock = VirtualClock()
    client = replayer.FakeAnthropic(CASSETTE, faults=["429x9"], max_retries=0)
    with pytest.raises(anthropic.RateLimitError):
        with_backoff(lambda: client.messages.create(**request(), stream=True), attempts=3, sleep=clock.sleep)
    assert clock.now() == 2.0  # retry-after: 1 s, twice
    assert replayer.transport_of(client).requests == 3


def test_resume_after_a_drop_delivers_every_character_once() -> None:
    clock = VirtualClock()
    client = replayer.FakeAnthropic(CASSETTE, faults=["drop@events=12,ok"], speed=1.0, clock=clock)
    pieces: list[str] = []
    text = stream_text(client, pieces.append, sleep=clock.sleep, **request())
    assert text == "".join(pieces) == full_text()
    assert replayer.transport_of(client).requests == 2


def test_resume_also_catches_a_silent_truncation() -> None:
    client = replayer.FakeAnthropic(CASSETTE, faults=["truncate@events=20,ok"])
    assert stream_text(client, lambda _: None, sleep=VirtualClock().sleep, **request()) == full_text()


def test_resume_gives_up_when_every_attempt_drops() -> None:
    client = replayer.FakeAnthropic(CASSETTE, faults=["drop@events=12"])
    with pytest.raises(httpx2.RemoteProtocolError):
        stream_text(client, lambda _: None, attempts=3, sleep=VirtualClock().sleep, **request())
    assert replayer.transport_of(client).requests == 3
