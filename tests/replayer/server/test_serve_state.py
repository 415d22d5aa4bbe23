"""`cassette serve` as a server people keep running: repeats, sessions, the admin API, the request
log, matching flags, the SDKs' timeout headers and clients that go away. Real sockets, the real
Python SDK and raw HTTP clients."""

from __future__ import annotations

import gc
import io
import json
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anthropic
import httpx2
import pytest

import recorder
from replayer import FakeAnthropic, NoMatchError, serve
from replayer.server._journal import Journal
from tests.helpers import (
    BODY,
    CASSETTES,
    cli_server,
    conversation,
    conversations,
    observe,
)

TEXT = CASSETTES / "text.jsonl"
TOOL_USE = CASSETTES / "tool_use.jsonl"
HEADERS = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
KEY = "sk-ant-" + "api03-" + "A" * 24


def answer(url: str, session: str | None = None, **kwargs: Any) -> str:
    """The text the real SDK streams from the server for BODY (or the error it raises)."""
    headers = {"x-cassette-session": session} if session else {}
    sdk = anthropic.Anthropic(base_url=url, api_key="sk-ant-test-not-a-key", default_headers=headers, max_retries=0)
    seen = observe(lambda: sdk, "stream", {**BODY, **kwargs})
    if seen.error is not None:
        return f"{seen.error[0].__name__}: {seen.error[1]}"
    return seen.final["content"][0]["text"]


def tool_call_2() -> dict[str, Any]:
    data = recorder.load(TOOL_USE)[1].request.body.data  # type: ignore[union-attr]
    return json.loads(json.dumps(data))


# --- item 1: repeats, --once, sessions, reset, the journal ---------------------------------------


def test_identical_requests_replay_in_order_then_the_last_keeps_answering(twice: Path) -> None:
    with serve(twice) as url:
        assert [answer(url) for _ in range(4)] == ["first", "second", "second", "second"]


def test_once_answers_each_recording_once_and_says_how_to_start_over(twice: Path) -> None:
    with serve(twice, once=True) as url:
        assert [answer(url), answer(url)] == ["first", "second"]
        third = answer(url)
        assert third.startswith("NotFoundError") and "already replayed" in third
        assert "POST /_cassette/reset" in third and "x-cassette-session" in third
        assert httpx2.post(f"{url}/_cassette/reset").json() == {"reset": ["default"]}
        assert answer(url) == "first"


def test_each_session_plays_from_the_start_on_its_own(twice: Path) -> None:
    with serve(twice, once=True) as url:
        assert answer(url) == "first"
        results: dict[str, list[str]] = {}

        def worker(name: str) -> None:
            results[name] = [answer(url, name), answer(url, name)]

        threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == {f"w{n}": ["first", "second"] for n in range(8)}
        assert answer(url) == "second"  # the default session went on where it was


def test_reset_one_session_or_all(twice: Path) -> None:
    with serve(twice, once=True) as url, httpx2.Client(base_url=url) as http:
        for session in (None, "a", "b"):
            assert [answer(url, session), answer(url, session)] == ["first", "second"]
        assert http.post("/_cassette/reset", params={"session": "a"}).json() == {"reset": ["a"]}
        assert answer(url, "a") == "first"
        assert "already replayed" in answer(url, "b") and "already replayed" in answer(url)
        assert http.post("/_cassette/reset").json() == {"reset": ["default", "a", "b"]}
        assert answer(url) == answer(url, "b") == "first"
        unknown = http.post("/_cassette/reset", params={"session": "nobody"})
        assert unknown.status_code == 404 and "no session 'nobody'" in unknown.json()["error"]["message"]
        assert http.get("/_cassette/reset").status_code == 405
        assert http.get("/_cassette/nothing").status_code == 404


