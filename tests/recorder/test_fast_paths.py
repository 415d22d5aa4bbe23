"""The recording hot path's shortcuts give exactly what the general paths give."""

from __future__ import annotations

import json

from hypothesis import example, given, settings
from hypothesis import strategies as st

from recorder import Redactor, SSEDecoder, parse
from recorder._cassette import _Lines

# Text that the shortcuts must hand over to the general path: pieces of keys, escapes, percent signs.
PIECES = st.sampled_from(["s", "k", "sk", "sk-", "sk-ant", "sk-ant-", "k-ant-", "-ant-", "ant-", "api03-", "A1b2C3d4" * 3, "\\", "\\u002d",
                          "%2D", "%", "\n", "\"", "é", "fox ", "quick", "again", " "])
TEXT = st.lists(PIECES, max_size=4).map("".join) | st.text(max_size=8)


def delta(index: int, text: str, field: str) -> str:
    kind = {"text": "text_delta", "partial_json": "input_json_delta", "thinking": "thinking_delta"}[field]
    return json.dumps({"type": "content_block_delta", "index": index, "delta": {"type": kind, field: text}},
                      separators=(",", ":"), ensure_ascii=False)


EVENT = st.one_of(
    st.builds(delta, st.just(0), TEXT, st.just("text")),
    st.builds(delta, st.integers(0, 1), TEXT, st.sampled_from(["text", "partial_json"])),
    st.builds(lambda i: json.dumps({"type": "content_block_stop", "index": i}), st.integers(0, 2)),
    st.just('{"type":"ping"}'),
    TEXT,  # not JSON, or JSON that is not an object
)


@settings(max_examples=400)
@given(st.lists(EVENT, max_size=12))
@example([delta(0, "fox s", "text"), delta(0, "k-ant-api03-" + "A1b2C3d4" * 3, "text")])  # a key split after its "s"
@example([delta(0, "its", "partial_json"), delta(0, "fox \\", "partial_json"), delta(0, "u002d", "partial_json")])
def test_fast_path_writes_the_lines_the_general_path_writes(datas: list[str]) -> None:
    fast, general = _Lines(Redactor.default()), _Lines(Redactor.default())
    general.quick = False  # every event through the general path
    for n, data in enumerate(datas):
        # Both lines get every chunk the same way the transport would hand it: decoded by SSEDecoder.
        chunk = f"event: content_block_delta\ndata: {data}\n\n".encode()
        decoder = SSEDecoder()
        decoder.decode(b": warm-up\n\n")  # the decoder's shortcut applies only after the stream's start
        for sse in decoder.decode(chunk):
            assert fast.event(0, n / 7, sse) == general.event(0, n / 7, sse)


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


EVENT_LINE = st.fixed_dictionaries(
    {"event": st.sampled_from(["content_block_delta", "ping", "x_future", None]),
     "data": st.sampled_from([{"type": "ping"}, {"type": "x", "text": "é\\\r"}, None, 1, {}])},
    optional={"raw": st.just("not json"), "sse_id": st.just("7"), "retry": st.just(3)})


@settings(max_examples=200)
@given(st.lists(EVENT_LINE, min_size=1, max_size=12), st.integers(1, 400), st.booleans())
def test_joined_steps_are_the_wire_steps_joined(events: list[dict], limit: int, crlf: bool) -> None:
    lines = [{"cassette": 1},
             {"id": 0, "kind": "request", "method": "POST", "url": "http://127.0.0.1:9/v1/messages"},
             {"id": 0, "kind": "response", "t": 0.0, "status": 200, "headers": {"content-type": "text/event-stream"}},
             *({"id": 0, "kind": "event", "t": n / 8, **event} for n, event in enumerate(events))]
    text = "".join(json.dumps(line, ensure_ascii=False) + ("\r\n" if crlf and n == 1 else "\n")
                   for n, line in enumerate(lines))
    loaded = parse(text).interactions[0].events
    steps, joined = loaded.wire_steps(), loaded.joined_steps(limit)
    plain = not crlf and all(set(e) == {"event", "data"} and e["data"] not in (None, 1, {}) for e in events)
    assert (joined is not None) == plain  # the quick way takes every plain stream, and only those
    if joined is not None:
        assert b"".join(chunk for _, chunk in joined) == b"".join(wire for _, wire in steps)
        ends = {t for t, _ in steps}
        assert all(t in ends for t, _ in joined) and joined[-1][0] == steps[-1][0]
