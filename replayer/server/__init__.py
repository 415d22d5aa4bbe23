"""Real HTTP servers on 127.0.0.1: the mock Anthropic API and a scripted upstream.

`_serve` puts ReplayTransport behind an ASGI app (`cassette serve`, `replayer.serve()`), so any
language's SDK can replay through `ANTHROPIC_BASE_URL`, with playback per session (`_sessions`),
a journal and request log (`_journal`) and an admin API (`_admin`); `_upstream` is a scripted server that
plays byte-exact replies, the stand-in for the real API when recording in tests and examples.
"""

from typing import TYPE_CHECKING

import lazy_loader as _lazy

from ._upstream import Chunk, Reply, ScriptedUpstream

if TYPE_CHECKING:
    from ._serve import serve

# `serve` on first use: it needs the `server` extra (starlette, uvicorn); the scripted upstream does not.
__getattr__ = _lazy.attach(__name__, submod_attrs={"_serve": ["serve"]})[0]

__all__ = ["Chunk", "Reply", "ScriptedUpstream", "serve"]
