"""Errors raised by the replayer.

    anthropic.AnthropicError
    └── ReplayError
        └── NoMatchError
            └── InvalidRequestError

They derive from `anthropic.AnthropicError` because the SDK re-raises its own errors as they
are instead of wrapping them in APIConnectionError and retrying (anthropic/_base_client.py,
`_attempt_request`): a test sees a miss at once, not after the automatic retries.
"""

from __future__ import annotations

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


class InvalidRequestError(NoMatchError):
    """The request body is not a JSON object, and no recorded request has that body.

    The message is the real API's (`The request body is not valid JSON: ...`); `cassette serve`
    answers it with the API's 400 `invalid_request_error`. A miss like any other, so a record
    mode that records misses sends it upstream.
    """


def exception_from(error: ErrorInfo) -> Exception:
    """Rebuild a recorded exception: same class and message, if a transport can raise it.

    Loading refuses any other class (recorder.TRANSPORT_ERRORS); one built in memory is raised as
    the broken connection it stands for, an httpx2.ReadError naming it.
    """
    error = error.replayable()
    return getattr(httpx2, error.type.removeprefix("httpx2."))(error.message)  # type: ignore[no-any-return]
