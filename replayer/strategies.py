"""Hypothesis strategies for Claude streams: the public face of `replayer.fuzzing`.

See `replayer.fuzzing._strategies` for what each strategy generates and what the SDK tolerates.

>>> from hypothesis import given
>>> @given(message_streams(), chunkings())
... def test_my_app(stream, chunking):
...     my_app(FakeAnthropic(stream, chunking=chunking))
"""

from .fuzzing._strategies import (
    BLOCK_KINDS,
    DELTA_TYPES,
    STOP_REASONS,
    Chunking,
    GeneratedStream,
    MutatedCassette,
    Timing,
    chunkings,
    message_streams,
    mutations,
    timings,
)

__all__ = [
    "BLOCK_KINDS",
    "DELTA_TYPES",
    "STOP_REASONS",
    "Chunking",
    "GeneratedStream",
    "MutatedCassette",
    "Timing",
    "chunkings",
    "message_streams",
    "mutations",
    "timings",
]
