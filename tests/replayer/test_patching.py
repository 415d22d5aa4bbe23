"""record() and replay(): clients the application builds itself are recorded and replayed."""

from __future__ import annotations

from pathlib import Path

import anthropic
import httpx2
import pytest

import recorder
import replayer
from replayer import Chunk, Reply, ScriptedUpstream
from replayer.fuzzing._synthetic import sse_bytes, text_message, tool_use_message
from tests.helpers import BODY, run

TEXT = text_message("Hello from a real socket.")
APP_KEY = "sk-ant-" + "api03-app-secret-0000000000000000"  # split: no key-shaped literal in the repo


def app(base_url: str) -> str:
    """Application code: builds its own client, streams, returns the text."""
    client = anthropic.Anthropic(api_key=APP_KEY, base_url=base_url)
    with client.messages.stream(**BODY) as stream:
        return "".join(stream.text_stream)


async def async_app(base_url: str) -> str:
    client = anthropic.AsyncAnthropic(api_key=APP_KEY, base_url=base_url)
    async with client.messages.stream(**BODY) as stream:
        return "".join([text async for text in stream.text_stream])


def stream_reply(events: list, **kwargs: object) -> Reply:
    return Reply(chunks=tuple(Chunk(sse_bytes([e])) for e in events), **kwargs)  # type: ignore[arg-type]


def test_record_then_replay_app_built_clients(tmp_path: Path) -> None:
    path = tmp_path / "app.jsonl"
    with ScriptedUpstream([stream_reply(TEXT), stream_reply(TEXT)]) as upstream:
        with recorder.record(path):
            live = app(upstream.base_url)
            async_live = run(async_app(upstream.base_url))
    assert live == async_live == "Hello from a real socket."
    cassette = recorder.load(path)
    assert [i.outcome for i in cassette] == ["complete", "complete"]
    assert "app-secret" not in path.read_text()
    # The upstream is gone: replay must not need it.
    with replayer.replay(path) as transport:
        assert app(upstream.base_url) == live
        assert run(async_app(upstream.base_url)) == live
    assert len(transport.calls) == 2


def test_patches_are_removed_after_the_block(tmp_path: Path) -> None:
    original = httpx2.HTTPTransport.handle_request, httpx2.AsyncHTTPTransport.handle_async_request
    with recorder.record(tmp_path / "a.jsonl"), replayer.replay(tmp_path / "a.jsonl"):
        assert httpx2.HTTPTransport.handle_request is not original[0]
    assert (httpx2.HTTPTransport.handle_request, httpx2.AsyncHTTPTransport.handle_async_request) == original


def test_replay_lets_non_anthropic_traffic_through(tmp_path: Path) -> None:
    recorder.save(recorder.Cassette(), tmp_path / "empty.jsonl")
    with ScriptedUpstream([Reply.json(200, {"ok": True})]) as upstream, replayer.replay(tmp_path / "empty.jsonl"):
        assert httpx2.get(upstream.base_url + "/health").json() == {"ok": True}


