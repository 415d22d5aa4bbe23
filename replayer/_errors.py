"""Errors raised by the replayer.

    anthropic.AnthropicError
    └── ReplayError
        └── NoMatchError

They derive from `anthropic.AnthropicError` because the SDK re-raises its own errors as they
are instead of wrapping them in APIConnectionError and retrying (anthropic/_base_client.py,
`_attempt_request`): a test sees a miss at once, not after the automatic retries.
"""

from __future__ import annotations

import builtins

import anthropic
import httpx2

from recorder import ErrorInfo, Interaction


class ReplayError(anthropic.AnthropicError):
    """Replay could not serve a request as asked."""


class NoMatchError(ReplayError):
    """No recorded interaction matches the request; the message names the closest one and how it differs.

    `closest` is that interaction (None when there is nothing to compare with).
    """

    def __init__(self, message: str, *, closest: Interaction | None = None) -> None:
        super().__init__(message)
        self.closest = closest


_MODULES = {"httpx2": httpx2, "builtins": builtins, "anthropic": anthropic}


def exception_from(error: ErrorInfo) -> Exception:
    """Rebuild a recorded exception: same class (httpx2, builtins or anthropic), same message."""
    module, _, name = error.type.rpartition(".")
    kind = getattr(_MODULES.get(module), name, None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            return kind(error.message)
        except TypeError:
            pass
    # An exception we cannot rebuild faithfully still breaks the stream like a network error.
    return httpx2.ReadError(f"{error.type}: {error.message}")
