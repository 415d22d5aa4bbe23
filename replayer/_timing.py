"""Clocks and pacing: when each recorded byte is due during replay."""

from __future__ import annotations

import time
from typing import Protocol

import anyio


class Clock(Protocol):
    """Where replay reads the time and waits."""

    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    def sleep_until(self, deadline: float) -> None:
        """Block until `now() >= deadline`."""
        ...

    async def asleep_until(self, deadline: float) -> None:
        """Wait, without blocking the event loop, until `now() >= deadline`."""
        ...


class RealClock:
    """The monotonic wall clock."""

    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    async def asleep_until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        if delay > 0:
            await anyio.sleep(delay)


class VirtualClock:
    """A clock that jumps instead of sleeping: replay at `speed=1.0` in no wall time.

    Waiting moves the clock forward to the deadline, so code that reads `clock.now()` while
    consuming a stream observes the recorded offsets exactly.

    >>> clock = VirtualClock()
    >>> client = FakeAnthropic("chat.jsonl", speed=1.0, clock=clock)
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds`."""
        self._now += max(0.0, seconds)

    def sleep(self, seconds: float) -> None:
        """A drop-in for `time.sleep` in code under test (e.g. a backoff): advances the clock."""
        self.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        """A drop-in for `asyncio.sleep`: advances the clock and yields to the event loop."""
        self.advance(seconds)
        await anyio.lowlevel.checkpoint()

    def sleep_until(self, deadline: float) -> None:
        self._now = max(self._now, deadline)

    async def asleep_until(self, deadline: float) -> None:
        self._now = max(self._now, deadline)
        await anyio.lowlevel.checkpoint()


def checked_speed(speed: float | None) -> float | None:
    """`speed` itself when valid: None (instant) or a positive number; ValueError otherwise."""
    if speed is not None and not speed > 0:
        raise ValueError(f"speed must be a positive number (or None for instant replay), got {speed!r}")
    return speed


class Pacer:
    """Absolute deadlines from one origin, so rounding and scheduling error never accumulate."""

    def __init__(self, clock: Clock, speed: float) -> None:
        if checked_speed(speed) is None:
            raise ValueError("a Pacer needs a speed; instant replay has no pacer")
        self.clock = clock
        self.speed = speed
        self.origin = clock.now()

    def wait(self, t: float) -> None:
        """Block until recorded offset `t` is due."""
        self.clock.sleep_until(self.origin + t / self.speed)

    async def await_(self, t: float) -> None:
        """Wait until recorded offset `t` is due."""
        await self.clock.asleep_until(self.origin + t / self.speed)
