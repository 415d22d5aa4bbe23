"""vcrpy interoperability, checked with vcrpy itself: its recordings import, our cassettes export.

vcrpy records real SDK calls to a ScriptedUpstream on 127.0.0.1 (or an httpx2.MockTransport);
exported cassettes are replayed by vcrpy with record_mode="none", which never sends anything.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
import vcr
import yaml
from click.testing import CliRunner

import recorder
from replayer import Chunk, FakeAnthropic, Reply, ScriptedUpstream
from replayer._vcr import export_vcr, import_vcr
from replayer.cli import main
from replayer.fuzzing._synthetic import sse_bytes, text_message, tool_use_message
from tests.helpers import CASSETTES

KEY = "sk-ant-" + "api03-vcr-test-dummy-000000000000"  # split: no key-shaped literal in the repo
MODEL = "claude-haiku-4-5"
ASK = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "What's the weather in Paris?"}]}
PLAIN = {"id": "msg_plain_01", "type": "message", "role": "assistant", "model": MODEL,
         "content": [{"type": "text", "text": "A plain, non-streaming answer."}], "stop_reason": "end_turn",
         "stop_sequence": None, "usage": {"input_tokens": 9, "output_tokens": 6}}


def streamed(events: list) -> Reply:
    return Reply(chunks=tuple(Chunk(sse_bytes([event])) for event in events))


def session(client: anthropic.Anthropic) -> dict[str, Any]:
    """An app's session: a streamed tool call (events and final message), then a plain create."""
    with client.messages.stream(**ASK) as stream:
        events = [event.to_dict() for event in stream]
        final = stream.get_final_message().to_dict()
    plain = client.messages.create(**{**ASK, "messages": [{"role": "user", "content": "Just answer."}]})
    return {"events": events, "final": final, "plain": plain.to_dict()}


def replay_calls(client: anthropic.Anthropic, cassette: recorder.Cassette) -> list[Any]:
    """Make each recorded request again through the SDK; what it yields, per interaction."""
    results = []
    for interaction in cassette:
        assert interaction.request is not None
        body = {k: v for k, v in interaction.request.body.data.items() if k != "stream"}
        if interaction.is_stream:
            with client.messages.stream(**body) as stream:
                events = [event.to_dict() for event in stream]
                results.append((events, stream.get_final_message().to_dict()))
        else:
            results.append(client.messages.create(**body).to_dict())
    return results


# --- import: vcrpy's recordings become cassettes ---------------------------------------------------


def test_a_vcrpy_recording_imports_and_replays_the_same(tmp_path: Path) -> None:
    tape = tmp_path / "session.yaml"
    reply = streamed(tool_use_message("get_weather", {"city": "Paris"}, preamble="Let me check."))
    with ScriptedUpstream([reply, Reply.json(200, PLAIN)]) as upstream:
        with vcr.VCR().use_cassette(str(tape), record_mode="once"):
            live = session(anthropic.Anthropic(api_key=KEY, base_url=upstream.base_url))
        assert len(upstream.requests) == 2
    assert live["final"]["stop_reason"] == "tool_use" and live["plain"] == PLAIN

    cassette = import_vcr(tape)
    assert cassette.header["imported"] == "vcrpy" and cassette.header["timing"] == "none"
    assert [i.outcome for i in cassette] == ["complete", "complete"]
    assert [i.is_stream for i in cassette] == [True, False]
    assert {e.t for i in cassette for e in i.events} == {0.0} and cassette[1].body.t == 0.0
    assert cassette[0].request.body.data["messages"] == ASK["messages"]
    assert session(FakeAnthropic(cassette)) == live

    saved = recorder.save(cassette, tmp_path / "session.jsonl")
    assert KEY not in saved.read_text() and KEY in tape.read_text()  # vcrpy kept the key; we don't
    assert session(FakeAnthropic(saved)) == live


def test_gzip_bodies_recorded_by_vcrpy_are_decoded(tmp_path: Path) -> None:
    def upstream(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "application/json", "content-encoding": "gzip"},
                               content=gzip.compress(json.dumps(PLAIN).encode()))

    tape = tmp_path / "gzip.yaml"
    client = anthropic.Anthropic(api_key=KEY, http_client=httpx2.Client(transport=httpx2.MockTransport(upstream)))
    with vcr.VCR().use_cassette(str(tape), record_mode="once"):
        assert client.messages.create(**ASK).to_dict() == PLAIN
    assert "!!binary" in tape.read_text()  # vcrpy stored the compressed bytes

    [interaction] = import_vcr(tape)
    assert interaction.body.payload.data == PLAIN
    assert "content-encoding" not in interaction.response.headers
    assert FakeAnthropic(import_vcr(tape)).messages.create(**ASK).to_dict() == PLAIN


