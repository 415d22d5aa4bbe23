"""Route every anthropic client's HTTP traffic through a handler, as vcrpy does for httpx.

The SDK always builds an `httpx2.HTTPTransport` / `AsyncHTTPTransport` (unless handed a custom
one), so patching their `handle_*request` reaches clients the application creates itself.
Only requests carrying the `anthropic-version` header, which every Anthropic SDK sends, are
routed; other httpx2 traffic passes through untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import httpx2

Send = Callable[[httpx2.Request], httpx2.Response]
AsyncSend = Callable[[httpx2.Request], Awaitable[httpx2.Response]]
Handler = Callable[[httpx2.Request, Send], httpx2.Response]
AsyncHandler = Callable[[httpx2.Request, AsyncSend], Awaitable[httpx2.Response]]


def is_anthropic(request: httpx2.Request) -> bool:
    """Whether an Anthropic SDK (any language) sent this request."""
    return "anthropic-version" in request.headers


@contextmanager
def intercept(handle: Handler, ahandle: AsyncHandler) -> Iterator[None]:
    """Within the block, anthropic requests go to `handle(request, send)` / `ahandle(...)`.

    `send` forwards to the transport the request was meant for.
    """
    sync_original = httpx2.HTTPTransport.handle_request
    async_original = httpx2.AsyncHTTPTransport.handle_async_request

    def handle_request(self: httpx2.HTTPTransport, request: httpx2.Request) -> httpx2.Response:
        def send(request: httpx2.Request) -> httpx2.Response:
            return sync_original(self, request)

        return handle(request, send) if is_anthropic(request) else send(request)

    async def handle_async_request(self: httpx2.AsyncHTTPTransport, request: httpx2.Request) -> httpx2.Response:
        async def send(request: httpx2.Request) -> httpx2.Response:
            return await async_original(self, request)

        return await ahandle(request, send) if is_anthropic(request) else await send(request)

    httpx2.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]
    httpx2.AsyncHTTPTransport.handle_async_request = handle_async_request  # type: ignore[method-assign]
    try:
        yield
    finally:
        httpx2.HTTPTransport.handle_request = sync_original  # type: ignore[method-assign]
        httpx2.AsyncHTTPTransport.handle_async_request = async_original  # type: ignore[method-assign]
