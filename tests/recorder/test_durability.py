"""Recording under stress: a SIGKILLed recorder keeps what it wrote; concurrent requests never interleave lines."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx2

import recorder
import replayer
from replayer import Chunk, Reply, ScriptedUpstream
from replayer.fuzzing._synthetic import sse_bytes, text_message
from tests.helpers import BODY

CHILD = """
import sys, anthropic, recorder
with recorder.record(sys.argv[1]):
    client = anthropic.Anthropic(api_key="sk-ant-" + "api03-killme-0000000000000000", base_url=sys.argv[2])
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=99, messages=[{"role": "user", "content": "Hi"}]) as s:
        for text in s.text_stream:
            print(text, flush=True)
"""


def test_sigkill_mid_stream_leaves_a_loadable_replayable_cassette(tmp_path: Path) -> None:
    path = tmp_path / "killed.jsonl"
    events = text_message(" ".join(f"w{i}" for i in range(200)), pieces=200)
    reply = Reply(chunks=tuple(Chunk(sse_bytes([e]), delay=0.01) for e in events))
    with ScriptedUpstream([reply]) as upstream:
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), upstream.base_url],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        for _ in range(20):  # the app has printed 20 deltas: they are on disk too
            child.stdout.readline()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    [interaction] = recorder.load(path)
    assert interaction.outcome == "incomplete"
    deltas = [e for e in interaction.events if e.event == "content_block_delta"]
    assert 20 <= len(deltas) < 200
    client = replayer.FakeAnthropic(path)
    with client.messages.stream(**{**BODY, "max_tokens": 99}) as stream:
        replayed = list(stream.text_stream)
    assert replayed == [e.data["delta"]["text"] for e in deltas]
    assert "killme" not in path.read_text()


class SlowChunks(httpx2.SyncByteStream, httpx2.AsyncByteStream):
    """Chunks with tiny pauses, so concurrent streams really interleave."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            time.sleep(0.0005)
            yield chunk

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        for chunk in self.chunks:
            await asyncio.sleep(0.0005)
            yield chunk


def answer_by_prompt(request: httpx2.Request) -> httpx2.Response:
    prompt = json.loads(request.content)["messages"][0]["content"]
    events = text_message(f"answer to {prompt} " * 5, pieces=25)
    return httpx2.Response(200, headers={"content-type": "text/event-stream"},
                           stream=SlowChunks([sse_bytes([e]) for e in events]))


def check_not_interleaved(path: Path, n: int) -> None:
    for line in path.read_text().splitlines():
        json.loads(line)  # every line whole
    cassette = recorder.load(path)
    assert len(cassette) == n
    for interaction in cassette:
        prompt = interaction.request.body.data["messages"][0]["content"]
        text = "".join(e.data["delta"]["text"] for e in interaction.events if e.event == "content_block_delta")
        assert text == f"answer to {prompt} " * 5
        assert interaction.outcome == "complete"


def prompt_body(i: int) -> dict:
    return {**BODY, "messages": [{"role": "user", "content": f"prompt {i}"}]}


def test_concurrent_threads_record_whole_interactions(tmp_path: Path) -> None:
    path = tmp_path / "threads.jsonl"
    transport = recorder.RecordingTransport(path, httpx2.MockTransport(answer_by_prompt))
    client = anthropic.Anthropic(api_key="k", http_client=httpx2.Client(transport=transport))

    def worker(i: int) -> None:
        with client.messages.stream(**prompt_body(i)) as stream:
            stream.until_done()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    check_not_interleaved(path, 12)


def test_concurrent_asyncio_tasks_record_whole_interactions(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    transport = recorder.AsyncRecordingTransport(path, httpx2.MockTransport(answer_by_prompt))
    client = anthropic.AsyncAnthropic(api_key="k", http_client=httpx2.AsyncClient(transport=transport))

    async def one(i: int) -> None:
        async with client.messages.stream(**prompt_body(i)) as stream:
            await stream.until_done()

    async def main() -> None:
        await asyncio.gather(*(one(i) for i in range(12)))

    asyncio.run(main())
    check_not_interleaved(path, 12)
