"""A FastAPI endpoint that streams Claude's answer as plain text, and how it fails.

    POST /chat  {"message": "Why is the sky blue?"}   ->  200 text/plain, streamed as it is written

Run it:  ANTHROPIC_API_KEY=... uvicorn app:app --app-dir examples/fastapi_app
Or against a recording, no key needed:
         cassette serve cassettes/text.jsonl --speed 1      (prints its URL)
         ANTHROPIC_BASE_URL=<that url> ANTHROPIC_API_KEY=- uvicorn app:app --app-dir examples/fastapi_app

What the endpoint's client sees when Claude fails:

- Before any text (429, 529, 5xx, connection errors, after the SDK's own retries): nothing
  has been sent yet, so the endpoint answers 503 with a JSON `detail` and `Retry-After`.
  A request Claude rejects (4xx) is the app's bug: 502 with the upstream's message.
- Mid-stream (the connection to Claude drops, an in-stream `error` event): the 200 and some
  text are already on the wire. The endpoint does not pretend the answer is complete: the
  error propagates, the server logs it and closes the connection without the final chunk,
  so the endpoint's client gets an incomplete-body error (httpx: RemoteProtocolError)
  after the partial text, exactly as if this server had died.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from functools import lru_cache
from typing import Annotated

import anthropic
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

MODEL = os.environ.get("CHAT_MODEL", "claude-haiku-4-5")
RETRY_AFTER_SECONDS = 5

app = FastAPI(title="Claude chat, streamed")


class Chat(BaseModel):
    """The request body of POST /chat."""

    message: str
    max_tokens: int = 1024


@lru_cache(maxsize=1)
def get_client() -> anthropic.AsyncAnthropic:
    """The Claude client: ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL come from the environment.

    A dependency, so tests swap it: `app.dependency_overrides[get_client] = lambda: FakeAsyncAnthropic(...)`.
    """
    return anthropic.AsyncAnthropic()


@app.post("/chat")
async def chat(chat: Chat, client: Annotated[anthropic.AsyncAnthropic, Depends(get_client)]) -> StreamingResponse:
    """Stream Claude's answer to `chat.message` as plain text."""
    stack = AsyncExitStack()
    try:
        # Entering sends the request and waits for the response headers (the SDK retries 429/529/5xx
        # here), so failures before the stream are still ours to turn into a proper status.
        stream = await stack.enter_async_context(client.messages.stream(
            model=MODEL, max_tokens=chat.max_tokens, messages=[{"role": "user", "content": chat.message}]))
    except (anthropic.APIConnectionError, anthropic.RateLimitError, anthropic.InternalServerError) as exc:
        raise HTTPException(503, detail=f"Claude is unavailable right now ({_reason(exc)}); try again shortly",
                            headers={"retry-after": str(RETRY_AFTER_SECONDS)}) from exc
    except anthropic.APIStatusError as exc:
        raise HTTPException(502, detail=f"Claude rejected the request: {_reason(exc)}") from exc

    async def text() -> AsyncIterator[str]:
        async with stack:  # closes the response to Claude, also when our client goes away
            async for piece in stream.text_stream:
                yield piece

    return StreamingResponse(text(), media_type="text/plain; charset=utf-8")


def _reason(exc: anthropic.APIError) -> str:
    if isinstance(exc, anthropic.APIStatusError):
        return f"{exc.status_code} {type(exc).__name__}"
    return type(exc).__name__
