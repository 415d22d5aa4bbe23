"""`replayer.serve` / `cassette serve`: the replay transport behind a real HTTP socket.

Every check compares what a client gets over the socket with what FakeAnthropic gives for
the same cassette, matching and faults: the server must add nothing and lose nothing.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest

import recorder
import replayer
from replayer import FakeAnthropic, FakeAsyncAnthropic, ReplayTransport, serve
from replayer.fuzzing._synthetic import sse_bytes, text_message
from replayer.server._serve import load_all
from tests.helpers import (
    CASSETTES,
    CLI,
    Observed,
    Upstream,
    aobserve,
    cli_server,
    json_reply,
    observe,
    recording,
    run,
    sse_reply,
)

TEXT = CASSETTES / "text.jsonl"
HEADERS = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
MESSAGE = {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
           "content": [{"type": "text", "text": "Hello there."}], "stop_reason": "end_turn",
           "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 3}}


def body_of(path: Path, index: int = 0) -> dict[str, Any]:
    """The recorded request body, as the app passes it to messages.stream / create."""
    data = recorder.load(path)[index].request.body.data  # type: ignore[union-attr]
    return {k: v for k, v in data.items() if k != "stream"}


def client(url: str, **kwargs: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="sk-ant-test-not-a-key", **kwargs)


async def aseen(url: str, how: str, body: dict[str, Any] | None = None, **kwargs: Any) -> Observed:
    """`aobserve` with an AsyncAnthropic on `url`, closed before the event loop ends."""
    async with anthropic.AsyncAnthropic(base_url=url, api_key="sk-ant-test-not-a-key", **kwargs) as sdk:
        return await aobserve(lambda: sdk, how, body)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cassette with a stream, a non-streaming message and a count_tokens call, recorded by the recorder."""
    path = tmp_path_factory.mktemp("server") / "mixed.jsonl"
    upstream = Upstream([sse_reply(sse_bytes(text_message("Hi! How can I help?"))),
                         json_reply(200, json.dumps(MESSAGE).encode()),
                         json_reply(200, b'{"input_tokens": 12}')])
    with recording(upstream, path) as sdk:
        for how in ("stream", "create", "count"):
            assert observe(lambda: sdk, how).error is None
    return path


# --- the SDK over the socket sees what FakeAnthropic gives --------------------------------------


@pytest.mark.parametrize("how", ["stream", "create-stream"])
def test_sync_sdk_streams_as_with_fake_anthropic(how: str) -> None:
    body = body_of(TEXT)
    expected = observe(lambda: FakeAnthropic(TEXT), how, body)
    with serve(TEXT) as url:
        seen = observe(lambda: client(url), how, body)
    assert seen.error is None and seen.events == expected.events and seen.final == expected.final
    assert len(seen.events) >= 40


@pytest.mark.parametrize("how", ["stream", "create-stream"])
def test_async_sdk_streams_as_with_fake_anthropic(how: str) -> None:
    body = body_of(TEXT)
    expected = run(aobserve(lambda: FakeAsyncAnthropic(TEXT), how, body))
    with serve(TEXT) as url:
        seen = run(aseen(url, how, body))
    assert seen.error is None and seen.events == expected.events and seen.final == expected.final


def test_non_streaming_and_count_tokens(mixed: Path) -> None:
    with serve(mixed) as url:
        stream = observe(lambda: client(url), "stream")
        created = observe(lambda: client(url), "create")
        counted = run(aseen(url, "count"))
    assert stream.final["content"][0]["text"] == "Hi! How can I help?"
    assert created.final == MESSAGE
    assert counted.final == {"input_tokens": 12}


