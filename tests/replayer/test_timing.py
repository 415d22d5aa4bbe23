"""Pacing: absolute deadlines, a virtual clock that observes recorded offsets in no wall time."""

from __future__ import annotations

import time
from pathlib import Path

import httpx2
import pytest

import recorder
import replayer
from replayer import VirtualClock
from replayer.fuzzing._synthetic import text_message
from tests.helpers import BODY, run

EVENTS = text_message("one two three four five six seven eight", pieces=8)


def paced_cassette(path: Path, gap: float = 0.5, first: float = 2.0) -> recorder.Cassette:
    events = tuple(recorder.Event(first + i * gap, name, recorder.Payload(data)) for i, (name, data) in enumerate(EVENTS))
    interaction = recorder.Interaction(
        0, recorder.Request("POST", "https://api.anthropic.com/v1/messages", {}, recorder.Payload({**BODY, "stream": True})),
        recorder.Response(first * 0.75, 200, {"content-type": "text/event-stream"}), events, None,
        recorder.End(events[-1].t + 0.1, "complete"))
    recorder.save(recorder.Cassette((interaction,)), path)
    return recorder.load(path)


def offsets(cassette: recorder.Cassette, speed: float = 1.0) -> list[float]:
    """When each event the SDK yields is due (it swallows pings)."""
    return [round(e.t / speed, 9) for e in cassette[0].events if e.event != "ping"]


def arrivals(client, clock: VirtualClock) -> list[float]:  # type: ignore[no-untyped-def]
    start = clock.now()
    return [round(clock.now() - start, 9) for _ in client.messages.create(**BODY, stream=True)]


@pytest.mark.parametrize("speed", [1.0, 4.0, 0.5])
def test_virtual_clock_sees_recorded_offsets_scaled_by_speed(tmp_path: Path, speed: float) -> None:
    cassette = paced_cassette(tmp_path / "c.jsonl")
    clock = VirtualClock()
    wall = time.monotonic()
    seen = arrivals(replayer.FakeAnthropic(cassette, speed=speed, clock=clock), clock)
    assert seen == offsets(cassette, speed)
    assert time.monotonic() - wall < 2.0  # a 5.6 s recording, replayed without sleeping


def test_virtual_clock_async(tmp_path: Path) -> None:
    cassette = paced_cassette(tmp_path / "c.jsonl")
    clock = VirtualClock(start=100.0)

    async def consume() -> list[float]:
        client = replayer.FakeAsyncAnthropic(cassette, speed=1.0, clock=clock)
        return [clock.now() - 100.0 async for _ in await client.messages.create(**BODY, stream=True)]

    assert run(consume()) == pytest.approx(offsets(cassette))


def test_instant_replay_does_not_touch_the_clock(tmp_path: Path) -> None:
    clock = VirtualClock()
    arrivals(replayer.FakeAnthropic(paced_cassette(tmp_path / "c.jsonl"), clock=clock), clock)
    assert clock.now() == 0.0


def test_real_clock_paces_without_drift(tmp_path: Path) -> None:
    cassette = paced_cassette(tmp_path / "c.jsonl", gap=0.02, first=0.05)
    client = replayer.FakeAnthropic(cassette, speed=1.0)
    start = time.monotonic()
    seen = [time.monotonic() - start for _ in client.messages.create(**BODY, stream=True)]
    expected = offsets(cassette)
    # Never early. How late is measured in benchmarks/bench_pacing.py, not asserted on a shared machine.
    assert all(s >= e - 1e-3 for s, e in zip(seen, expected, strict=True))


def test_speed_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="speed must be a positive number"):
        replayer.FakeAnthropic(paced_cassette(tmp_path / "c.jsonl"), speed=0)


def test_recorded_drop_is_raised_at_its_recorded_time(tmp_path: Path) -> None:
    cassette = paced_cassette(tmp_path / "c.jsonl")
    interaction = cassette[0]
    broken = recorder.Interaction(0, interaction.request, interaction.response, interaction.events[:3], None,
                                  recorder.End(9.0, "disconnected", recorder.ErrorInfo("httpx2.ReadError", "gone")))
    clock = VirtualClock()
    client = replayer.FakeAnthropic(recorder.Cassette((broken,)), speed=1.0, clock=clock)
    with pytest.raises(httpx2.ReadError, match="gone"):
        for _ in client.messages.create(**BODY, stream=True):
            pass
    assert clock.now() == 9.0