def test_the_journal_says_what_answered_each_request(twice: Path) -> None:
    with serve(twice, TEXT) as url, httpx2.Client(base_url=url) as http:
        assert answer(url) == "first"
        assert answer(url, "w1", max_tokens=7).startswith("NotFoundError")
        raw = http.post("/v1/messages", json={**BODY, "stream": True, "note": KEY},
                        headers={**HEADERS, "x-api-key": KEY})
        assert raw.status_code == 404
        journal = http.get("/_cassette/requests").json()
        latest = http.get("/_cassette/requests", params={"limit": 1}).json()
        only_w1 = http.get("/_cassette/requests", params={"session": "w1"}).json()
        assert http.get("/_cassette/requests", params={"limit": "x"}).status_code == 400
        assert http.delete("/_cassette/requests").json() == {"cleared": True}
        assert http.get("/_cassette/requests").json()["requests"] == []
    entries = journal["requests"]
    assert journal["meta"] == {"total": 3, "kept": 3, "capacity": 1000}
    assert [e["id"] for e in entries] == [2, 1, 0]  # newest first, like WireMock
    hit, miss, secret = entries[2], entries[1], entries[0]
    assert hit["session"] == "default" and hit["request"]["method"] == "POST"
    assert hit["request"]["path"] == "/v1/messages" and hit["matched"] == {"file": str(twice), "interaction": 0}
    assert hit["status"] == 200 and hit["outcome"] == "complete" and hit["events"] >= 6
    assert hit["duration_ms"] > 0 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", hit["started"])
    assert miss["session"] == "w1" and miss["status"] == 404 and miss["outcome"] == "miss"
    assert miss["matched"] is None and miss["closest"] == {"file": str(twice), "interaction": 0}
    assert "max_tokens" in miss["message"]
    assert latest["requests"] == [secret] and only_w1["requests"] == [miss]
    assert KEY not in json.dumps(journal)  # headers and body previews are redacted


@pytest.mark.parametrize("limit", ["x", "-1", "1.5", "\u00b2", "\u0661", "", " 1"])
def test_a_limit_that_is_not_a_count_is_a_400_naming_what_is_expected(limit: str) -> None:
    with serve(TEXT) as url, httpx2.Client(base_url=url) as http:
        reply = http.get("/_cassette/requests", params={"limit": limit})
    assert reply.status_code == 400
    assert reply.json()["error"]["message"] == f"limit must be a whole number >= 0 (0-9 digits), got {limit!r}"


def test_the_journal_is_bounded() -> None:
    journal = Journal(capacity=3)
    for n in range(10):
        entry = journal.begin("default", "POST", "/v1/messages", [], b"x" * 1_000_000)
        entry.finish(200, "complete")
        journal.add(entry)
    dumped = journal.to_json()
    assert [e["id"] for e in dumped["requests"]] == [9, 8, 7] and dumped["meta"]["total"] == 10
    assert all(len(e["request"]["body"]) == 2000 and e["request"]["body_bytes"] == 1_000_000
               for e in dumped["requests"])


# --- item 2: the request log ----------------------------------------------------------------------


def test_one_log_line_per_request(twice: Path) -> None:
    log = io.StringIO()
    with serve(twice, log=log) as url:
        answer(url)
        answer(url, "w1", max_tokens=7)
        httpx2.get(f"{url}/_cassette/requests")  # the admin API is not logged
    lines = log.getvalue().splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} POST /v1/messages twice\.jsonl:0 200 \d+ events [\d.]+ ms", lines[0])
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} POST /v1/messages \[w1\] MISS \(closest twice\.jsonl:0\) 404 "
                        r"0 events [\d.]+ ms", lines[1])


def test_cassette_serve_logs_on_stderr_unless_quiet(twice: Path) -> None:
    printed: list[str] = []
    with cli_server("serve", str(twice), stderr=printed) as url:
        assert answer(url) == "first"
    assert re.search(r"POST /v1/messages twice\.jsonl:0 200 \d+ events", printed[0])
    assert printed[0].count("\n") == 1  # --quiet: see the other tests, where cli_server checks stderr is empty


# --- item 3: --match-on, --ignore-keys and advice for the person reading the 404 ------------------


def test_ignore_keys_on_the_command_line(twice: Path) -> None:
    with cli_server("serve", str(twice), "--quiet", "--ignore-keys", "metadata,temperature") as url:
        assert answer(url, metadata={"user_id": "run-42"}, extra_body={"temperature": 0.5}) == "first"
        miss = answer(url, extra_body={"top_k": 3})
    assert "ignore it: cassette serve --ignore-keys top_k." in miss
    assert "ignore_keys=" not in miss  # not a Python argument: the reader runs a server


def test_a_python_reader_is_told_the_argument(twice: Path) -> None:
    with pytest.raises(Exception, match=re.escape("ignore_keys=['metadata']")):
        FakeAnthropic(twice).messages.create(**BODY, stream=True, metadata={"user_id": "run-42"})
    with serve(twice) as url:
        response = httpx2.post(f"{url}/v1/messages", json={**BODY, "stream": True, "metadata": {"user_id": "1"}},
                               headers=HEADERS)
    assert "ignore it: serve(..., ignore_keys=['metadata'])." in response.json()["error"]["message"]


