"""Replay cassettes through the real anthropic SDK: instantly, at the recorded pace, or faster."""

import sys as _sys

# Before anything imports vcrpy: pytest-recording asks pytest to assertion-rewrite
# vcr.matchers, and warns (an error under -W error) if our pytest plugin, loaded first,
# already imported it. Registering here makes the import go through pytest's rewriter.
# Only under pytest: the CLI and applications need not pay for importing it.
if "pytest" in _sys.modules:
    _sys.modules["pytest"].register_assert_rewrite("vcr.matchers")

from . import faults
from ._chunking import Chunking
from ._client import FakeAnthropic, FakeAsyncAnthropic, transport_of
from ._errors import NoMatchError, ReplayError
from ._match import DEFAULT_MATCH_ON, Playback
from ._replay import replay
from ._script import Pause, Script
from ._timing import Clock, Pacer, RealClock, VirtualClock
from ._transport import ReplayStream, ReplayTransport
from ._vcr import export_vcr, import_vcr
from .analysis import Diff, Difference, InteractionStats, aggregate, diff, plot_latency, plot_timeline, stats
from .server import Chunk, Reply, ScriptedUpstream, serve

__all__ = [
    "DEFAULT_MATCH_ON",
    "CaseResult",
    "Chunk",
    "Chunking",
    "Clock",
    "Diff",
    "Difference",
    "FakeAnthropic",
    "FakeAsyncAnthropic",
    "FuzzResult",
    "GradeResult",
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
    "export_vcr",
    "faults",
    "fuzz",
    "grade",
    "import_vcr",
    "plot_latency",
    "plot_timeline",
    "replay",
    "serve",
    "stats",
    "transport_of",
]


def __getattr__(name: str) -> object:
    """`fuzz`, `grade` and their results on first use: they import hypothesis, which replay alone does not need."""
    if name in ("FuzzResult", "fuzz"):
        from .fuzzing import _runner

        return getattr(_runner, name)
    if name in ("CaseResult", "GradeResult", "grade"):
        from . import grading

        return getattr(grading, name)
    raise AttributeError(f"module 'replayer' has no attribute {name!r}")
