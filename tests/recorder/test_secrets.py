"""No key reaches disk in any form a reader could rebuild, on every write path (issue 12, items 4-5).

Placements: secret headers, URL queries (plain and percent-encoded), request bodies, event data
(plain and JSON-escaped), keys split across consecutive deltas (text, tool input, thinking) and
across network chunks, error messages, tool inputs. Write paths: RecordingTransport (sync and
async), `record()`, the proxy, import-sse, import-vcr, export-vcr, saved fuzz failures.
A reader "rebuilds" a key by decoding JSON, undoing `\\uXXXX` and `%XX` escapes, or joining the
stored deltas of a content block; every one of these views is checked.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anthropic
import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recorder
from replayer import Chunk, Reply, ScriptedUpstream
from replayer._vcr import export_vcr, import_vcr
from replayer.fuzzing._generated import GeneratedStream
from tests.helpers import Chunks

BODY_PART = "A1b2C3d4"  # any 8 characters of the key's secret part contain one of LEAKS
LEAKS = ("A1b2", "C3d4")
KEY = "sk-ant-" + "api03-" + BODY_PART * 11 + "-xyz_AA"
SSE_HEADERS = {"content-type": "text/event-stream"}
# Noise around a key: no letters or digits, so it can never spell a piece of the key by chance.
noise = st.text(st.sampled_from(list(" .,:;!?(){}[]=\"'\\/\n_-é€😀%&+#")), max_size=6)


def json_escaped(text: str, every: bool) -> str:
    """`text` as JSON string content with the key's characters written as \\uXXXX escapes."""
    escape = (lambda c: f"\\u{ord(c):04x}") if every else (lambda c: "\\u002d" if c == "-" else c)
    return json.dumps(text, ensure_ascii=False)[1:-1].replace(KEY, "".join(escape(c) for c in KEY))


# --- scenarios -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One request and its streamed answer, a key placed somewhere in it."""

    where: str
    url: str
    headers: dict[str, str]
    body: bytes
    events: list[tuple[str, str]]  # (event name, data text exactly as on the wire)
    cuts: tuple[int, ...] = ()
    error: str | None = None

    @property
    def wire(self) -> bytes:
        return b"".join(f"event: {name}\ndata: {data}\n\n".encode() for name, data in self.events)

    def at(self, base: str) -> Scenario:
        """The same scenario sent to `base` (a real server) instead of the placeholder host."""
        return replace(self, url=self.url.replace("http://upstream.test", base))

    def chunks(self) -> list[bytes]:
        wire, points = self.wire, sorted({c % max(len(self.wire), 1) for c in self.cuts} | {0, len(self.wire)})
        return [wire[a:b] for a, b in itertools.pairwise(points) if b > a]