def test_bad_matching_flags_are_one_line_errors(twice: Path) -> None:
    from click.testing import CliRunner

    from replayer.cli import main

    for command in ("serve", "play"):
        result = CliRunner().invoke(main, [command, str(twice), "--match-on", "method,bodyy"])
        assert result.exit_code == 2 and result.output.count("\n") == 1
        assert result.output.startswith("Error: --match-on: unknown matcher 'bodyy'")


def test_play_takes_the_matching_flags() -> None:
    from click.testing import CliRunner

    from replayer.cli import main

    result = CliRunner().invoke(main, ["play", str(TEXT), "--match-on", "method,path", "--ignore-keys", "metadata"])
    assert result.exit_code == 0 and "Rayleigh" in result.output


# --- item 4: misses across a folder -----------------------------------------------------------------


def test_a_miss_across_a_folder_names_the_right_file_and_shows_the_whole_difference() -> None:
    body = tool_call_2()
    result = body["messages"][-1]["content"][0]
    result["content"] = result["content"].replace('"humidity": 62', '"humidity": 63')
    with serve(CASSETTES) as url:
        response = httpx2.post(f"{url}/v1/messages", json=body, headers=HEADERS)
    message = response.json()["error"]["message"]
    assert response.status_code == 404
    assert f"Closest: {TOOL_USE} interaction 1 (POST /v1/messages)" in message
    assert '-"humidity":62' in message and '+"humidity":63' in message
    assert "more lines" not in message and "more differing lines" not in message
    assert "Next closest:" in message and f"{TOOL_USE} interaction 0" in message


def test_a_big_difference_is_shown_bounded() -> None:
    body = tool_call_2()
    body["messages"].extend({"role": "user", "content": f"note {n}"} for n in range(500))
    with pytest.raises(Exception) as caught:
        FakeAnthropic(TOOL_USE).messages.create(**{k: v for k, v in body.items() if k != "stream"})
    message = str(caught.value)
    assert "… and " in message and "more differing lines" in message
    assert len(message) < 20_000 and message.count("\n") < 100


def big_miss(megabytes: float) -> bytes:
    body = conversation(39)
    body["messages"] += [{"role": "user", "content": "notes " * 30}] * int(megabytes * 1e6 / 200)
    return json.dumps(body).encode()


def test_explaining_a_miss_costs_little_whatever_the_cassette() -> None:
    """Bounded by a fingerprint shortlist: before, each miss was diffed against every recording (41 s here)."""
    client = FakeAnthropic(conversations(1000))
    for body in (json.loads(big_miss(5)), {**conversation(999), "max_tokens": 5}):
        started = time.monotonic()
        with pytest.raises(Exception, match="Closest: conversations-1000.jsonl interaction"):
            client.post("/v1/messages", body=body, cast_to=object)
        assert time.monotonic() - started < 5  # generous: benchmarks/bench_miss.py measures it


def test_a_match_is_answered_promptly_while_a_large_miss_is_explained() -> None:
    raw = big_miss(5)
    match = json.dumps(conversation(500)).encode()
    with serve(conversations(1000)) as url, httpx2.Client(base_url=url, timeout=60) as http:
        misses: list[int] = []

        def miss() -> None:
            misses.append(httpx2.post(f"{url}/v1/messages", content=raw, headers=HEADERS, timeout=60).status_code)

        threads = [threading.Thread(target=miss) for _ in range(3)]
        for thread in threads:
            thread.start()
        slowest = 0.0
        while any(t.is_alive() for t in threads):
            started = time.monotonic()
            assert http.post("/v1/messages", content=match, headers=HEADERS).status_code == 200
            slowest = max(slowest, time.monotonic() - started)
        for thread in threads:
            thread.join()
    assert misses == [404, 404, 404]
    assert slowest < 3.0  # generous; before, a match waited for the whole explanation (40 s)


# --- item 5: JSON-valued strings compared by value ----------------------------------------------------


def node_style(body: dict[str, Any]) -> dict[str, Any]:
    """The same tool loop as a Node app writes it: JSON.stringify, no spaces."""
    result = body["messages"][-1]["content"][0]
    result["content"] = json.dumps(json.loads(result["content"]), separators=(",", ":"))
    return body


def test_a_tool_result_written_by_json_stringify_matches_the_python_recording() -> None:
    body = node_style(tool_call_2())
    assert '"temperature":18' in body["messages"][-1]["content"][0]["content"]
    with serve(TOOL_USE) as url:
        response = httpx2.post(f"{url}/v1/messages", json=body, headers=HEADERS)
        assert response.status_code == 200 and "message_stop" in response.text
    assert list(FakeAnthropic(TOOL_USE).messages.create(**body))[-1].type == "message_stop"
    with pytest.raises(Exception, match="No recorded request"):
        FakeAnthropic(TOOL_USE, match_on=("method", "path", "exact_body")).messages.create(**body)


