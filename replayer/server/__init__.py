"""Real HTTP servers on 127.0.0.1: the mock Anthropic API and a scripted upstream.

`_serve` puts ReplayTransport behind an ASGI app (`cassette serve`, `replayer.serve()`), so any
language's SDK can replay through `ANTHROPIC_BASE_URL`; `_upstream` is a scripted server that
plays byte-exact replies, the stand-in for the real API when recording in tests and examples.
"""

from typing import TYPE_CHECKING

from ._upstream import Chunk, Reply, ScriptedUpstream

if TYPE_CHECKING:
    from ._serve import serve

__all__ = ["Chunk", "Reply", "ScriptedUpstream", "serve"]


def __getattr__(name: str) -> object:
    """`serve` on first use: it needs the `server` extra (starlette, uvicorn); the scripted upstream does not."""
    if name == "serve":
        from ._serve import serve

        return serve
    raise AttributeError(f"module 'replayer.server' has no attribute {name!r}")