# --- export: our cassettes replay through vcrpy ------------------------------------------------------


@pytest.mark.parametrize("name", ["text", "tool_use", "thinking"])
def test_exported_cassettes_replay_through_vcrpy_with_the_same_results(tmp_path: Path, name: str) -> None:
    cassette = recorder.load(CASSETTES / f"{name}.jsonl")
    tape = tmp_path / f"{name}.yaml"
    assert export_vcr(cassette, tape) == []
    expected = replay_calls(FakeAnthropic(cassette), cassette)

    url = httpx2.URL(cassette[0].request.url)
    client = anthropic.Anthropic(api_key="unused", base_url=f"{url.scheme}://{url.netloc.decode()}", max_retries=0)
    with vcr.VCR().use_cassette(str(tape), record_mode="none") as tape_in_use:
        assert replay_calls(client, cassette) == expected
        assert tape_in_use.all_played


def test_export_then_import_keeps_every_event(tmp_path: Path) -> None:
    for name in ("text", "tool_use", "thinking", "overloaded"):
        original = recorder.load(CASSETTES / f"{name}.jsonl")
        export_vcr(original, tmp_path / f"{name}.yaml")
        back = import_vcr(tmp_path / f"{name}.yaml")
        assert len(back) == len(original)
        for a, b in zip(original, back):
            assert [(e.event, e.payload) for e in a.events] == [(e.event, e.payload) for e in b.events]
            assert (a.response.status, a.outcome, a.request.body) == (b.response.status, b.outcome, b.request.body)


def test_export_notes_what_vcrpy_cannot_hold(tmp_path: Path) -> None:
    dropped = recorder.load(CASSETTES / "dropped.jsonl")
    notes = export_vcr(dropped, tmp_path / "dropped.yaml")
    assert len(notes) == 1 and "the stream broke (httpx2.RemoteProtocolError)" in notes[0]
    capture = recorder.import_sse(sse_bytes(text_message("hi")))
    no_request = recorder.Cassette((recorder.Interaction(0, recorder.Request("POST", "http://x/v1/messages")),))
    assert "no request" in export_vcr(capture, tmp_path / "capture.yaml")[0]
    assert "before any response" in export_vcr(no_request, tmp_path / "none.yaml")[0]
    assert yaml.safe_load((tmp_path / "none.yaml").read_text())["interactions"] == []


# --- the CLI ------------------------------------------------------------------------------------------


def test_cli_import_and_export(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["export-vcr", str(CASSETTES / "tool_use.jsonl"), "-o", str(tmp_path / "t.yaml")])
    assert out.exit_code == 0, out.output
    assert f"wrote {tmp_path / 't.yaml'}: 2 interactions" in out.output
    back = runner.invoke(main, ["import-vcr", str(tmp_path / "t.yaml"), "-o", str(tmp_path / "t.jsonl")])
    assert back.exit_code == 0, back.output
    assert "2 interactions" in back.output and "timing: none" in back.output
    assert len(recorder.load(tmp_path / "t.jsonl")) == 2
    dropped = runner.invoke(main, ["export-vcr", str(CASSETTES / "dropped.jsonl"), "-o", str(tmp_path / "d.yaml")])
    assert dropped.exit_code == 0 and "note: interaction 0: the stream broke" in dropped.output


@pytest.mark.parametrize("content, expected", [
    (None, "no such vcrpy cassette"),
    ("just: [a, mapping", "not a vcrpy cassette"),
    ("interactions: 3\nversion: 1\n", "not a vcrpy cassette"),
    ("- request: {}\n", "not a vcrpy cassette"),
])
def test_cli_import_rejects_bad_input_with_exit_2(tmp_path: Path, content: str | None, expected: str) -> None:
    source = tmp_path / "in.yaml"
    if content is not None:
        source.write_text(content)
    result = CliRunner().invoke(main, ["import-vcr", str(source), "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 2 and expected in result.output and result.output.startswith("Error: ")
    assert not (tmp_path / "out.jsonl").exists()


def test_cli_export_rejects_bad_input_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text("not a cassette\n")
    for source in (tmp_path / "bad.jsonl", tmp_path / "missing.jsonl"):
        result = CliRunner().invoke(main, ["export-vcr", str(source), "-o", str(tmp_path / "out.yaml")])
        assert result.exit_code == 2 and result.output.startswith("Error: "), result.output
    assert not (tmp_path / "out.yaml").exists()