def test_match_on_exact_body_on_the_command_line_compares_strings_as_written() -> None:
    with cli_server("serve", str(TOOL_USE), "--quiet", "--match-on", "method,path,exact_body") as url:
        response = httpx2.post(f"{url}/v1/messages", json=node_style(tool_call_2()), headers=HEADERS)
    assert response.status_code == 404


# --- item 6: the SDKs' timeout headers, --max-stall -------------------------------------------------


def silent_for(url: str, headers: dict[str, str]) -> float:
    """Seconds until the server gives up on a silent stream (the client itself waits up to 20 s)."""
    started = time.monotonic()
    with httpx2.Client(base_url=url, timeout=20) as http, \
            http.stream("POST", "/v1/messages", json=recorder.load(TEXT)[0].request.body.data,  # type: ignore[union-attr]
                        headers={**HEADERS, **headers}) as response:
        with pytest.raises(httpx2.RemoteProtocolError):
            for _ in response.iter_raw():
                pass
    return time.monotonic() - started


@pytest.mark.parametrize("header", ["X-Stainless-Timeout", "x-stainless-read-timeout"])
def test_silence_follows_the_timeout_the_client_announces(header: str) -> None:
    with serve(TEXT, faults=["timeout@events=5"]) as url:
        assert 1.0 <= silent_for(url, {header: "1"}) < 10


def test_no_silence_outlasts_max_stall() -> None:
    with serve(TEXT, faults=["stall@events=3:120s"], max_stall=1) as url:
        assert 1.0 <= silent_for(url, {}) < 10
        assert 1.0 <= silent_for(url, {"x-stainless-timeout": "600"}) < 10
    with cli_server("serve", str(TEXT), "--quiet", "--fault", "timeout@events=5", "--max-stall", "1") as url:
        assert 1.0 <= silent_for(url, {}) < 10


def test_a_typescript_style_client_times_out_on_its_own_timeout() -> None:
    """The TS SDK sends only X-Stainless-Timeout; its own read timeout, not 600 s, ends the wait."""
    with serve(TEXT, faults=["timeout@events=5"]) as url:
        started = time.monotonic()
        with httpx2.Client(base_url=url, timeout=1.0) as http, \
                http.stream("POST", "/v1/messages", json=recorder.load(TEXT)[0].request.body.data,  # type: ignore[union-attr]
                            headers={**HEADERS, "X-Stainless-Timeout": "1"}) as response:
            with pytest.raises(httpx2.ReadTimeout):
                for _ in response.iter_raw():
                    pass
        assert time.monotonic() - started < 5


# --- issue 12 item 8: a client leaving in the middle of its body -------------------------------------


def send_half_a_body(url: str) -> None:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: 100000\r\n\r\n{\"model\": \"claude")
        time.sleep(0.1)


def test_a_client_leaving_mid_body_is_one_log_line_not_a_traceback(twice: Path) -> None:
    printed: list[str] = []
    with cli_server("serve", str(twice), stderr=printed) as url:
        for _ in range(3):
            send_half_a_body(url)
        time.sleep(0.3)
        assert answer(url) == "first"  # still serving
        journal = httpx2.get(f"{url}/_cassette/requests").json()["requests"]
    assert "Traceback" not in printed[0] and "ClientDisconnect" not in printed[0]
    lines = printed[0].splitlines()
    assert len(lines) == 4 and all(line.endswith("disconnected") for line in lines[:3])
    assert [e["outcome"] for e in journal] == ["complete", "disconnected", "disconnected", "disconnected"]


def test_a_miss_leaves_no_cycle_holding_its_request_body() -> None:
    """The miss's traceback held the request's frames in a cycle (through the worker thread's
    future): each 5 MB miss stayed in memory until a full collection (the soak's RSS growth)."""
    big = json.dumps({**conversation(39), "padding": ["notes " * 30] * 28_000}).encode()
    with serve(TEXT) as url:
        assert httpx2.post(f"{url}/v1/messages", json={"warm": "up"}, headers=HEADERS).status_code == 404
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            assert httpx2.post(f"{url}/v1/messages", content=big, headers=HEADERS, timeout=60).status_code == 404
            gc.collect()
            kept = [o for o in gc.garbage if isinstance(o, NoMatchError) or type(o).__name__ == "frame"]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    assert kept == []