def message_events(blocks: list[tuple[str, str, list[str]]], escape: bool | None = None) -> list[tuple[str, str]]:
    """A whole message; each block (kind, delta type, pieces) streams its pieces as consecutive deltas."""
    out = [("message_start", json.dumps({"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [], "stop_reason": None,
        "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}}))]
    fields = {"text_delta": "text", "input_json_delta": "partial_json", "thinking_delta": "thinking"}
    starts = {"text": {"type": "text", "text": ""}, "tool_use": {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
              "thinking": {"type": "thinking", "thinking": "", "signature": ""}}
    for index, (kind, delta_type, pieces) in enumerate(blocks):
        out.append(("content_block_start", json.dumps({"type": "content_block_start", "index": index,
                                                       "content_block": starts[kind]})))
        for piece in pieces:
            data = json.dumps({"type": "content_block_delta", "index": index,
                               "delta": {"type": delta_type, fields[delta_type]: piece}}, ensure_ascii=False)
            if escape is not None:
                data = data.replace(json.dumps(piece, ensure_ascii=False)[1:-1], json_escaped(piece, escape))
            out.append(("content_block_delta", data))
        out.append(("content_block_stop", json.dumps({"type": "content_block_stop", "index": index})))
    out += [("message_delta", json.dumps({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                          "usage": {"output_tokens": 2}})),
            ("message_stop", '{"type":"message_stop"}')]
    return out


PLACEMENTS = ("x-api-key", "authorization", "cookie", "x-custom-token", "api_key", "x-auth", "header-value",
              "header-base64", "url", "url-percent", "url-base64", "body", "body-escaped", "body-base64", "text",
              "text-escaped", "text-all-escaped", "text-base64", "split-text", "split-tool", "split-thinking",
              "split-escaped-tool", "split-base64", "split-percent", "tool-input", "tool-input-escaped", "error", "raw-event")


def b64(text: str, urlsafe: bool = False) -> str:
    data = text.encode()
    return (base64.urlsafe_b64encode(data) if urlsafe else base64.b64encode(data)).decode()


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    where = draw(st.sampled_from(PLACEMENTS))
    before, after = draw(noise), draw(noise)
    secret = before + KEY + after
    split = draw(st.integers(1, len(secret) - 1))
    url, headers, body = "http://upstream.test/v1/messages", {"anthropic-version": "2023-06-01"}, b'{"q":"hi"}'
    events = message_events([("text", "text_delta", ["Hello", " world"])])
    error = None
    in_header = "".join(c for c in secret if c.isprintable() and c.isascii())
    encoded = b64(secret, urlsafe=draw(st.booleans()))  # noise before the key: all three alignments
    if where in ("x-api-key", "authorization", "cookie", "x-custom-token", "api_key", "x-auth"):
        headers[where] = in_header
    elif where == "header-value":
        headers["x-note"] = in_header
    elif where == "header-base64":
        headers["x-forwarded-basic"] = "Basic " + b64("user:" + secret)
    elif where == "url-base64":
        url += "?state=" + encoded.rstrip("=")
    elif where == "body-base64":
        source = {"type": "base64", "media_type": "text/plain", "data": encoded}
        body = json.dumps({"messages": [{"role": "user", "content": [{"type": "document", "source": source}]}]}).encode()
    elif where == "text-base64":
        events = message_events([("text", "text_delta", [f"Here: {encoded} ok"])])
    elif where == "url":
        url += "?key=" + "".join(c for c in in_header if c not in "#&%+ \\\"'")
    elif where == "url-percent":
        url += "?key=" + "".join(f"%{b:02X}" for b in secret.encode())
    elif where in ("body", "body-escaped"):
        body = ('{"messages":[{"role":"user","content":"' +
                json_escaped(secret, every=True) if where == "body-escaped" else
                '{"messages":[{"role":"user","content":' + json.dumps(secret)[:-1]).encode() + b'"}]}'
    elif where in ("text", "text-escaped", "text-all-escaped"):
        escape = None if where == "text" else where == "text-all-escaped"
        events = message_events([("text", "text_delta", ["Hi ", secret, "!"])], escape)
    elif where.startswith("split-"):
        kind = {"split-text": ("text", "text_delta"), "split-thinking": ("thinking", "thinking_delta"),
                "split-base64": ("text", "text_delta"), "split-percent": ("text", "text_delta")}.get(
            where, ("tool_use", "input_json_delta"))
        text = secret if kind[0] != "tool_use" else json.dumps({"api_key": secret})
        if where == "split-escaped-tool":
            text = '{"api_key": "' + json_escaped(secret, every=False) + '"}'
        elif where == "split-base64":
            text = f"Here: {encoded} ok"
        elif where == "split-percent":
            text = "see " + "".join(f"%{b:02X}" if draw(st.booleans()) else chr(b) for b in secret.encode()
                                    if chr(b).isalnum() or chr(b) in "-_") + " ok"
        split = min(split, len(text) - 1)
        pieces = [text[:split], text[split:]]
        if draw(st.booleans()):  # three pieces
            third = draw(st.integers(0, len(pieces[1])))
            pieces = [pieces[0], pieces[1][:third], pieces[1][third:]]
        events = message_events([(*kind, [p for p in pieces if p])])
    elif where in ("tool-input", "tool-input-escaped"):
        text = json.dumps({"api_key": secret}) if where == "tool-input" else (
            '{"api_key": "' + json_escaped(secret, every=True) + '"}')
        events = message_events([("tool_use", "input_json_delta", [text])])
    elif where == "error":
        error = f"connection reset while talking to {secret}"
        events = events[:3]
    elif where == "raw-event":
        events = [*events[:-1], ("weird", secret.replace("\n", " ")), events[-1]]
    cuts = tuple(draw(st.lists(st.integers(0, 10_000), max_size=4)))
    return Scenario(where, url, headers, body, events, cuts, error)


# --- what a reader can rebuild ---------------------------------------------------------------


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def views(text: str) -> Iterator[str]:
    """`text` and what undoing its escapes gives, and what its base64 runs decode to."""
    yield text
    yield unquote(unquote(text))
    unescaped = re.sub(r"\\+u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    yield unescaped
    yield unquote(unescaped)
    for run in re.findall(r"[A-Za-z0-9+/_-]{8,}", text):
        run = run.replace("-", "+").replace("_", "/")
        for start in range(4):  # the run may start anywhere in a base64 quantum
            piece = run[start:]
            yield base64.b64decode(piece[: len(piece) // 4 * 4]).decode("latin-1")


def joined_deltas(cassette: recorder.Cassette) -> Iterator[str]:
    for interaction in cassette:
        streams: dict[tuple[Any, str], str] = {}
        for event in interaction.events:
            data = event.data
            if isinstance(data, dict) and isinstance(data.get("delta"), dict):
                for field, value in data["delta"].items():
                    if field != "type" and isinstance(value, str):
                        key = (data.get("index"), field)
                        streams[key] = streams.get(key, "") + value
        yield from streams.values()


def assert_no_key(texts: list[str], cassettes: list[recorder.Cassette]) -> None:
    candidates = list(texts)
    for text in texts:
        for line in text.splitlines():
            try:
                candidates += strings(json.loads(line))
            except ValueError:
                pass
    for cassette in cassettes:
        candidates += joined_deltas(cassette)
        candidates += (s for line in cassette.lines() for s in strings(line))
    for candidate in candidates:
        for view in views(candidate):
            assert not any(leak in view for leak in LEAKS), f"a piece of the key is readable: {view!r}"


# --- write paths ---------------------------------------------------------------------------


def mock(scenario: Scenario) -> httpx2.MockTransport:
    def answer(request: httpx2.Request) -> httpx2.Response:
        error = httpx2.ReadError(scenario.error) if scenario.error else None
        return httpx2.Response(200, headers=SSE_HEADERS, stream=Chunks(scenario.chunks(), error))
    return httpx2.MockTransport(answer)


def send(client: httpx2.Client, scenario: Scenario) -> bytes:
    try:
        return client.post(scenario.url, headers=scenario.headers, content=scenario.body).content
    except httpx2.TransportError:  # the scripted break
        return b""


def transport_sync(scenario: Scenario, out: Path) -> list[Path]:
    with httpx2.Client(transport=recorder.RecordingTransport(out, mock(scenario))) as client:
        received = send(client, scenario)
    assert scenario.error or received == scenario.wire  # the app gets the original bytes
    return [out]


def transport_async(scenario: Scenario, out: Path) -> list[Path]:
    async def main() -> bytes:
        async with httpx2.AsyncClient(transport=recorder.AsyncRecordingTransport(out, mock(scenario))) as client:
            try:
                return (await client.post(scenario.url, headers=scenario.headers, content=scenario.body)).content
            except httpx2.ReadError:
                return b""
    received = asyncio.run(main())
    assert scenario.error or received == scenario.wire
    return [out]


def scripted(scenario: Scenario) -> Reply:
    return Reply(chunks=tuple(Chunk(c) for c in scenario.chunks()), ending="abort" if scenario.error else "clean")


def patched(scenario: Scenario, out: Path) -> list[Path]:
    with ScriptedUpstream([scripted(scenario)]) as upstream, recorder.record(out):
        with httpx2.Client() as client:
            send(client, scenario.at(upstream.base_url))
    return [out]


def through_proxy(scenario: Scenario, out: Path) -> list[Path]:
    with ScriptedUpstream([scripted(scenario)]) as upstream, recorder.proxy(out, upstream=upstream.base_url) as url:
        with httpx2.Client() as client:
            send(client, scenario.at(url))
    return [out]


def imported_sse(scenario: Scenario, out: Path) -> list[Path]:
    return [recorder.save(recorder.import_sse(scenario.wire), out)]


def vcr_yaml(scenario: Scenario, path: Path) -> Path:
    from vcr.persisters.filesystem import FilesystemPersister
    from vcr.request import Request as VcrRequest
    from vcr.serializers import yamlserializer

    request = VcrRequest("POST", scenario.url, scenario.body, scenario.headers)
    response = {"status": {"code": 200, "message": "OK"}, "headers": {"content-type": ["text/event-stream"]},
                "body": {"string": scenario.wire}}
    FilesystemPersister.save_cassette(path, {"requests": [request], "responses": [response]}, yamlserializer)
    return path


def imported_vcr(scenario: Scenario, out: Path) -> list[Path]:
    return [recorder.save(import_vcr(vcr_yaml(scenario, out.with_suffix(".in.yaml"))), out)]


def exported_vcr(scenario: Scenario, out: Path) -> list[Path]:
    # An in-memory cassette holding the secret, as import_vcr or a test builds one, never saved.
    cassette = import_vcr(vcr_yaml(scenario, out.with_suffix(".in.yaml")))
    target = out.with_suffix(".yaml")
    export_vcr(cassette, target)
    out.with_suffix(".in.yaml").unlink()
    return [target]


def saved_fuzz_failure(scenario: Scenario, out: Path) -> list[Path]:
    events = tuple((name, json.loads(data) if name != "weird" else data) for name, data in scenario.events)
    return [GeneratedStream(events, final_message={}).save(out)]


WRITE_PATHS: dict[str, tuple[Callable[[Scenario, Path], list[Path]], int]] = {
    "RecordingTransport": (transport_sync, 150),
    "AsyncRecordingTransport": (transport_async, 60),
    "record()": (patched, 25),
    "proxy": (through_proxy, 25),
    "import-sse": (imported_sse, 80),
    "import-vcr": (imported_vcr, 40),
    "export-vcr": (exported_vcr, 40),
    "saved fuzz failure": (saved_fuzz_failure, 60),
}
placements_tried: dict[str, int] = {}


def check(path_name: str, scenario: Scenario, directory: Path) -> None:
    write, _ = WRITE_PATHS[path_name]
    out = directory / "c.jsonl"
    written = write(scenario, out)
    texts = [p.read_text(encoding="utf-8") for p in written]
    cassettes = [recorder.load(p) for p in written if p.suffix == ".jsonl"]
    cassettes += [import_vcr(p) for p in written if p.suffix == ".yaml"]
    assert_no_key(texts, cassettes)
    for p in directory.iterdir():
        p.unlink()
    placements_tried[path_name] = placements_tried.get(path_name, 0) + 1


@pytest.mark.parametrize("path_name", list(WRITE_PATHS))
def test_no_key_is_recoverable_from_disk(path_name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = tmp_path_factory.mktemp("secrets")

    @settings(max_examples=WRITE_PATHS[path_name][1], deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(scenarios())
    def run(scenario: Scenario) -> None:
        check(path_name, scenario, directory)

    run()


# --- the reproductions of issue 12, one by one -----------------------------------------------


def test_a_json_escaped_key_in_event_data_is_redacted_on_the_fast_path(tmp_path: Path) -> None:
    scenario = Scenario("text-escaped", "http://upstream.test/v1/messages", {}, b"{}",
                        message_events([("text", "text_delta", [f"my key {KEY} ok"])], escape=False))
    assert "\\u002d" in scenario.wire.decode()
    transport_sync(scenario, tmp_path / "c.jsonl")
    loaded = recorder.load(tmp_path / "c.jsonl")
    assert loaded[0].events[2].data["delta"]["text"] == "my key REDACTED ok"


def test_a_percent_encoded_key_in_the_url_is_redacted(tmp_path: Path) -> None:
    url = "http://upstream.test/v1/messages?beta=1&key=" + KEY.replace("-", "%2D")
    transport_sync(Scenario("url", url, {}, b"{}", message_events([])), tmp_path / "c.jsonl")
    assert recorder.load(tmp_path / "c.jsonl")[0].request.url == (  # type: ignore[union-attr]
        "http://upstream.test/v1/messages?beta=1&key=REDACTED")


@pytest.mark.parametrize("kind", [("text", "text_delta"), ("tool_use", "input_json_delta"),
                                  ("thinking", "thinking_delta")])
@pytest.mark.parametrize("split", [1, 2, 3, 6, 7, 13, 20, len(KEY) - 1])
def test_a_key_split_across_deltas_cannot_be_rebuilt(tmp_path: Path, kind: tuple[str, str], split: int) -> None:
    text = f"use {KEY} now"
    pieces = [text[: 4 + split], text[4 + split:]]
    scenario = Scenario("split", "http://upstream.test/v1/messages", {}, b"{}", message_events([(*kind, pieces)]))
    client = anthropic.Anthropic(api_key="k", http_client=httpx2.Client(
        transport=recorder.RecordingTransport(tmp_path / "c.jsonl", mock(scenario))))
    received = [e.delta for e in client.messages.create(model="m", max_tokens=1, messages=[], stream=True)
                if e.type == "content_block_delta"]
    assert [getattr(d, "text", None) or getattr(d, "partial_json", None) or d.thinking for d in received] == pieces
    cassette = recorder.load(tmp_path / "c.jsonl")
    assert_no_key([(tmp_path / "c.jsonl").read_text()], [cassette])
    joined = next(joined_deltas(cassette))  # block 0
    assert joined.startswith("use ") and joined.endswith("REDACTED now")


@pytest.mark.parametrize("encode", [lambda key: key, lambda key: key.replace("-", "%2D"),
                                    lambda key: key.replace("-", "\\u002d"), lambda key: key.replace("-", "%5Cu002d")],
                         ids=["plain", "percent", "json-escaped", "percent-and-json"])
def test_a_key_right_after_a_key_in_the_next_delta_is_redacted(tmp_path: Path, encode) -> None:  # type: ignore[no-untyped-def]
    # The first key's match runs on into the next delta's `sk`; the second key must still be found.
    scenario = Scenario("split", "http://upstream.test/v1/messages", {}, b"{}",
                        message_events([("text", "text_delta", [f"use {KEY}", encode(KEY) + " now"])]))
    transport_sync(scenario, tmp_path / "c.jsonl")
    assert_no_key([(tmp_path / "c.jsonl").read_text()], [recorder.load(tmp_path / "c.jsonl")])


ENCODED_KEYS = {"base64": f"Here: {b64('x' + KEY)} ok", "base64url": f"Here: {b64('xy' + KEY, urlsafe=True)} ok",
                "percent": "see " + "".join(f"%{b:02X}" for b in KEY.encode()) + " ok",
                "json-escaped": "see " + json_escaped(KEY, every=True) + " ok",
                "percent-and-json": "see " + KEY.replace("-", "%5Cu002d") + " ok"}


@pytest.mark.parametrize("text", ENCODED_KEYS.values(), ids=ENCODED_KEYS.keys())
def test_an_encoded_key_split_across_deltas_anywhere_cannot_be_rebuilt(tmp_path: Path, text: str) -> None:
    # Every cut, in a base64 marker, in the escape of a character, and past the joiner's 256-character tail.
    for cut in range(1, len(text)):
        pieces = [text[:cut], text[cut:]]
        scenario = Scenario("split", "http://upstream.test/v1/messages", {}, b"{}",
                            message_events([("text", "text_delta", pieces)]))
        out = tmp_path / f"{cut}.jsonl"
        transport_sync(scenario, out)
        assert_no_key([out.read_text()], [recorder.load(out)])


def test_export_vcr_redacts_what_it_writes(tmp_path: Path) -> None:
    request = recorder.Request("POST", f"http://x/v1/messages?k={KEY}", {"x-api-key": KEY, "x-note": KEY},
                               recorder.Payload({"prompt": KEY}))
    events = tuple(recorder.Event(0.0, name, recorder.Payload(json.loads(data)))
                   for name, data in message_events([("text", "text_delta", [KEY[:9], KEY[9:]])]))
    interaction = recorder.Interaction(0, request, recorder.Response(0.0, 200, SSE_HEADERS), events,
                                       end=recorder.End(0.0, "complete"))
    export_vcr(recorder.Cassette((interaction,)), tmp_path / "out.yaml")
    text = (tmp_path / "out.yaml").read_text()
    assert_no_key([text], [import_vcr(tmp_path / "out.yaml")])
    assert "REDACTED" in text


def test_docs_reliability_names_every_placement_tried() -> None:
    from tests.helpers import ROOT

    doc = (ROOT / "docs" / "reliability.md").read_text()
    listed = doc.split("Placements drawn by", 1)[1].split("with noise around", 1)[0]
    assert re.findall(r"`([^`]+)`", listed) == list(PLACEMENTS), "regenerate: python benchmarks/reliability.py"
    assert "base64 runs decoded" in doc
