"""The cassette codec: write then read is the identity; bad files name file, line and expectation."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import recorder
from recorder import Body, Cassette, CassetteError, End, ErrorInfo, Event, Interaction, Payload, Request, Response
from recorder._redact import BASE64_KEY_MARKERS

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
# What the format allows on one SSE or header line (docs/cassette-format.md, "Reading rules").
one_line = st.characters(codec="utf-8", exclude_characters="\r\n\x00")
payloads = st.one_of(
    st.builds(Payload, data=json_values.filter(lambda v: v is not None)),
    st.builds(Payload, raw=st.text(one_line, max_size=10).map(lambda s: "~" + s)),  # "~" makes it not JSON
    st.just(Payload()),
)
times = st.floats(0, 1000, allow_nan=False)


@st.composite
def interactions(draw: st.DrawFn, id: int) -> Interaction:
    request = draw(st.none() | st.builds(Request, st.sampled_from(["GET", "POST"]), st.just("https://x/v1/messages"),
                                         st.dictionaries(st.sampled_from(["a", "b-c"]), st.text(one_line, max_size=5)),
                                         payloads))
    response = draw(st.builds(Response, times, st.integers(200, 599), st.just({"content-type": "text/event-stream"})))
    events = tuple(draw(st.lists(st.builds(Event, times, st.none() | st.text(one_line, min_size=1, max_size=10), payloads,
                                           st.none() | st.text(one_line, max_size=3), st.none() | st.integers(0, 9)),
                                 max_size=4)))
    end = draw(st.none() | st.builds(End, times, st.sampled_from(["complete", "truncated", "disconnected"]),
                                     st.none() | st.builds(ErrorInfo, st.sampled_from(recorder.TRANSPORT_ERRORS), st.text()),
                                     st.none() | st.text(one_line, min_size=1)))
    if request is None and response is None:
        request = Request("POST", "https://x/v1/messages")
    body = None if events else draw(st.none() | st.builds(Body, times, payloads))
    return Interaction(id, request, response, events, body, end)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 3).flatmap(lambda n: st.tuples(*[interactions(i) for i in range(n)])))
def test_save_then_load_is_identity(tmp_path_factory: pytest.TempPathFactory, items: tuple[Interaction, ...]) -> None:
    # Keys, and base64 holding one, are redacted on the way to disk, by design (tests/recorder/test_redact.py).
    assume(not any(secret in repr(items) for secret in ("sk-ant-", *BASE64_KEY_MARKERS)))
    path = tmp_path_factory.mktemp("c") / "c.jsonl"
    cassette = Cassette(items, {"cassette": 1, "note": "kept"})
    recorder.save(cassette, path)
    loaded = recorder.load(path)
    assert loaded.interactions == items
    assert loaded.header == {"cassette": 1, "note": "kept"}
    assert loaded.path == str(path)


def test_lines_are_compact_in_fixed_order_and_keep_payload_key_order(tmp_path: Path) -> None:
    cassette = Cassette((Interaction(0, Request("POST", "http://x/u", {}, Payload({"b": 1, "a": "é"}))),), {"cassette": 1})
    text = recorder.save(cassette, tmp_path / "c.jsonl").read_text(encoding="utf-8")
    assert text.splitlines()[1] == '{"id":0,"kind":"request","method":"POST","url":"http://x/u","headers":{},"body":{"b":1,"a":"é"}}'


GOOD_HEADER = '{"cassette": 1}\n'
REQUEST = '{"id": 0, "kind": "request", "method": "POST", "url": "http://x/u", "headers": {}}\n'


@pytest.mark.parametrize(("content", "line", "expected"), [
    (GOOD_HEADER + REQUEST + "{not json\n", 3, "expected one JSON object per line"),
    (GOOD_HEADER + "[1, 2]\n", 2, "expected one JSON object per line"),
    ('{"hello": 1}\n', 1, "header line"),
    (GOOD_HEADER + '{"kind": "request"}\n', 2, "integer interaction 'id'"),
    (GOOD_HEADER + '{"id": 0, "kind": "tape"}\n', 2, "'kind' to be one of"),
    (GOOD_HEADER + '{"id": 0, "kind": "event", "t": 1}\n', 2, "'request' or 'response' line"),
    (GOOD_HEADER + REQUEST + '{"id": 0, "kind": "tape", "t": 1}\n', 3, "'kind' to be one of"),
    (GOOD_HEADER + REQUEST + '{"id": 0, "kind": "event", "t": 0.1, "event": "ping"}\n', 3, "'response' line"),
    (GOOD_HEADER + REQUEST + '{"id": 0, "kind": "response", "t": -1, "status": 200}\n', 3, "'t' to be seconds"),
    (GOOD_HEADER + REQUEST + '{"id": 0, "kind": "response", "t": 1, "status": "200"}\n', 3, "integer HTTP 'status'"),
    (GOOD_HEADER + REQUEST + REQUEST, 3, "already used"),
    (GOOD_HEADER + REQUEST + '{"id": 0, "kind": "end", "t": 1, "outcome": "exploded"}\n', 3, "'outcome'"),
    (GOOD_HEADER + REQUEST + '{"id": 0, "kind": "end", "t": 1, "outcome": "complete"}\n'
     '{"id": 0, "kind": "end", "t": 1, "outcome": "complete"}\n', 4, "nothing after the 'end'"),
])
def test_bad_files_name_file_line_and_expectation(tmp_path: Path, content: str, line: int, expected: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(CassetteError) as caught:
        recorder.load(path)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert expected in str(caught.value)


def test_unknown_version_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "v2.jsonl"
    path.write_text('{"cassette": 2}\n')
    with pytest.raises(recorder.CassetteVersionError, match="upgrade claude-cassette or re-record"):
        recorder.load(path)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(recorder.CassetteNotFoundError) as caught:
        recorder.load(tmp_path / "nope.jsonl")
    assert isinstance(caught.value, FileNotFoundError)
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(CassetteError, match="empty file"):
        recorder.load(tmp_path / "empty.jsonl")


def test_unknown_keys_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"cassette": 1, "future": true}\n' + REQUEST.replace("{", '{"extra": [1], ', 1))
    assert recorder.load(path).interactions[0].request == Request("POST", "http://x/u", {})


def test_line_cut_by_a_killed_recorder_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(GOOD_HEADER + REQUEST + '{"id": 0, "kind": "resp')
    cassette = recorder.load(path)
    assert cassette[0].response is None
    assert cassette[0].outcome == "incomplete"


def test_a_cut_line_in_the_middle_is_still_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(GOOD_HEADER + '{"id": 0, "kind": "resp\n' + REQUEST)
    with pytest.raises(CassetteError, match=":2: "):
        recorder.load(path)


def test_writer_appends_with_fresh_ids(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with recorder.CassetteWriter(path) as writer:
        writer.write(writer.new_id(), Request("POST", "http://x/u"))
    with recorder.CassetteWriter(path, append=True) as writer:
        assert writer.new_id() == 1
        writer.write(1, Request("POST", "http://x/v"))
    assert [i.request.url for i in recorder.load(path)] == ["http://x/u", "http://x/v"]


def test_the_loader_keeps_each_part_s_line_number_even_when_interactions_interleave() -> None:
    lines = ['{"cassette": 1}', '{"id": 0, "kind": "request", "method": "POST", "url": "http://x/v1/messages"}',
             '{"id": 1, "kind": "request", "method": "POST", "url": "http://x/v1/messages"}',
             '{"id": 1, "kind": "response", "t": 0.1, "status": 200, "headers": {"content-type": "text/event-stream"}}',
             '{"id": 0, "kind": "response", "t": 0.1, "status": 200, "headers": {"content-type": "text/event-stream"}}',
             '{"id": 0, "kind": "event", "t": 0.2, "event": "ping", "data": {"type": "ping"}}',
             '{"id": 1, "kind": "event", "t": 0.2, "event": "ping", "data": {"type": "ping"}}', ""]
    first, second = recorder.parse("\n".join(lines))
    assert tuple(first.line_numbers) == (2, 5, 6) and tuple(second.line_numbers) == (3, 4, 7)
    assert first.line_of() == 2 and first.line_of(first.events[0]) == 6 and second.line_of(second.response) == 4
    assert first == recorder.Interaction(0, first.request, first.response, first.events)  # not compared


def test_load_refuses_a_fifo_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    caught: list[BaseException] = []

    def load() -> None:
        try:
            recorder.load(fifo)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            caught.append(exc)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():  # blocked opening the FIFO: give it an end of file so that the thread ends
        with open(fifo, "wb"):
            pass
        thread.join(10)
        pytest.fail("recorder.load waited for a writer on a FIFO")
    assert isinstance(caught[0], CassetteError)
    assert str(caught[0]) == f"{fifo}: not a regular file (a FIFO); expected a .jsonl cassette file"


def test_load_refuses_a_device() -> None:
    # /dev/zero would be read forever (the CLI tests try it, in a child process): /dev/null ends at once.
    with pytest.raises(CassetteError, match=r"not a regular file \(a device\); expected a .jsonl cassette file"):
        recorder.load("/dev/null")


def test_load_of_a_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="is a directory; expected a .jsonl cassette file"):
        recorder.load(tmp_path)


@pytest.mark.parametrize("append", [False, True])
@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_recording_into_what_is_not_a_regular_file_is_refused(tmp_path: Path, kind: str, append: bool) -> None:
    target = {"fifo": tmp_path / "pipe.jsonl", "device": Path("/dev/null"), "directory": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(target)
    what = {"fifo": r"not a regular file \(a FIFO\)", "device": r"not a regular file \(a device\)"}
    expected = what.get(kind, "is a directory")
    with pytest.raises(CassetteError, match=f"{expected}; expected a .jsonl cassette file to record into"):
        recorder.CassetteWriter(target, append=append)
    if kind == "fifo":
        assert target.exists() and not target.is_file()  # left as it was
