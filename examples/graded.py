"""Consumers to grade with `cassette grade` (see docs/grading.md and notebooks/05_grading.ipynb).

    cassette grade examples.graded:guide_stream
    cassette grade examples.graded:resilient_stream
    cassette grade examples.graded:naive_endpoint

- guide_stream       the error handling a popular streaming guide teaches: `except RateLimitError`,
                     `APIStatusError`, `APIConnectionError` around `messages.stream()`, printing a message
- resilient_stream   examples/resilience.py: `stream_text` (resumes after a drop or a truncation)
                     inside `with_backoff` (retries 429/529/5xx and connection errors)
- naive_endpoint     a FastAPI endpoint streaming Claude's answer the way the guide shows
                     (examples/fastapi_app/naive.py), called by a client that checks the status
- careful_endpoint   the same call to examples/fastapi_app/app.py, which maps failures before
                     the stream to 503/502

Each takes an anthropic client (an AsyncAnthropic for the endpoints), as `cassette grade` hands it.
"""

from __future__ import annotations

import time
from typing import Any

import anthropic
import httpx2

from examples.resilience import stream_text, with_backoff

REQUEST: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 1024,
                           "messages": [{"role": "user", "content": "Why is the sky blue?"}]}


def guide_stream(client: anthropic.Anthropic) -> None:
    """Print the answer as it streams; report API errors the way the guide does, by printing them."""
    try:
        with client.messages.stream(**REQUEST) as stream:
            for text in stream.text_stream:
                print(text, end="", flush=True)
    except anthropic.RateLimitError as exc:
        print(f"\nRate limited (429): {exc}. Back off and retry.")
    except anthropic.APIStatusError as exc:
        if exc.status_code == 529:
            print("\nClaude is overloaded. Retry with exponential backoff.")
        else:
            print(f"\nAPI error {exc.status_code}: {exc.message}")
    except anthropic.APIConnectionError as exc:
        print(f"\nConnection lost during stream: {exc}")


def resilient_stream(client: anthropic.Anthropic) -> str:
    """Print the answer as it streams, resuming after drops, backing off on overload; return it."""
    # `time.sleep` looked up now, not bound at import: `cassette grade` makes it virtual.
    return with_backoff(lambda: stream_text(client, lambda piece: print(piece, end=""), sleep=time.sleep, **REQUEST),
                        sleep=time.sleep)


async def naive_endpoint(client: anthropic.AsyncAnthropic) -> str:
    """POST /chat to examples/fastapi_app/naive.py, as its HTTP client would; the body it got."""
    from examples.fastapi_app import naive

    return await _chat(naive.app, naive.get_client, client)


async def careful_endpoint(client: anthropic.AsyncAnthropic) -> str:
    """POST /chat to examples/fastapi_app/app.py; the body it got."""
    from examples.fastapi_app import app

    return await _chat(app.app, app.get_client, client)


async def _chat(app: Any, get_client: Any, client: anthropic.AsyncAnthropic) -> str:
    """The endpoint called in-process; an error status raises, as in a client that checks it.

    In-process, an error the endpoint raises after its response started reaches this caller as
    that exception; over a socket its client would see the connection cut mid-body instead.
    """
    app.dependency_overrides[get_client] = lambda: client
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://app") as http:
            response = await http.post("/chat", json={"message": REQUEST["messages"][0]["content"]})
            response.raise_for_status()
            return response.text
    finally:
        app.dependency_overrides.clear()