def test_a_raw_http_client_reads_the_recorded_sse() -> None:
    cassette = recorder.load(TEXT)
    with serve(TEXT) as url, httpx2.Client(base_url=url) as http, \
            http.stream("POST", "/v1/messages", json=cassette[0].request.body.data, headers=HEADERS) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["request-id"] == "req_synthetic_text_01"
        assert "content-length" not in response.headers
        lines = list(response.iter_lines())
    names = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    data = [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")]
    assert names == [e.event for e in cassette[0].events]
    assert data == [e.data for e in cassette[0].events]


def test_folders_and_several_files_merge_in_order(tmp_path: Path) -> None:
    merged = load_all([TEXT, CASSETTES / "tool_use.jsonl"])
    assert [i.id for i in merged] == [0, 1, 2] and "text.jsonl" in str(merged.path)
    folder = load_all([CASSETTES])
    assert len(folder) == sum(len(recorder.load(p)) for p in CASSETTES.glob("*.jsonl"))
    with serve(CASSETTES) as url:
        assert observe(lambda: client(url), "stream", body_of(TEXT)).error is None
        assert observe(lambda: client(url), "stream", body_of(CASSETTES / "tool_use.jsonl")).error is None
    (tmp_path / "empty").mkdir()
    with pytest.raises(recorder.CassetteError, match="no \\*.jsonl"):
        load_all([tmp_path / "empty"])


def test_twenty_concurrent_clients_each_get_the_whole_stream() -> None:
    body = body_of(TEXT)
    expected = observe(lambda: FakeAnthropic(TEXT), "stream", body)

    async def many(url: str) -> list[Any]:
        return await asyncio.gather(*(aseen(url, "stream", body) for _ in range(20)))

    with serve(*[TEXT] * 20, speed=4.0) as url:
        started = time.monotonic()
        seen = run(many(url))
        elapsed = time.monotonic() - started
    assert all(s.error is None and s.events == expected.events for s in seen)
    one_stream = 1.54 / 4  # the recording's length at speed 4
    assert elapsed < 20 * one_stream / 2, elapsed  # concurrent: well under one after another (pacing: benchmarks/)


# --- misses ---------------------------------------------------------------------------------------


def test_a_miss_is_a_404_naming_the_closest_request_and_the_server_keeps_serving() -> None:
    body = body_of(TEXT)
    with serve(TEXT, once=True) as url:
        with httpx2.Client(base_url=url) as http:
            miss = http.post("/v1/messages", json={**body, "max_tokens": 7, "stream": True}, headers=HEADERS)
        assert miss.status_code == 404 and miss.headers["x-should-retry"] == "false"
        error = miss.json()
        assert error["type"] == "error" and error["error"]["type"] == "not_found_error"
        assert "No recorded request" in error["error"]["message"] and "max_tokens" in error["error"]["message"]
        sdk_miss = observe(lambda: client(url), "count")
        assert sdk_miss.error is not None and sdk_miss.error[0] is anthropic.NotFoundError
        assert observe(lambda: client(url), "stream", body).error is None  # still serving
        again = observe(lambda: client(url), "stream", body)
        assert again.error is not None and "already replayed" in again.error[1]


# --- faults over the socket -----------------------------------------------------------------------


def test_529_twice_then_success_with_the_sdk_retrying() -> None:
    transport = ReplayTransport(TEXT, faults=["529:retry-after=1msx2"])
    with serve(transport) as url:
        seen = observe(lambda: client(url, max_retries=2), "stream", body_of(TEXT))
    assert seen.error is None and seen.final["stop_reason"] == "end_turn"
    assert transport.requests == 3 and len(transport.calls) == 1


def test_529_without_retries_is_an_overloaded_error() -> None:
    with serve(TEXT, faults=["529"]) as url:
        seen = observe(lambda: client(url, max_retries=0), "stream", body_of(TEXT))
    assert seen.error is not None and seen.error[0] is anthropic.OverloadedError


@pytest.mark.parametrize(("spec", "error"), [("drop@events=8", httpx2.RemoteProtocolError),
                                             ("read-error@events=8", httpx2.ReadError)])
def test_a_mid_stream_break_arrives_as_a_broken_connection(spec: str, error: type) -> None:
    body = body_of(TEXT)
    expected = observe(lambda: FakeAnthropic(TEXT, faults=[spec]), "stream", body)
    with serve(TEXT, faults=[spec]) as url:
        seen = observe(lambda: client(url), "stream", body)
    assert expected.error is not None and expected.error[0] is error
    assert seen.error == expected.error and seen.events == expected.events and len(seen.events) > 0


def test_a_recorded_drop_replays_as_a_drop() -> None:
    dropped = CASSETTES / "dropped.jsonl"
    expected = observe(lambda: FakeAnthropic(dropped), "stream", body_of(dropped))
    with serve(dropped) as url:
        seen = observe(lambda: client(url), "stream", body_of(dropped))
    assert seen.error == expected.error and seen.error[0] is httpx2.RemoteProtocolError
    assert seen.events == expected.events


def test_a_timeout_fault_goes_silent_until_the_client_gives_up() -> None:
    expected = observe(lambda: FakeAnthropic(TEXT, faults=["timeout@events=5"], timeout=0.5), "stream", body_of(TEXT))
    with serve(TEXT, faults=["timeout@events=5"]) as url:
        started = time.monotonic()
        seen = observe(lambda: client(url, timeout=0.5, max_retries=0), "stream", body_of(TEXT))
        elapsed = time.monotonic() - started
    assert seen.error is not None and seen.error[0] is httpx2.ReadTimeout
    assert seen.events == expected.events and 0.5 <= elapsed < 2.0


def test_a_stall_pauses_the_socket_then_the_stream_goes_on() -> None:
    with serve(TEXT, faults=["stall@events=3:300ms"]) as url:
        started = time.monotonic()
        seen = observe(lambda: client(url), "stream", body_of(TEXT))
        elapsed = time.monotonic() - started
    assert seen.error is None and seen.final["stop_reason"] == "end_turn" and 0.3 <= elapsed < 1.5


def test_an_in_stream_error_event_travels_as_bytes() -> None:
    expected = observe(lambda: FakeAnthropic(TEXT, faults=["error@events=6"]), "stream", body_of(TEXT))
    with serve(TEXT, faults=["error@events=6"]) as url:
        seen = observe(lambda: client(url), "stream", body_of(TEXT))
    assert seen.error == expected.error and seen.error[0] is anthropic.APIStatusError


# --- pacing ---------------------------------------------------------------------------------------


def test_speed_one_streams_at_the_recorded_pace() -> None:
    cassette = recorder.load(TEXT)
    recorded = [e.t for e in cassette[0].events]
    arrived = []
    with serve(TEXT, speed=1.0) as url, httpx2.Client(base_url=url) as http:
        started = time.monotonic()
        with http.stream("POST", "/v1/messages", json=cassette[0].request.body.data, headers=HEADERS) as response:
            for line in response.iter_lines():
                if line.startswith("event: "):
                    arrived.append(time.monotonic() - started)
    errors = [a - t for a, t in zip(arrived, recorded)]
    assert len(arrived) == len(recorded)
    assert min(errors) > -0.005 and max(errors) < 0.1  # loose: a shared, noisy CI machine


# --- the CLI --------------------------------------------------------------------------------------

def test_cassette_serve_prints_its_url_serves_and_stops_on_sigint() -> None:
    with cli_server("serve", str(TEXT), "--port", "0", "--quiet") as url:
        seen = observe(lambda: client(url), "stream", body_of(TEXT))
        assert seen.error is None and seen.final["stop_reason"] == "end_turn"


def test_cassette_serve_rejects_a_bad_cassette_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    result = subprocess.run([*CLI, "serve", str(bad)], check=False, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


def test_cassette_serve_rejects_a_bad_fault_with_one_line() -> None:
    from click.testing import CliRunner

    from replayer.cli import main

    result = CliRunner().invoke(main, ["serve", str(TEXT), "--fault", "drop@events=500"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output.startswith("Error: fault drop@events=500 can never fire")


def test_no_response_faults_close_the_connection_without_an_answer() -> None:
    with serve(TEXT, faults=["connect-error"]) as url:
        seen = observe(lambda: client(url, max_retries=0), "stream", body_of(TEXT))
    assert seen.error is not None and seen.error[0] is anthropic.APIConnectionError and seen.events == []


def test_leaving_serve_cuts_streams_in_flight_at_once() -> None:
    seen: list[Observed] = []
    with serve(TEXT, faults=["stall@events=3:60s"]) as url:
        thread = threading.Thread(target=lambda: seen.append(observe(lambda: client(url), "stream", body_of(TEXT))))
        thread.start()
        time.sleep(0.3)
        started = time.monotonic()
    stopped = time.monotonic() - started
    thread.join(timeout=5)
    assert stopped < 1.0 and seen and seen[0].error is not None
    assert seen[0].error[0] is httpx2.RemoteProtocolError


# --- malformed request bodies ----------------------------------------------------------------------

MALFORMED = [b'{"model": ', b"[1, 2]", b'"hello"', b'{"model": "m"}}', b"\xff\xfe"]


def raw_post(url: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """POST `body` to /v1/messages over a plain socket, as `curl -d` does; (status, headers, body)."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: %s\r\ncontent-type: application/json\r\n"
                     b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (host.encode(), len(body), body))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
    return int(status_line.split()[1]), headers, payload


@pytest.mark.parametrize("body", MALFORMED)
def test_a_body_that_is_not_a_json_object_is_a_400_as_the_api_answers_it(body: bytes) -> None:
    log = io.StringIO()
    with serve(TEXT, log=log) as url:
        status, headers, payload = raw_post(url, body)
        with httpx2.Client(base_url=url) as http:
            journal = http.get("/_cassette/requests").json()["requests"][0]
    assert status == 400 and headers["x-should-retry"] == "false"
    error = json.loads(payload)
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith("The request body is not ")
    assert "No recorded request" not in error["error"]["message"]
    assert journal["status"] == 400 and journal["outcome"] == "invalid_request"
    assert " 400 " in log.getvalue() and "invalid_request" in log.getvalue()


def test_the_sdk_gets_a_bad_request_error_over_the_socket_and_in_process_the_same_message() -> None:
    with serve(TEXT) as url, pytest.raises(anthropic.BadRequestError, match="not valid JSON") as served:
        client(url, max_retries=0).post("/v1/messages", cast_to=object, content=b'{"model": ')
    with pytest.raises(replayer.InvalidRequestError) as local:
        FakeAnthropic(TEXT).post("/v1/messages", cast_to=object, content=b'{"model": ')
    assert served.value.body["error"]["message"] == str(local.value)  # type: ignore[index]
    assert isinstance(local.value, replayer.NoMatchError)  # a miss: record modes send it upstream


def test_a_recorded_request_whose_body_is_not_json_still_replays(tmp_path: Path) -> None:
    lines = TEXT.read_text().splitlines()
    request = json.loads(lines[1])
    request.pop("body", None)
    request["raw"] = '{"model": '
    lines[1] = json.dumps(request)
    path = tmp_path / "raw.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with serve(path) as url:
        status, _, _ = raw_post(url, b'{"model": ')
    assert status == 200
