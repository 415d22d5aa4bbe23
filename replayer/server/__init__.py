"""Real HTTP servers on 127.0.0.1: the mock Anthropic API and a scripted upstream.

`_serve` puts ReplayTransport behind an ASGI app (`cassette serve`, `replayer.serve()`), so any
language's SDK can replay through `ANTHROPIC_BASE_URL`; `_upstream` is a scripted server that
plays byte-exact replies, the stand-in for the real API when recording in tests and examples.
"""

from ._serve import Served, serve
from ._upstream import Chunk, Reply, ScriptedUpstream

__all__ = ["Chunk", "Reply", "ScriptedUpstream", "Served", "serve"]
