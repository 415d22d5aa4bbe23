"""Replay cassettes through the real anthropic SDK: instantly, at the recorded pace, or faster."""

from ._client import FakeAnthropic, FakeAsyncAnthropic, transport_of
from ._errors import NoMatchError, ReplayError
from ._match import DEFAULT_MATCH_ON, Playback
from ._replay import replay
from ._timing import Clock, Pacer, RealClock, VirtualClock
from . import faults
from ._script import Pause, Script
from ._transport import ReplayStream, ReplayTransport
from ._upstream import Chunk, Reply, ScriptedUpstream

__all__ = [
    "DEFAULT_MATCH_ON",
    "Chunk",
    "Clock",
    "FakeAnthropic",
    "FakeAsyncAnthropic",
    "NoMatchError",
    "Pacer",
    "Pause",
    "Playback",
    "RealClock",
    "ReplayError",
    "ReplayStream",
    "ReplayTransport",
    "Reply",
    "Script",
    "ScriptedUpstream",
    "VirtualClock",
    "faults",
    "replay",
    "transport_of",
]
