"""Two wrappers every streaming app ends up writing, and that claude-cassette lets you test.

- `with_backoff`: retry a call on rate limits, overload and connection errors, with
  exponential backoff. The SDK already retries twice by itself; apps add their own policy on top
  (more attempts, longer waits, logging), usually with `max_retries=0` on the client.
- `stream_text`: stream a text answer and survive a dropped connection mid-stream. The SDK
  never retries once the stream has started, and the drop arrives as a *raw httpx2* exception,
  not an `anthropic.APIConnectionError`. This wrapper asks again and skips the text the user
  has already seen.

Both take a `sleep` so tests can pass `VirtualClock().sleep` and run without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import anthropic
import httpx2

T = TypeVar("T")
RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}


def with_backoff(call: Callable[[], T], *, attempts: int = 5, base: float = 1.0, cap: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `call`, retrying retryable API errors with waits of base, 2*base, 4*base... (at most `cap`)."""
    for attempt in range(attempts):
        try:
            return call()
        except anthropic.APIStatusError as exc:
            if exc.status_code not in RETRYABLE_STATUS or attempt == attempts - 1:
                raise
            retry_after = exc.response.headers.get("retry-after")
            delay = float(retry_after) if retry_after else min(cap, base * 2**attempt)
        except anthropic.APIConnectionError:
            if attempt == attempts - 1:
                raise
            delay = min(cap, base * 2**attempt)
        sleep(delay)
    raise AssertionError("unreachable")


def stream_text(client: anthropic.Anthropic, on_text: Callable[[str], Any], *, attempts: int = 3,
                sleep: Callable[[float], None] = time.sleep, **request: Any) -> str:
    """Stream the answer to `request`, calling `on_text` with each new piece; resume after drops.

    After a mid-stream drop the same request is sent again and the text already delivered is
    skipped, so `on_text` sees every character exactly once.
    """
    delivered = ""
    for attempt in range(attempts):
        seen = 0
        try:
            with client.messages.stream(**request) as stream:
                for piece in stream.text_stream:
                    new = piece[max(0, len(delivered) - seen):]
                    seen += len(piece)
                    if new:
                        delivered += new
                        on_text(new)
                if stream.get_final_message().stop_reason is None:
                    raise httpx2.RemoteProtocolError("stream ended without message_stop")
            return delivered
        except httpx2.TransportError:  # what a mid-stream drop raises; APIConnectionError does not catch it
            if attempt == attempts - 1:
                raise
            sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")
