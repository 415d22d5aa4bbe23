"""Hostile cassettes (issue 12, items 9-12): refused at load with file, line and what was expected.

Whatever a cassette holds, `load` either returns one that replays through the real SDK raising only
what the SDK and httpx2 raise, or raises CassetteError naming the line: never another exception.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recorder
import replayer
from recorder import CassetteError, End, ErrorInfo
from replayer.cli import main
from tests.helpers import CASSETTES

TEXT = CASSETTES / "text.jsonl"
LINES = TEXT.read_text(encoding="utf-8").splitlines()
REQUEST = json.loads(LINES[1])["body"]
# Line numbers (1-based) in cassettes/text.jsonl.
RESPONSE, FIRST_EVENT, END = 3, 4, len(LINES)


def edited(tmp_path: Path, number: int, **changes: Any) -> Path:
    """cassettes/text.jsonl with keys of line `number` changed (a value of DROP removes the key)."""
    lines = list(LINES)
    line = json.loads(lines[number - 1])
    for key, value in changes.items():
        if value is DROP:
            line.pop(key, None)
        else:
            line[key] = value
    lines[number - 1] = json.dumps(line, ensure_ascii=False)
    return written(tmp_path, lines)


DROP = object()


def written(tmp_path: Path, lines: list[str], name: str = "hostile.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def refused(path: Path, line: int, expected: str) -> CassetteError:
    with pytest.raises(CassetteError) as caught:
        recorder.load(path)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert expected in str(caught.value)
    return caught.value


def check(path: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output.splitlines()


# --- item 9: deep nesting ----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["line", "data", "header", "closed"])
def test_deep_nesting_is_a_cassette_error_and_check_prints_one_line(tmp_path: Path, where: str) -> None:
    deep = "[" * 100_000
    lines = list(LINES)
    number = {"line": FIRST_EVENT, "data": FIRST_EVENT, "header": 1, "closed": FIRST_EVENT}[where]
    if where == "data":
        lines[number - 1] = lines[number - 1][:-1].rsplit(',"data":', 1)[0] + ',"data":' + deep + "}"
    elif where == "closed":
        lines[number - 1] = lines[number - 1][:-1] + ',"x":' + deep + "]" * 100_000 + "}"
    else:
        lines[number - 1] = deep
    path = written(tmp_path, lines)
    refused(path, number, "expected one JSON object per line")
    code, output = check(path)
    assert code == 2
    assert len(output) == 1 and output[0].startswith(f"Error: {path}:{number}: ")


def test_a_deep_last_line_without_newline_is_not_taken_for_a_cut_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_text("\n".join(LINES) + "\n" + "[" * 100_000, encoding="utf-8")
    refused(path, len(LINES) + 1, "expected one JSON object per line")


# --- item 10: absurd times -----------------------------------------------------------------------


@pytest.mark.parametrize("t", ["NaN", "Infinity", "-Infinity", "1e308", "1e400", "86400.5", "-0.5"])
@pytest.mark.parametrize("number", [RESPONSE, FIRST_EVENT, END])
def test_a_non_finite_or_absurd_t_is_refused(tmp_path: Path, t: str, number: int) -> None:
    lines = list(LINES)
    line = json.loads(lines[number - 1])
    lines[number - 1] = json.dumps({**line, "t": "@T@"}).replace('"@T@"', t)
    refused(written(tmp_path, lines), number, "'t' to be seconds since the request (a finite number from 0 to 86400)")


def test_the_largest_allowed_t_replays_on_a_virtual_clock(tmp_path: Path) -> None:
    path = edited(tmp_path, END, t=recorder._lines.MAX_T, outcome="disconnected",
                  error={"type": "httpx2.ReadError", "message": "a day later"})
    clock = replayer.VirtualClock()
    client = replayer.FakeAnthropic(path, speed=1.0, clock=clock)
    with pytest.raises(httpx2.ReadError, match="a day later"):
        list(client.messages.create(**REQUEST))
    assert clock.now() == pytest.approx(recorder._lines.MAX_T)


# --- item 11: tail -------------------------------------------------------------------------------


@pytest.mark.parametrize("tail", [123, ["a"], {"a": 1}, True])
def test_a_non_string_tail_is_refused(tmp_path: Path, tail: Any) -> None:
    refused(edited(tmp_path, END, tail=tail), END, "'tail' to be a string")


@pytest.mark.parametrize("command", ["serve", "play"])
def test_serve_and_play_refuse_a_non_string_tail_in_one_line(tmp_path: Path, command: str) -> None:
    path = edited(tmp_path, END, tail=["not", "text"])
    result = CliRunner().invoke(main, [command, str(path), *(["--port", "0"] if command == "serve" else [])])
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == [f"Error: {path}:{END}: 'tail' to be a string, got ['not', 'text']"]


def test_a_tail_holding_a_finished_event_is_refused(tmp_path: Path) -> None:
    injected = 'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"x"}}\n\n'
    refused(edited(tmp_path, END, tail=injected), END, "'tail' holding the start of an event that never finished")


def test_an_unfinished_tail_replays_after_the_events(tmp_path: Path) -> None:
    path = edited(tmp_path, END, outcome="truncated", tail='event: content_block_delta\ndata: {"type":')
    script = replayer.Script.of(recorder.load(path)[0])
    assert script.steps[-1][1] == b'event: content_block_delta\ndata: {"type":'


# --- item 12: headers, event names, version, errors ----------------------------------------------


def test_non_latin1_response_headers_replay_as_recorded(tmp_path: Path) -> None:
    headers = {**json.loads(LINES[RESPONSE - 1])["headers"], "x-note": "日本語 é", "x-plain": "é"}
    path = edited(tmp_path, RESPONSE, headers=headers)
    client = replayer.FakeAnthropic(path)
    with client.messages.with_streaming_response.create(**REQUEST) as response:
        assert response.headers["x-note"] == "日本語 é"
        assert response.headers["x-plain"] == "é"
    with replayer.serve(path) as url:
        served = anthropic.Anthropic(base_url=url, api_key="-", max_retries=0)
        with served.messages.with_streaming_response.create(**REQUEST) as response:
            assert response.status_code == 200
            assert response.headers["x-note"] == "日本語 é"
            events = list(response.parse())
    assert events[-1].type == "message_stop"


@pytest.mark.parametrize(("number", "headers"), [
    (RESPONSE, {"x-a": "one\r\nx-injected: yes"}),
    (RESPONSE, {"x-a": "nul\x00"}),
    (RESPONSE, {"bad name": "v"}),
    (RESPONSE, {"x-a": 1}),
    (RESPONSE, ["content-type", "text/event-stream"]),
    (2, {"x-a": 1}),
])
def test_headers_that_cannot_go_on_the_wire_are_refused(tmp_path: Path, number: int, headers: Any) -> None:
    refused(edited(tmp_path, number, headers=headers), number, "'headers' to be an object of strings")


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("event", "message_stop\nevent: error", "'event' to be a string without line breaks"),
    ("event", "ping\rdata: x", "'event' to be a string without line breaks"),
    ("event", 5, "'event' to be a string without line breaks"),
    ("sse_id", "1\nevent: error", "'sse_id' to be a string without line breaks"),
    ("retry", -1, "'retry' to be an integer >= 0"),
    ("retry", "10", "'retry' to be an integer >= 0"),
    ("raw", "x\revent: error", "'raw' to be a string"),
    ("raw", 5, "'raw' to be a string"),
    ("id", True, "an integer interaction 'id'"),
    ("id", -1, "an integer interaction 'id'"),
    ("id", 0.5, "an integer interaction 'id'"),
])
def test_event_fields_that_would_inject_or_break_sse_are_refused(tmp_path: Path, key: str, value: Any,
                                                                   expected: str) -> None:
    refused(edited(tmp_path, FIRST_EVENT, **{key: value}), FIRST_EVENT, expected)


def test_an_event_name_with_a_newline_never_reaches_the_sdk(tmp_path: Path) -> None:
    # The reproduction: the name smuggles in an `event: error` line that made the SDK raise.
    path = edited(tmp_path, FIRST_EVENT + 2, event="ping\n\nevent: error\ndata: {\"type\":\"error\"}")
    with pytest.raises(CassetteError, match="'event' to be a string without line breaks"):
        replayer.FakeAnthropic(path)


@pytest.mark.parametrize(("number", "key", "value", "expected"), [
    (RESPONSE, "status", True, "an integer HTTP 'status' from 200 to 599"),
    (RESPONSE, "status", 101, "an integer HTTP 'status' from 200 to 599"),
    (RESPONSE, "status", 600, "an integer HTTP 'status' from 200 to 599"),
    (RESPONSE, "status", 200.0, "an integer HTTP 'status' from 200 to 599"),
    (2, "method", "PO ST", "a 'method' string"),
    (2, "method", None, "a 'method' string"),
    (2, "url", ["http://x"], "a 'url' string"),
    (2, "url", DROP, "(like https://api.anthropic.com/v1/messages), got nothing"),
    (2, "url", "http://[::1/v1/messages", "which does not parse"),
    (2, "url", "http://127.0.0.1:99999/v1/messages", "which does not parse"),
    *((2, "url", url, "an absolute http(s) URL") for url in (
        "", " ", "/v1/messages", "api.anthropic.com/v1/messages", "ftp://x/v1/messages", "http:///v1/messages",
        "http://", "https:/x/v1/messages", "http://x y/v1", "http://x\n/v1", "file:///etc/passwd")),
    (2, "method", "", "a 'method' string"),
    (2, "method", "POST\r\n", "a 'method' string"),
    (2, "raw", {"a": 1}, "'raw' to be a string"),
    (END, "outcome", True, "an 'outcome' (one of"),
    (END, "outcome", "exploded", "an 'outcome' (one of"),
    (END, "kind", "tape", "'kind' to be one of request, response, event, body, end"),
    (END, "kind", 5, "'kind' to be one of"),
])
def test_wrong_types_anywhere_are_refused(tmp_path: Path, number: int, key: str, value: Any, expected: str) -> None:
    refused(edited(tmp_path, number, **{key: value}), number, expected)


@pytest.mark.parametrize("url", ["http://x/v1/messages", "https://api.anthropic.com/v1/messages?beta=true",
                                 "http://127.0.0.1:8080/v1/messages", "http://[::1]:8080/", "HTTPS://X/"])
def test_absolute_http_urls_load(tmp_path: Path, url: str) -> None:
    assert recorder.load(edited(tmp_path, 2, url=url))[0].request.url == url  # type: ignore[union-attr]


def test_cassette_check_refuses_a_request_without_a_url_in_one_line(tmp_path: Path) -> None:
    path = edited(tmp_path, 2, url="")
    code, output = check(path)
    assert code == 2 and output == [f"Error: {path}:2: " + output[0].split(":2: ", 1)[1]]
    assert "an absolute http(s) URL" in output[0] and "got ''" in output[0]


@pytest.mark.parametrize("version", [True, 1.0, "1", [1]])
def test_only_the_integer_1_is_version_1(tmp_path: Path, version: Any) -> None:
    with pytest.raises(recorder.CassetteVersionError, match="this release reads version 1"):
        recorder.load(edited(tmp_path, 1, cassette=version))


@pytest.mark.parametrize("kind", ["builtins.MemoryError", "builtins.StopIteration", "StopIteration",
                                  "builtins.KeyboardInterrupt", "builtins.SystemExit", "anthropic.APIError",
                                  "httpx2.HTTPStatusError", "httpx2.StreamClosed", "os.system", ""])
def test_an_error_a_transport_cannot_raise_is_refused(tmp_path: Path, kind: str) -> None:
    path = edited(tmp_path, END, outcome="disconnected", error={"type": kind, "message": "boom"})
    refused(path, END, "'error' to be an object with a 'message' string and a 'type' naming an exception a transport")


@pytest.mark.parametrize("error", [{"type": "httpx2.ReadError", "message": 5}, {"message": "x"}, "httpx2.ReadError"])
def test_a_malformed_error_is_refused(tmp_path: Path, error: Any) -> None:
    refused(edited(tmp_path, END, outcome="disconnected", error=error), END, "'error' to be an object")


@pytest.mark.parametrize("kind", recorder.TRANSPORT_ERRORS)
def test_every_transport_error_replays_as_itself(tmp_path: Path, kind: str) -> None:
    path = edited(tmp_path, END, outcome="disconnected", error={"type": kind, "message": "gone"})
    client = replayer.FakeAnthropic(path)
    with pytest.raises(getattr(httpx2, kind.removeprefix("httpx2."))) as caught:
        list(client.messages.create(**REQUEST))
    assert type(caught.value).__name__ == kind.removeprefix("httpx2.") and str(caught.value) == "gone"


def test_the_allow_list_is_every_httpx2_transport_error() -> None:
    names = {f"httpx2.{name}" for name, value in vars(httpx2).items()
             if isinstance(value, type) and issubclass(value, httpx2.TransportError)}
    assert set(recorder.TRANSPORT_ERRORS) == names


def test_an_error_no_transport_raises_is_saved_and_replayed_as_a_broken_connection(tmp_path: Path) -> None:
    cassette = recorder.load(TEXT)
    interaction = cassette[0]
    broken = End(interaction.end.t, "disconnected", ErrorInfo.of(MemoryError("out of memory")))
    path = recorder.save(recorder.Cassette((replace(interaction, end=broken),), cassette.header), tmp_path / "s.jsonl")
    loaded = recorder.load(path)[0].end.error
    assert loaded == ErrorInfo("httpx2.ReadError", "builtins.MemoryError: out of memory")
    assert isinstance(replayer._errors.exception_from(ErrorInfo("builtins.StopIteration", "x")), httpx2.ReadError)
    with pytest.raises(httpx2.ReadError, match="builtins.MemoryError: out of memory"):
        list(replayer.FakeAnthropic(path).messages.create(**REQUEST))


def replace(interaction: recorder.Interaction, **changes: Any) -> recorder.Interaction:
    import dataclasses

    return dataclasses.replace(interaction, **changes)


def test_invalid_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    lines = [line.encode() for line in LINES]
    index = next(i for i, line in enumerate(lines) if b"The sky" in line)
    lines[index] = lines[index].replace(b"The sky", b"The \xff sky")
    path.write_bytes(b"\n".join(lines) + b"\n")
    refused(path, index + 1, "expected UTF-8 text, got byte 0xff at column")


def test_a_number_beyond_float_range_in_data_reads_as_the_json_module_reads_it(tmp_path: Path) -> None:
    lines = list(LINES)
    lines[FIRST_EVENT - 1] = lines[FIRST_EVENT - 1].replace('"input_tokens":19', '"input_tokens":1e400')
    event = recorder.load(written(tmp_path, lines))[0].events[0]
    assert event.data["message"]["usage"]["input_tokens"] == float("inf")
    assert recorder.problems(recorder.load(written(tmp_path, lines))) == []


@pytest.mark.parametrize("sse_id", [None, "7"])
def test_json_text_with_a_carriage_return_inside_still_replays_on_one_line(tmp_path: Path, sse_id: str | None) -> None:
    lines = list(LINES)
    extra = "" if sse_id is None else f',"sse_id":"{sse_id}"'
    lines[FIRST_EVENT + 2] = lines[FIRST_EVENT + 2].replace('"index":0,', '"index":0,\r')[:-1] + extra + "}"
    path = written(tmp_path, lines)
    events = list(replayer.FakeAnthropic(path).messages.create(**REQUEST))
    assert events[-1].type == "message_stop"
    assert all(b"\r" not in chunk for _, chunk in replayer.Script.of(recorder.load(path)[0]).steps)


# --- the property: load refuses cleanly, or replay raises only what the SDK and httpx2 raise ------

HOSTILE = st.one_of(
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e308", "1e999", "-1", "true", "null", "[]", "{}", '""',
                     "9" * 40, "[" * 5000, '"\\u0000"', '"a\\nb"', '"a\\r\\nevent: error"', '"日本"',
                     '{"type":"ping"}', '"httpx2.ReadError"', '{"type":"builtins.StopIteration"}']),
    st.builds(json.dumps, st.text(max_size=6) | st.integers() | st.floats() | st.booleans()),
)
KEYS = ["id", "kind", "t", "status", "headers", "method", "url", "body", "data", "raw", "event", "sse_id", "retry",
        "outcome", "error", "tail", "cassette", "type"]
ALLOWED = (anthropic.AnthropicError, httpx2.HTTPError, httpx2.StreamError, json.JSONDecodeError)


@st.composite
def mutated_cassettes(draw: st.DrawFn) -> bytes:
    lines = [line.encode() for line in LINES]
    for _ in range(draw(st.integers(1, 2))):
        how = draw(st.sampled_from(["set", "drop", "cut", "splice", "header"]))
        candidates = [i for i, text in enumerate(lines) if how != "header" or b'"headers":{' in text]
        index = draw(st.sampled_from(candidates or [0]))
        try:
            line = json.loads(lines[index])
        except (ValueError, RecursionError):  # an earlier mutation broke it already
            continue
        if how == "set":
            key = draw(st.sampled_from(KEYS) | st.sampled_from(sorted(line) or KEYS))  # often a key the line has
            line[key] = "@@HOSTILE@@"
            lines[index] = json.dumps(line, ensure_ascii=False).replace('"@@HOSTILE@@"', draw(HOSTILE)).encode()
        elif how == "header" and isinstance(line.get("headers"), dict):
            name = draw(st.sampled_from(["content-type", "x-a", "bad name", "x-b\r\nx-c", ""]))
            line["headers"][name] = draw(st.sampled_from(["日本", "é", "a\r\nx-injected: 1", "\x00", "text/plain"]))
            lines[index] = json.dumps(line, ensure_ascii=False).encode()
        elif how == "drop" and line:
            line.pop(draw(st.sampled_from(sorted(line))))
            lines[index] = json.dumps(line).encode()
        elif how == "cut":
            lines[index] = lines[index][: draw(st.integers(0, len(lines[index])))]
        else:
            at = draw(st.integers(0, len(lines[index])))
            junk = draw(st.sampled_from([b"\n", b"\r", b"\x00", b"\xff", b"\xe6\x97", b"}", b"{", b'"', b"\\"]))
            lines[index] = lines[index][:at] + junk + lines[index][at:]
    return b"\n".join(lines) + draw(st.sampled_from([b"\n", b""]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_cassettes())
def test_any_mutation_loads_and_replays_within_the_sdk_contract_or_names_its_line(data: bytes) -> None:
    try:
        cassette = recorder.parse(data, path="mutant.jsonl")
    except CassetteError as exc:
        assert isinstance(exc.line, int) and 1 <= exc.line <= data.count(b"\n") + 1, exc
        assert str(exc).startswith(f"mutant.jsonl:{exc.line}: ")
        return
    recorder.problems(cassette)  # `cassette check` on anything that loads never raises
    for interaction in cassette:  # nor does reading what was loaded
        payloads = [e.payload for e in interaction.events] + [p.payload for p in (interaction.body,) if p]
        payloads += [interaction.request.body] if interaction.request is not None else []
        for payload in payloads:
            assert isinstance(payload.text, str)
            assert payload == recorder.Payload(payload.data, payload.raw)  # decodes the JSON text
        assert interaction.lines()
    for speed in (None, 1.0):
        try:
            client = replayer.FakeAnthropic(cassette, match_on=["method"], max_retries=0, speed=speed,
                                            clock=replayer.VirtualClock())
            for _ in range(len(cassette) or 1):
                for _ in client.messages.create(**REQUEST):
                    pass
        except anthropic.APIConnectionError as exc:
            # The SDK wraps whatever the transport raised: it must be what a real transport raises.
            assert isinstance(exc.__cause__, httpx2.TransportError), repr(exc.__cause__)
        except ALLOWED:
            pass


@pytest.mark.parametrize("data", ['{"a":NaN}', '{"a":-Infinity}', '{"a":1e400}', "[" * 5000 + "]" * 5000,
                                  '{"text":"NaN, Infinity"}'])
def test_the_recorder_never_writes_what_the_reader_refuses(tmp_path: Path, data: str) -> None:
    # Not JSON to the reader (NaN, Infinity), or nested too deep for it: recorded verbatim as `raw`.
    path = tmp_path / "recorded.jsonl"
    with recorder.CassetteWriter(path) as writer:
        id = writer.new_id()
        writer.write(id, recorder.Request("POST", "http://127.0.0.1:9/v1/messages"))
        writer.write(id, recorder.Response(0.1, 200, {"content-type": "text/event-stream"}))
        writer.write_event(id, 0.2, recorder.SSEEvent("x", data))
        writer.write(id, recorder.Body(0.3, recorder.Payload(**recorder._model.payload_fields(data))))
    interaction = recorder.load(path)[0]
    assert interaction.events[0].payload.text == interaction.body.payload.text == data
    assert recorder._lines.wire_steps(interaction.events) == [(0.2, f"event: x\ndata: {data}\n\n".encode())]


@pytest.mark.parametrize("edit", [lambda b: b.replace(b"\n", b"\r\n"), lambda b: b"\xef\xbb\xbf" + b,
                                  lambda b: b.replace(b"\n", b"\n\n"), lambda b: b.replace(b"\n{", b"\n  {")],
                         ids=["crlf", "bom", "blank-lines", "indented"])
def test_an_edited_file_reads_like_the_original_and_replays_the_same_bytes(edit: Any) -> None:
    original, changed = recorder.load(TEXT), recorder.parse(edit(TEXT.read_bytes()))
    assert changed.interactions == original.interactions
    assert replayer.Script.of(changed[0]).steps == replayer.Script.of(original[0]).steps


def test_a_line_with_two_objects_is_refused_even_when_another_object_spans_two_lines() -> None:
    # As many values as line breaks, but not one per line: the quick path must not take the file.
    lines = TEXT.read_text().splitlines()
    lines[2] += lines[3]  # the response and the first event on one line
    lines[3] = lines[4].replace(',"t":', ',\n"t":', 1)  # the next event over two lines
    del lines[4]
    with pytest.raises(recorder.CassetteError) as caught:
        recorder.parse("\n".join(lines) + "\n")
    assert caught.value.line == 3


def test_blank_and_indented_lines_keep_the_line_numbers_of_the_file() -> None:
    lines = TEXT.read_text().splitlines()
    edited = "\n".join([lines[0], "", *lines[1:4], "   " + lines[4], *lines[5:]]) + "\n"
    interaction = recorder.parse(edited)[0]
    assert interaction.line_of() == 3
    assert interaction.line_of(interaction.events[2]) == 7