def test_a_miss_raises_at_once_without_sdk_retries(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with ScriptedUpstream([stream_reply(TEXT)]) as upstream, recorder.record(path):
        app(upstream.base_url)
    client = replayer.FakeAnthropic(path, max_retries=5)
    with pytest.raises(replayer.NoMatchError) as caught:
        client.messages.create(**{**BODY, "max_tokens": 999})
    message = str(caught.value)
    assert f"Closest: {path} interaction 0" in message
    assert '"max_tokens":999' in message and '"max_tokens":256' in message
    assert replayer.transport_of(client).calls == []


def test_replay_blocks_the_network_for_anthropic_clients(tmp_path: Path) -> None:
    recorder.save(recorder.Cassette(), tmp_path / "empty.jsonl")
    with ScriptedUpstream([stream_reply(TEXT)]) as upstream, replayer.replay(tmp_path / "empty.jsonl"):
        with pytest.raises(replayer.NoMatchError, match="no recorded requests"):
            app(upstream.base_url)
        assert upstream.requests == []


def test_identical_requests_replay_in_recorded_order_and_each_client_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    first, second = text_message("first answer"), text_message("second answer")
    with ScriptedUpstream([stream_reply(first), stream_reply(second)]) as upstream, recorder.record(path):
        assert [app(upstream.base_url), app(upstream.base_url)] == ["first answer", "second answer"]
    for _ in range(2):
        client = replayer.FakeAnthropic(path)
        texts = []
        for _ in range(2):
            with client.messages.stream(**BODY) as stream:
                texts.append(stream.get_final_text())
        assert texts == ["first answer", "second answer"]
        with pytest.raises(replayer.NoMatchError, match="already replayed"):
            client.messages.create(**BODY, stream=True)


def test_repeat_keeps_answering_with_the_last_recording_once_all_are_played(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    first, second = text_message("first answer"), text_message("second answer")
    with ScriptedUpstream([stream_reply(first), stream_reply(second)]) as upstream, recorder.record(path):
        app(upstream.base_url), app(upstream.base_url)
    client = replayer.FakeAnthropic(path, repeat=True)
    texts = []
    for _ in range(4):
        with client.messages.stream(**BODY) as stream:
            texts.append(stream.get_final_text())
    assert texts == ["first answer", "second answer", "second answer", "second answer"]
    with pytest.raises(replayer.NoMatchError):  # repeating never answers a request nothing matches
        client.messages.create(**{**BODY, "messages": [{"role": "user", "content": "other"}]}, stream=True)
    with replayer.replay(path, repeat=True):
        assert [app("http://127.0.0.1:9") for _ in range(3)] == ["first answer", "second answer", "second answer"]


def test_ignore_keys_and_match_on(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with ScriptedUpstream([stream_reply(TEXT)]) as upstream, recorder.record(path):
        app(upstream.base_url)
    volatile = {**BODY, "metadata": {"user_id": "u-123"}, "max_tokens": 5}
    client = replayer.FakeAnthropic(path, ignore_keys=["metadata", "max_tokens"])
    assert client.messages.create(**volatile, stream=True) is not None
    loose = replayer.FakeAnthropic(path, match_on=["method", "path"])
    loose.messages.create(**{**BODY, "messages": [{"role": "user", "content": "other"}]}, stream=True)
    with pytest.raises(ValueError, match="unknown matcher 'colour'"):
        replayer.FakeAnthropic(path, match_on=["colour"])


def test_imported_capture_without_request_answers_any_request(tmp_path: Path) -> None:
    events = tuple(recorder.Event(0.0, name, recorder.Payload(data)) for name, data in TEXT)
    capture = recorder.Cassette((recorder.Interaction(0, None, recorder.Response(0.0, 200, {
        "content-type": "text/event-stream"}), events),))
    client = replayer.FakeAnthropic(capture)
    with client.messages.stream(**{**BODY, "model": "anything"}) as stream:
        assert stream.get_final_text() == "Hello from a real socket."


def test_real_socket_drop_is_recorded_and_replayed_at_the_same_point(tmp_path: Path) -> None:
    path = tmp_path / "drop.jsonl"
    events = tool_use_message("get_weather", {"location": "Paris"}, preamble="Checking the weather now.")
    with ScriptedUpstream([stream_reply(events[:6], ending="abort")]) as upstream, recorder.record(path):
        with pytest.raises(httpx2.RemoteProtocolError) as live_error:
            app(upstream.base_url)
    [interaction] = recorder.load(path)
    assert interaction.outcome == "disconnected"
    assert interaction.end.error.type == "httpx2.RemoteProtocolError"
    texts: list[str] = []
    client = replayer.FakeAnthropic(path)
    with pytest.raises(httpx2.RemoteProtocolError) as replayed_error:
        with client.messages.stream(**BODY) as stream:
            texts.extend(stream.text_stream)
    assert str(replayed_error.value) == str(live_error.value)
    assert "".join(texts) == "Checking the weather now."
