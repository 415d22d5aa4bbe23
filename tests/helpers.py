"""Shared test helpers: serve raw SSE bytes to the real SDK and look at what it produced."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx2

import recorder
import replayer

ROOT = Path(__file__).resolve().parent.parent
"""The repository checkout the tests run from."""
CASSETTES = ROOT / "cassettes"
"""The shipped example cassettes."""
MODEL = "claude-haiku-4-5"
BODY: dict[str, Any] = {"model": MODEL, "max_tokens": 256, "messages": [{"role": "user", "content": "Hi"}]}
SSE_HEADERS = {"content-type": "text/event-stream", "request-id": "req_test"}


class Chunks(httpx2.SyncByteStream, httpx2.AsyncByteStream):
    """A body that yields explicit chunks, then optionally breaks like a dropped connection."""

    def __init__(self, chunks: Sequence[bytes], error: Exception | None = None) -> None:
        self.chunks = chunks
        self.error = error

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        if self.error is not None:
            raise self.error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.error is not None:
            raise self.error


@dataclass
class Upstream:
    """An in-memory upstream: each request gets the next (status, headers, chunks, error)."""

    replies: list[tuple[int, dict[str, str], Sequence[bytes], Exception | None]]
    requests: list[httpx2.Request] = field(default_factory=list)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        status, headers, chunks, error = self.replies.pop(0)
        return httpx2.Response(status, headers=headers, stream=Chunks(chunks, error))

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self)


def sse_reply(wire: bytes, *, per_chunk: int | None = None, error: Exception | None = None,
              cut: int | None = None) -> tuple[int, dict[str, str], list[bytes], Exception | None]:
    """A streaming reply: `wire` cut into `per_chunk`-byte pieces (default: per event), optionally cut short."""
    if cut is not None:
        wire = wire[:cut]
    if per_chunk is None:
        chunks = [part for part in re.split(b"(?<=\n\n)", wire) if part]
    else:
        chunks = [wire[i : i + per_chunk] for i in range(0, len(wire), per_chunk)]
    return 200, SSE_HEADERS, chunks, error


def json_reply(status: int, body: bytes, **headers: str) -> tuple[int, dict[str, str], list[bytes], None]:
    return status, {"content-type": "application/json", **headers}, [body], None


@dataclass
class Observed:
    """What an application saw: the events, the final message (or None), the error class and message."""

    events: list[Any]
    final: Any = None
    error: tuple[type[BaseException], str] | None = None
    calls: int = 0


def observe(make_client: Callable[[], anthropic.Anthropic], how: str, body: dict[str, Any] | None = None) -> Observed:
    """Run one call the way apps do (`stream`, `create-stream`, `create`, `count`) and record what it yields."""
    client = make_client()
    body = body or BODY
    seen = Observed([])
    try:
        if how == "stream":
            with client.messages.stream(**body) as stream:
                for event in stream:
                    seen.events.append(event.to_dict())
                seen.final = stream.get_final_message().to_dict()
        elif how == "create-stream":
            for event in client.messages.create(**body, stream=True):
                seen.events.append(event.to_dict())
        elif how == "create":
            seen.final = client.messages.create(**body).to_dict()
        elif how == "count":
            seen.final = client.messages.count_tokens(**{k: v for k, v in body.items() if k != "max_tokens"}).to_dict()
    except Exception as exc:  # the point: compare what the app would catch
        seen.error = (type(exc), str(exc))
    return seen


async def aobserve(make_client: Callable[[], anthropic.AsyncAnthropic], how: str,
                   body: dict[str, Any] | None = None) -> Observed:
    """`observe` for AsyncAnthropic."""
    client = make_client()
    body = body or BODY
    seen = Observed([])
    try:
        if how == "stream":
            async with client.messages.stream(**body) as stream:
                async for event in stream:
                    seen.events.append(event.to_dict())
                seen.final = (await stream.get_final_message()).to_dict()
        elif how == "create-stream":
            async for event in await client.messages.create(**body, stream=True):
                seen.events.append(event.to_dict())
        elif how == "create":
            seen.final = (await client.messages.create(**body)).to_dict()
        elif how == "count":
            body = {k: v for k, v in body.items() if k != "max_tokens"}
            seen.final = (await client.messages.count_tokens(**body)).to_dict()
    except Exception as exc:
        seen.error = (type(exc), str(exc))
    return seen


def direct(upstream: Upstream, **kwargs: Any) -> anthropic.Anthropic:
    """The SDK on the original bytes, nothing of ours in between."""
    return anthropic.Anthropic(api_key="test-key", http_client=httpx2.Client(transport=upstream.transport()), **kwargs)


def recording(upstream: Upstream, path: Path, **kwargs: Any) -> anthropic.Anthropic:
    transport = recorder.RecordingTransport(path, upstream.transport())
    return anthropic.Anthropic(api_key="test-key", http_client=httpx2.Client(transport=transport), **kwargs)


def async_direct(upstream: Upstream, **kwargs: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key="test-key", http_client=httpx2.AsyncClient(transport=upstream.transport()),
                                    **kwargs)


def async_recording(upstream: Upstream, path: Path, **kwargs: Any) -> anthropic.AsyncAnthropic:
    transport = recorder.AsyncRecordingTransport(path, upstream.transport())
    return anthropic.AsyncAnthropic(api_key="test-key", http_client=httpx2.AsyncClient(transport=transport), **kwargs)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


CLI = [sys.executable, "-c", "from replayer.cli import main; main()"]


@contextmanager
def cli_server(*args: str, stderr: list[str] | None = None,
               started: list[subprocess.Popen[str]] | None = None) -> Iterator[str]:
    """Run `cassette ARGS...` (a server that prints its base URL first) and yield that URL.

    On leaving the block, SIGINT must stop it with exit status 0 and nothing on stderr (or,
    given a `stderr` list, what it printed there is appended to it). The process is appended
    to `started`, if given.
    """
    process = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if started is not None:
        started.append(process)
    try:
        url = process.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        yield url
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    printed = process.stderr.read()  # type: ignore[union-attr]
    if stderr is None:
        assert printed == ""
    else:
        stderr.append(printed)


def conversations(n: int) -> recorder.Cassette:
    """`n` interactions answering distinct tool-loop requests (`conversation(i)`) with text.jsonl's stream."""
    import dataclasses

    template = recorder.load(CASSETTES / "text.jsonl")[0]
    assert template.request is not None
    return recorder.Cassette(tuple(
        dataclasses.replace(template, id=i, request=dataclasses.replace(template.request,
                                                                         body=recorder.Payload(conversation(i))))
        for i in range(n)), path=f"conversations-{n}.jsonl")


def conversation(n: int) -> dict[str, Any]:
    """Request n of `conversations`: turn n % 40 of tool loop n // 40."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": f"Task {n // 40}: plan the trip."}]
    for turn in range(n % 40):
        messages.append({"role": "assistant", "content": [
            {"type": "tool_use", "id": f"toolu_{n // 40}_{turn}", "name": "get_weather", "input": {"city": f"C{turn}"}}]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"toolu_{n // 40}_{turn}", "content": f'{{"temperature": {turn}}}'}]})
    return {"model": MODEL, "max_tokens": 1024, "stream": True, "messages": messages}


__all__ = ["BODY", "CLI", "MODEL", "Chunks", "Observed", "Upstream", "aobserve", "async_direct", "async_recording",
           "cli_server", "conversation", "conversations", "direct", "json_reply", "observe", "recording", "replayer", "run", "sse_reply"]
