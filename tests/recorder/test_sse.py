"""The SSE decoder against the spec's framing rules, cut at every byte."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from recorder import SSEDecoder, SSEEvent, encode_event

WIRE = (
    b"event: message_start\r\ndata: {\"text\": \"caf\xc3\xa9 \xf0\x9f\x98\x80\"}\r\n\r\n"
    b": a comment line\n\n"
    b"data: first\rdata: second\r\r"
    b"event: ping\ndata:no-space\nid: 7\nretry: 1500\n\n"
    b"event: unknown_future\ndata: not json at all\n\n"
)
EXPECTED = [
    SSEEvent("message_start", '{"text": "café 😀"}'),
    SSEEvent(None, "first\nsecond"),
    SSEEvent("ping", "no-space", id="7", retry=1500),
    SSEEvent("unknown_future", "not json at all"),
]


def decode_all(chunks: list[bytes]) -> tuple[list[SSEEvent], bytes]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.decode(chunk)]
    return events, decoder.flush()


def test_whole_stream() -> None:
    assert decode_all([WIRE]) == (EXPECTED, b"")


def test_split_at_every_pair_of_byte_positions() -> None:
    for i in range(len(WIRE) + 1):
        for j in range(i, len(WIRE) + 1):
            assert decode_all([WIRE[:i], WIRE[i:j], WIRE[j:]]) == (EXPECTED, b""), (i, j)


def test_byte_by_byte() -> None:
    assert decode_all([WIRE[i : i + 1] for i in range(len(WIRE))]) == (EXPECTED, b"")


def test_crlf_split_between_cr_and_lf_is_one_line_ending() -> None:
    events, _ = decode_all([b"data: a\r", b"\n\r", b"\n"])
    assert events == [SSEEvent(None, "a")]


def test_unfinished_event_is_returned_by_flush() -> None:
    events, tail = decode_all([b"data: done\n\nevent: x\ndata: half"])
    assert events == [SSEEvent(None, "done")]
    assert tail == b"event: x\ndata: half"


def test_leading_bom_is_dropped_even_when_split() -> None:
    events, _ = decode_all([b"\xef", b"\xbb\xbfdata: x\n\n"])
    assert events == [SSEEvent(None, "x")]


def test_field_without_colon_and_unknown_fields() -> None:
    events, _ = decode_all([b"data\nfoo: bar\nevent\n\n"])
    assert events == [SSEEvent(None, "")]


def test_id_with_nul_is_ignored() -> None:
    events, _ = decode_all([b"id: a\x00b\ndata: x\n\n"])
    assert events == [SSEEvent(None, "x")]


names = st.one_of(st.none(), st.text(st.characters(blacklist_characters="\r\n\x00", blacklist_categories=["Cs"]),
                                     min_size=1).filter(lambda s: s.strip() == s))
datas = st.text(st.characters(blacklist_characters="\r\x00", blacklist_categories=["Cs"]), min_size=1)


@given(
    st.lists(st.tuples(names, datas), min_size=1, max_size=8),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.lists(st.integers(min_value=0, max_value=400), max_size=10),
)
def test_any_events_any_framing_any_chunking(events: list[tuple[str | None, str]], newline: str,
                                             cuts: list[int]) -> None:
    wire = b"".join(encode_event(name, data).replace(b"\n", newline.encode()) for name, data in events)
    # encode_event frames with LF; data lines themselves contain no CR, so the swap is safe.
    bounds = sorted({min(c, len(wire)) for c in cuts} | {0, len(wire)})
    chunks = [wire[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    decoded, tail = decode_all(chunks)
    assert tail == b""
    assert [(e.event, e.data) for e in decoded] == events
