"""The FastAPI endpoint the popular streaming guides show: the whole Claude call inside the generator.

    POST /chat  {"message": "Why is the sky blue?"}   ->  200 text/plain, streamed

Nothing is checked: the 200 goes out before Claude is even asked, so a 529 cannot become a 503,
and a stream that ends early ends the response as if the answer were whole. `cassette grade
examples.graded:naive_endpoint` shows what that costs; app.py beside it is the careful version.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anthropic
from fastapi import Depends, FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

app = FastAPI(title="Claude chat, streamed naively")


class Chat(BaseModel):
    """The request body of POST /chat."""

    message: str


def get_client() -> anthropic.AsyncAnthropic:
    """The Claude client (a dependency, so tests and `cassette grade` can swap it)."""
    return anthropic.AsyncAnthropic()


@app.post("/chat")
async def chat(chat: Chat, client: Annotated[anthropic.AsyncAnthropic, Depends(get_client)]) -> StreamingResponse:
    """Stream Claude's answer to `chat.message` as plain text."""
    async def generate() -> AsyncIterator[str]:
        async with client.messages.stream(model="claude-haiku-4-5", max_tokens=1024,
                                          messages=[{"role": "user", "content": chat.message}]) as stream:
            async for text in stream.text_stream:
                yield text

    return StreamingResponse(generate(), media_type="text/plain")
