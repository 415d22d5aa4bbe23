"""The record-through proxy: an unchanged program, pointed at it, is recorded.

Each request is forwarded to the upstream (default https://api.anthropic.com, path prefix
kept) through `Recorder.asend`, and the response is streamed back chunk by chunk as it is
read, raw (still compressed if it was), while the recorder notes every event with its time.
An upstream that fails fails the same way for the client: an error status comes back as it
is; a connection that breaks mid-stream is recorded as `disconnected` and the client's
connection is broken too.

    $ ANTHROPIC_BASE_URL=$(...proxy url...) python my_app.py
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import cast

import anyio
import httpx2

from ._extras import extra

with extra("server", feature="recorder.proxy"):
    from starlette.requests import Request
    from starlette.responses import StreamingResponse

from ._asgi import (
    Aborted,
    Receive,
    Scope,
    Send,
    break_connection,
    raw_headers,
    relay,
    serve_app,
)
from ._cassette import CassetteWriter, StrPath, header
from ._redact import Redactor
from ._transport import Recorder
from ._upstream import DEFAULT_UPSTREAM, upstream_url

# Connecting may not hang, but a stream may be silent for long: the client enforces its own read timeout.
UPSTREAM_TIMEOUT = {"connect": 30.0, "read": None, "write": 60.0, "pool": 30.0}
_log = logging.getLogger("recorder.proxy")


class ProxyApp:
    """An ASGI app forwarding every request to `upstream` and recording each exchange with `recorder`.

    `recorder` may also be a function of the request's headers that returns the Recorder to use.
    """

    def __init__(self, recorder: Recorder | Callable[[httpx2.Headers], Recorder], upstream: str = DEFAULT_UPSTREAM, *,
                 transport: httpx2.AsyncBaseTransport | None = None) -> None:
        self.recorder = recorder
        self.upstream = upstream_url(upstream)
        # Transport level: no redirects followed, nothing decompressed; the bytes pass as they came.
        self.transport = transport if transport is not None else httpx2.AsyncHTTPTransport()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        incoming = Request(scope, receive)
        headers = [(k, v) for k, v in incoming.headers.raw if k.decode("latin-1") not in _NOT_FORWARDED]
        request = httpx2.Request(incoming.method, self.target(scope), headers=headers,
                                 content=await incoming.body(), extensions={"timeout": UPSTREAM_TIMEOUT})
        try:
            recorder = self.recorder if isinstance(self.recorder, Recorder) else self.recorder(request.headers)
            response = await recorder.asend(request, self.transport.handle_async_request)
        except httpx2.TransportError as exc:  # recorded as `disconnected` by asend
            _log.warning("upstream %s failed before responding (%s: %s)", request.url, type(exc).__name__, exc)
            break_connection(reset=isinstance(exc, httpx2.ReadError))
            raise Aborted(f"{type(exc).__name__}: {exc}") from exc
        reply = StreamingResponse(self._body(response), status_code=response.status_code)
        reply.raw_headers = raw_headers(response.headers.multi_items(), drop=["content-length"])
        await reply(scope, receive, send)

    def target(self, scope: Scope) -> httpx2.URL:
        """The upstream URL for this request: the upstream's path prefix, then the request's path and query."""
        path = self.upstream.raw_path.split(b"?")[0].rstrip(b"/") + scope.get("raw_path", scope["path"].encode())
        if scope.get("query_string"):
            path += b"?" + scope["query_string"]
        return self.upstream.copy_with(raw_path=path)

    async def _body(self, response: httpx2.Response) -> AsyncIterator[bytes]:
        try:
            async for chunk in relay(cast(AsyncIterable[bytes], response.stream), log=_log):
                yield chunk
        finally:
            with anyio.CancelScope(shield=True):  # also when the client went away: close upstream
                await response.aclose()

    async def aclose(self) -> None:
        await self.transport.aclose()


# The proxy's own connection details, and the client's Host: httpx2 sets the upstream's.
_NOT_FORWARDED = frozenset({"host", "connection", "keep-alive", "proxy-connection", "proxy-authorization",
                            "te", "trailer", "transfer-encoding", "upgrade"})


@contextmanager
def proxy(out: StrPath | Recorder, *, upstream: str = DEFAULT_UPSTREAM, host: str = "127.0.0.1", port: int = 0,
          redactor: Redactor | None = None, append: bool = False,
          on_listen: Callable[[str], object] | None = None) -> Iterator[str]:
    """Run a record-through proxy in a background thread; yield its base URL.

    Everything sent to the URL is forwarded to `upstream` and recorded, redacted, into `out`
    (a path, or a Recorder you keep). Point a program at it with `ANTHROPIC_BASE_URL`. The
    cassette's header names the client of the first request (its user-agent and x-stainless-*
    identification; each request keeps its own headers). `on_listen(url)` is called as soon as
    the socket listens.

    >>> with proxy("session.jsonl") as url:
    ...     subprocess.run(["python", "app.py"], env={**os.environ, "ANTHROPIC_BASE_URL": url})
    """
    upstream_url(upstream)  # a bad URL fails before the cassette is created
    recorder = out if isinstance(out, Recorder) else _FirstRequestOpens(out, redactor=redactor, append=append)
    try:
        app = ProxyApp(recorder, upstream)
        with serve_app(app, host=host, port=port, cleanup=app.aclose, name="cassette record proxy",
                       on_listen=on_listen) as url:
            yield url
    finally:
        if recorder is not out:
            recorder.close()


class _FirstRequestOpens:
    """Opens the cassette at once (a bad path or a busy file fails before anything is served) and
    writes its header with the first line, so that it names the client of the first request; a
    proxy that saw no request leaves a cassette naming no client."""

    def __init__(self, path: StrPath, *, redactor: Redactor | None, append: bool) -> None:
        self.client: Mapping[str, str] = {}
        self.writer = CassetteWriter(path, redactor=redactor, append=append, meta=lambda: header(client=self.client))
        self.recorder = Recorder(self.writer)
        self._seen = False

    def __call__(self, headers: Mapping[str, str]) -> Recorder:
        if not self._seen:
            self.client, self._seen = headers, True
        return self.recorder

    def close(self) -> None:
        self.writer.close()
