"""examples/fastapi_app: a streaming FastAPI endpoint tested in-process and over real sockets."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import httpx2
import pytest
import uvicorn

import recorder
from replayer import FakeAsyncAnthropic, serve
from tests.helpers import ROOT

pytest.importorskip("fastapi")

TEXT = ROOT / "cassettes" / "text.jsonl"
QUESTION = recorder.load(TEXT)[0].request.body.data["messages"][0]["content"]  # type: ignore[union-attr, index]


def _load_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fastapi_example_app", ROOT / "examples" / "fastapi_app" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


example = _load_app()


def answer(faults: list[str] | None = None) -> str:
    """The text the recorded stream delivers (up to a fault), as FakeAsyncAnthropic gives it."""
    async def collect() -> str:
        pieces: list[str] = []
        client = FakeAsyncAnthropic(TEXT, faults=faults or [])
        try:
            async with client.messages.stream(model=example.MODEL, max_tokens=1024,
                                              messages=[{"role": "user", "content": QUESTION}]) as stream:
                async for piece in stream.text_stream:
                    pieces.append(piece)
        except httpx2.TransportError:
            pass
        return "".join(pieces)

    return asyncio.run(collect())


@pytest.fixture
def fake_claude() -> Iterator[dict[str, Any]]:
    """Inject FakeAsyncAnthropic(text.jsonl, **options) as the app's client; set options in the dict."""
    options: dict[str, Any] = {}
    example.app.dependency_overrides[example.get_client] = lambda: FakeAsyncAnthropic(TEXT, **options)
    yield options
    example.app.dependency_overrides.clear()


async def post_in_process(json: dict[str, Any]) -> httpx2.Response:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=example.app), base_url="http://app") as http:
        return await http.post("/chat", json=json)


# --- (a) in-process, with an injected fake client ---------------------------------------------------------


def test_chat_streams_the_recorded_answer(fake_claude: dict[str, Any]) -> None:
    response = asyncio.run(post_in_process({"message": QUESTION}))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert response.text == answer() and response.text.startswith("The sky looks blue")


# --- (b) what the endpoint's client sees when Claude fails ---------------------------------------------------


def test_529_after_the_sdk_retries_becomes_a_503_before_any_text(fake_claude: dict[str, Any]) -> None:
    fake_claude["faults"] = ["529:retry-after=1msx3"]
    response = asyncio.run(post_in_process({"message": QUESTION}))
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert "529 OverloadedError" in response.json()["detail"]


def test_a_4xx_from_claude_becomes_a_502(fake_claude: dict[str, Any]) -> None:
    fake_claude["faults"] = ["400"]
    response = asyncio.run(post_in_process({"message": QUESTION}))
    assert response.status_code == 502 and "400 BadRequestError" in response.json()["detail"]


def test_a_mid_stream_drop_is_raised_out_of_the_app_in_process(fake_claude: dict[str, Any]) -> None:
    fake_claude["faults"] = ["drop@events=8"]
    with pytest.raises(httpx2.RemoteProtocolError):
        asyncio.run(post_in_process({"message": QUESTION}))


# --- (c) the app on a real uvicorn server, Claude replayed by `replayer.serve` --------------------------------


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free 127.0.0.1 port in a thread, as in production."""
    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive()
            time.sleep(0.005)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def claude_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Point the app's production client at a URL (ANTHROPIC_BASE_URL), as deployed."""
    def point(url: str) -> None:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-example-not-a-key")
        example.get_client.cache_clear()

    yield point
    example.get_client.cache_clear()


def read_stream(url: str) -> tuple[int, list[tuple[float, str]], BaseException | None]:
    """POST /chat over a real socket: the status, each piece of text with its arrival time, the error if any."""
    pieces: list[tuple[float, str]] = []
    started = time.monotonic()
    with httpx2.Client(base_url=url, timeout=10) as http:
        try:
            with http.stream("POST", "/chat", json={"message": QUESTION}) as response:
                for piece in response.iter_text():
                    pieces.append((time.monotonic() - started, piece))
        except httpx2.TransportError as exc:
            return response.status_code, pieces, exc
    return response.status_code, pieces, None


def test_over_real_sockets_the_text_streams_as_claude_writes_it(claude_at: Any) -> None:
    with serve(TEXT, speed=2.0) as claude, running(example.app) as app_url:
        claude_at(claude)
        status, pieces, error = read_stream(app_url)
    assert status == 200 and error is None and "".join(p for _, p in pieces) == answer()
    first, last = pieces[0][0], pieces[-1][0]
    assert last - first > 0.3  # streamed as paced (~0.55 s at speed 2), not buffered into one write


def test_over_real_sockets_a_mid_stream_drop_cuts_the_response(claude_at: Any) -> None:
    with serve(TEXT, faults=["drop@events=8"]) as claude, running(example.app) as app_url:
        claude_at(claude)
        status, pieces, error = read_stream(app_url)
    assert status == 200 and isinstance(error, httpx2.RemoteProtocolError)
    assert "".join(p for _, p in pieces) == answer(["drop@events=8"]) != ""


def test_over_real_sockets_an_overloaded_claude_is_a_503(claude_at: Any) -> None:
    with serve(TEXT, faults=["529:retry-after=1msx3"]) as claude, running(example.app) as app_url:
        claude_at(claude)
        with httpx2.Client(base_url=app_url, timeout=10) as http:
            response = http.post("/chat", json={"message": QUESTION})
    assert response.status_code == 503 and "529 OverloadedError" in response.json()["detail"]
