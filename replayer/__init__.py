"""Replay cassettes through the real anthropic SDK: instantly, at the recorded pace, or faster."""

from ._diff import Diff, Difference, diff
from ._client import FakeAnthropic, FakeAsyncAnthropic, transport_of
from ._errors import NoMatchError, ReplayError
from ._match import DEFAULT_MATCH_ON, Playback
from ._replay import replay
from ._plot import plot_latency, plot_timeline
from ._stats import InteractionStats, aggregate, stats
from ._timing import Clock, Pacer, RealClock, VirtualClock
from . import faults
from ._script import Pause, Script
from ._server import serve
from ._transport import ReplayStream, ReplayTransport
from ._upstream import Chunk, Reply, ScriptedUpstream

__all__ = [
    "DEFAULT_MATCH_ON",
    "Chunk",
    "Clock",
    "Diff",
    "Difference",
    "FakeAnthropic",
    "FakeAsyncAnthropic",
    "InteractionStats",
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
    "aggregate",
    "diff",
    "faults",
    "plot_latency",
    "plot_timeline",
    "replay",
    "serve",
    "stats",
    "transport_of",
]
