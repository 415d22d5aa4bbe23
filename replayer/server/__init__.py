"""Real HTTP servers on 127.0.0.1: the mock Anthropic API and a scripted upstream.

`_serve` puts ReplayTransport behind an ASGI app (`cassette serve`, `replayer.serve()`), so any
language's SDK can replay through `ANTHROPIC_BASE_URL`, with playback per session (`_sessions`),
a journal and request log (`_journal`) and an admin API (`_admin`); `_upstream` is a scripted server that
plays byte-exact replies, the stand-in for the real API when recording in tests and examples.
"""

from ._serve import serve
from ._upstream import Chunk, Reply, ScriptedUpstream

__all__ = ["Chunk", "Reply", "ScriptedUpstream", "serve"]
