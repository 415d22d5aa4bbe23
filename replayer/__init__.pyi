"""The public names of `replayer`, for type checkers; at run time each one loads on first use."""

from . import faults
from ._chunking import Chunking
from ._client import FakeAnthropic, FakeAsyncAnthropic, transport_of
from ._errors import InvalidRequestError, NoMatchError, ReplayError
from ._match import DEFAULT_MATCH_ON, Playback
from ._replay import replay
from ._script import Pause, Script
from ._timing import Clock, Pacer, RealClock, VirtualClock
from ._transport import ReplayStream, ReplayTransport
from ._vcr import export_vcr, import_vcr
from .analysis import Diff, Difference, InteractionStats, aggregate, diff, plot_latency, plot_timeline, stats
from .fuzzing._runner import FuzzResult, fuzz
from .grading import CaseResult, GradeResult, grade
from .server import Chunk, Reply, ScriptedUpstream, Served, serve

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
    "InvalidRequestError",
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
    "Served",
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
