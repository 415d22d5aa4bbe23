"""The recording hot path's shortcuts give exactly what the general paths give."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import recorder
from recorder import CassetteWriter, Response, SSEDecoder

# Text that the shortcuts must hand over to the general path: pieces of keys, escapes, percent signs.
PIECES = st.sampled_from(["s", "k", "sk", "sk-", "sk-ant", "sk-ant-", "k-ant-", "-ant-", "ant-", "api03-", "A1b2C3d4" * 3, "\\", "\\u002d",
                          "%2D", "%", "\n", "\"", "é", "fox ", "quick", "again", " "])
TEXT = st.lists(PIECES, max_size=4).map("".join) | st.text(max_size=8)
FIELDS = {"text": "text_delta", "partial_json": "input_json_delta", "thinking": "thinking_delta",
          "signature": "signature_delta"}


def delta(index: int, text: str, field: str, extra: str = "") -> str:
    """The data of a content_block_delta event; `extra` is added to its delta object."""
    inner = json.dumps({"type": FIELDS[field], field: text}, separators=(",", ":"), ensure_ascii=False)[:-1] + extra
    return f'{{"type":"content_block_delta","index":{index},"delta":{inner}}}}}'


def frame(data: str, template: str = "event: content_block_delta\ndata: {}\n\n") -> bytes:
    return template.replace("{}", data).encode()


# Data of a content_block_delta event: the usual shapes, and near misses the shortcut must hand on.
DATA = st.one_of(
    st.builds(delta, st.just(0), TEXT, st.just("text")),
    st.builds(delta, st.integers(0, 1), TEXT, st.sampled_from(sorted(FIELDS))),
    st.builds(delta, st.sampled_from([-1, 1 << 31, 1 << 32, 10 ** 20]), TEXT, st.just("text")),  # index out of range
    st.builds(delta, st.just(0), TEXT, st.just("text"), st.sampled_from([',"x":1', ',"text":"sk"', ',"text":1'])),
    st.builds(lambda text: delta(0, text, "text").replace('":', '": '), TEXT),  # spaces between tokens
    st.builds(lambda i: json.dumps({"type": "content_block_stop", "index": i}), st.integers(0, 2)),
    st.just('{"type":"ping"}'),
    TEXT,  # not JSON, or JSON that is not an object
)
# The usual framing, and near misses: another name, CRLF, an extra line, two data lines, no end.
FRAMES = st.sampled_from(["event: content_block_delta\ndata: {}\n\n", "event: content_block_delta\ndata:  {}\n\n",
                          "event: content_block_delta\r\ndata: {}\r\n\r\n", "event: content_block_delta\ndata: {}\n\n\n",
                          "event: content_block_delta\ndata: {}\ndata: {}\n\n", "event: other\ndata: {}\n\n",
                          "event: content_block_delta\ndata: {}\n", "event: content_block_delta\ndata: {}\n\n"])
CHUNKS = st.lists(st.builds(frame, DATA, FRAMES) | st.builds(frame, DATA), max_size=12)


def record(chunks: list[bytes], *, shortcut: bool) -> tuple[list[str], int]:
    """The lines a recording writes for `chunks` (one interaction, fed to a writer as the transport feeds
    it), and how many chunks the shortcut took."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "c.jsonl")
        with CassetteWriter(path) as writer:
            writer._lines.quick = shortcut  # off: every chunk through the decoder and the general path
            id = writer.new_id()
            writer.write(id, Response(0.0, 200, {"content-type": "text/event-stream"}))
            decoder, taken = SSEDecoder(), 0
            decoder.decode(b": warm-up\n\n")  # the shortcut applies only after the stream's start
            for n, chunk in enumerate(chunks):
                if decoder.at_boundary and writer.write_delta_chunk(id, n / 7, chunk):
                    taken += 1
                elif events := decoder.decode(chunk):
                    writer.write_events(id, n / 7, events)
        lines = path.read_text().splitlines(keepends=True)[1:]  # the header has the time of day
        recorder.load(path)  # what was written reads back
        return lines, taken


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(CHUNKS)
@example([frame(delta(0, "fox s", "text")), frame(delta(0, "k-ant-api03-" + "A1b2C3d4" * 3, "text"))])  # split key
@example([frame(delta(0, text, "partial_json")) for text in ("its", "fox \\", "u002d")])
@example([frame(delta(0, "x", "text"))[:40] + b"\xff\n\n", frame(delta(0, "\u00e9", "text"))])  # invalid UTF-8
def test_delta_shortcut_writes_the_file_the_general_path_writes(chunks: list[bytes]) -> None:
    assert record(chunks, shortcut=True)[0] == record(chunks, shortcut=False)[0]


def test_the_delta_shortcut_takes_the_usual_deltas_and_hands_on_the_rest(tmp_path: Path) -> None:
    usual = [frame(delta(i, text, field)) for i, (text, field) in
             enumerate([("Hello", "text"), ('{"city": "Par', "partial_json"), ("hmm", "thinking"), ("EqQBCkYI", "signature")])]
    lines, taken = record(usual, shortcut=True)
    assert taken == len(usual)
    path = tmp_path / "c.jsonl"
    path.write_text('{"cassette":1}\n' + "".join(lines))
    assert [event.payload.text for event in recorder.load(path)[0].events] == [chunk[33:-2].decode() for chunk in usual]
    key = "sk-ant-" + "api03-" + "A1b2C3d4" * 3
    others = [frame(delta(0, text, "text")) for text in (key, key.replace("-", "\\u002d"), key.replace("-", "%2D"),
                                                         "ends in s", "a \\")]
    others.append(frame('{"type":"content_block_delta","index":0}'))
    lines, taken = record(others, shortcut=True)
    assert taken == 0
    assert "A1b2" not in "".join(lines)


BYTES = st.lists(st.sampled_from([b"event: ", b"data: ", b"x", b"\n", b"\r", b"\xff", b"\xc3\xa9", b":", b"{}"]),
                 max_size=6).map(b"".join)


@settings(max_examples=400)
@example(b"event: x\ndata: a\nb\n\n")  # two data lines
@given(st.tuples(st.just(b"event: ") | BYTES, BYTES, st.just(b"\ndata: ") | BYTES, BYTES, st.just(b"\n\n") | BYTES)
       .map(b"".join))
def test_single_event_shortcut_decodes_as_the_general_decoder(chunk: bytes) -> None:
    started = SSEDecoder()
    started.decode(b": warm-up\n\n")
    general = SSEDecoder()
    general.decode(b": warm-up\n\n")
    assert started.decode(chunk) + started.decode(b"\n\n") == general._general(chunk) + general._general(b"\n\n")


def test_event_data_that_is_not_one_json_value_never_adds_keys_to_its_line(tmp_path) -> None:
    import recorder
    from recorder import SSEEvent

    path = tmp_path / "c.jsonl"
    hostile = ['1,"kind":"end","outcome":"complete"', '{"type":"ping"},"event":"error"', '"x" , "id": 7']
    with recorder.CassetteWriter(path) as writer:
        id = writer.new_id()
        writer.write_line({"id": id, "kind": "response", "t": 0.0, "status": 200, "headers": {}})
        for data in hostile:
            writer.write_event(id, 0.1, SSEEvent("message_start", data))
    lines = [json.loads(line) for line in path.read_text().splitlines()[2:]]
    assert [(line["kind"], line["id"], line["event"]) for line in lines] == [("event", id, "message_start")] * 3
    assert [line.get("raw") for line in lines] == hostile  # kept verbatim, as data that is not JSON
    assert [event.payload.raw for event in recorder.load(path)[0].events] == hostile
