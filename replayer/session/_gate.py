"""The network gate: where an anthropic request of a test without a cassette may go."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx2

from recorder._patch import AsyncSend, Send, intercept

from .._errors import ReplayError

if TYPE_CHECKING:
    from ._session import CassetteSession

LOCAL_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
"""Hosts a blocked network still lets anthropic requests reach: local mock servers and proxies."""


class NetworkBlockedError(ReplayError):
    """An anthropic request that no cassette serves was stopped before reaching the network."""


class Gate:
    """Where every anthropic request of one test goes: its CassetteSession when it has one;
    else, with `block`, a NetworkBlockedError (hosts in `allowed_hosts` excepted); else upstream."""

    def __init__(self, *, block: bool, allowed_hosts: Iterable[str] = LOCAL_HOSTS, test_id: str | None = None) -> None:
        self.block = block
        self.allowed_hosts = frozenset(h.strip().lower() for h in allowed_hosts if h.strip())
        self.test_id = test_id
        self.session: CassetteSession | None = None

    def handle(self, request: httpx2.Request, send: Send) -> httpx2.Response:
        if self.session is not None:
            return self.session.handle(request, send)
        self._check(request)
        return send(request)

    async def ahandle(self, request: httpx2.Request, send: AsyncSend) -> httpx2.Response:
        if self.session is not None:
            return await self.session.ahandle(request, send)
        self._check(request)
        return await send(request)

    @contextmanager
    def installed(self) -> Iterator[Gate]:
        """Patch every anthropic client to go through this gate within the block."""
        with intercept(self.handle, self.ahandle):
            yield self

    def _check(self, request: httpx2.Request) -> None:
        host = request.url.host.lower().strip("[]")
        if self.block and host not in self.allowed_hosts:
            who = f"{self.test_id}: " if self.test_id else ""
            raise NetworkBlockedError(
                f"{who}blocked an Anthropic API request to {request.url.scheme}://{request.url.netloc.decode()}"
                f"{request.url.path}: the test has no cassette and the network is blocked "
                "(--cassette-block-network, the default in record mode 'none'). Give the test a cassette with "
                "@pytest.mark.cassette or the anthropic_client fixture, or let it through with "
                "--no-cassette-block-network.")
