"""Hypothesis strategies for Claude streams (public as `replayer.strategies`): valid event sequences, and the ways they can arrive.

- `message_streams()`: protocol-valid Messages API streams (text in any Unicode, tool_use whose
  `input_json_delta` fragments cut the JSON anywhere, thinking + signature, redacted thinking,
  citations, server tool use + web search results, pings, unknown future events, every stop
  reason, realistic usage). Each is a `GeneratedStream` carrying the Message the SDK must
  assemble, worked out from the generated blocks, not by running the SDK.
- `chunkings()`: ways to cut the bytes (per event, whole, fixed sizes, byte by byte, inside
  lines, inside UTF-8 characters, inside `\\r\\n`, random cuts), as `Chunking` values.
- `timings()`: inter-event gaps, as `Timing` values (`stream.with_timing(timing)`).
- `mutations(cassette)`: variations of a recorded cassette (pings and unknown events inserted,
  deltas re-split, timing perturbed, re-chunked, a fault placed anywhere).

>>> from hypothesis import given
>>> @given(message_streams(), chunkings())
... def test_my_app(stream, chunking):
...     my_app(FakeAnthropic(stream, chunking=chunking))

What anthropic 2.14 tolerates, checked against the SDK, and so what is generated:

- an unknown event (name and data `type` both unknown, data a JSON object) passes through:
  `MessageStream` yields it, `get_final_message()` ignores it -> generated (`unknown_events`);
- an unknown delta type inside a known block is ignored by the accumulator -> generated too;
- an unknown content block type is kept (parsed as a `ParsedTextBlock` with the unknown `type`),
  but `to_dict()` / `model_dump()` of the message then emits a Pydantic serializer UserWarning
  -> only with `unknown_blocks=True`;
- event data that is JSON but not an object (`[1]`, `"x"`, `42`, `null`) makes the SDK raise
  TypeError, non-JSON data JSONDecodeError -> never generated;
- the SDK dispatches on the data's `type`, not on the SSE event name: an unknown name carrying a
  known `type` is processed as that type -> unknown events always carry an unknown `type`;
- `ping` events are dropped by the SDK before any consumer code sees them.
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

import recorder
from recorder import Cassette

from .. import faults as _faults
from .._chunking import Chunking
from ._generated import GeneratedStream, Timing
from ._mutate import SPLITTABLE, MutatedCassette, insert_event, retime, split_delta, splittable
from ._synthetic import message, streamed_chars

BLOCK_KINDS: tuple[str, ...] = ("text", "citations", "tool_use", "thinking", "redacted_thinking", "server_tool_use")
"""What `message_streams(blocks=...)` can put in a message (`server_tool_use` brings its web search result)."""
STOP_REASONS: tuple[str, ...] = ("end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal",
                                 "model_context_window_exceeded")
"""Every stop reason of the Messages API (anthropic 2.14 `StopReason`)."""

_MODELS = ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-7", "claude-haiku-4-5-20251001")
_B64 = string.ascii_letters + string.digits + "+/="
# Pieces of text that stress encoders, simplest first: words, multi-byte UTF-8 (2, 3 and 4 bytes),
# combining sequences (NFC composes them), ZWJ and skin-tone emoji, flags, Hangul jamo, RTL, JSON
# escapes, controls and separators that str.splitlines() (unlike SSE) treats as line breaks, and
# odd code points (noncharacters, private use, bidi controls, tags, plane 16).
_PIECES = ("a", "Hello", " ", "world", ".", ",", "\n", "é", "e\u0301", "a\u0308", "n\u0303", "ç", "c\u0327", "ß",
           "€", "😀", "👍🏽", "👩\u200d💻", "🇫🇷", "中文", "日本語", "한국어", "\u1100\u1161", "עברית", "العربية", "𝄞",
           '"', "\\", "{", "}", "'", "&<>", "\t", "\r", "\r\n", "\x0b\x0c\x1c\x1d\x1e", "\x7f\x1b", "\u0085",
           "\u00a0", "\x00", "\u200b", "\u200f", "\u202e", "\u2028", "\u2029", "\ufe0f", "\ufeff", "\ufffd", "\uffff",
           "\ue000", "\ud7ff", "\U000e0001", "\U0010ffff")
# One string draw picks the text: U+0100 + i stands for _PIECES[i]. One contiguous range keeps
# hypothesis fast (it checks characters against the alphabet's intervals one by one).
_PIECE_CODES = "".join(chr(0x100 + i) for i in range(len(_PIECES)))

# Hypothesis spends tens of microseconds per draw but a few per byte of a `binary` draw, so values
# that need no shrinking come from small tables, picked by the bytes of one draw per block, per
# message and per chunking (see `_pick`), along with the cut positions: fewer draws, faster fuzzing.
_USAGES = tuple(
    {"input_tokens": inp, "cache_creation_input_tokens": c5 + c1, "cache_read_input_tokens": read,
     "cache_creation": {"ephemeral_5m_input_tokens": c5, "ephemeral_1h_input_tokens": c1},
     "output_tokens": out, "service_tier": "standard"}
    for inp, c5, c1, read, out in ((12, 0, 0, 0, 1), (2_048, 0, 0, 0, 3), (25, 1_523, 0, 0, 1), (31, 0, 0, 48_210, 4),
                                   (187_000, 512, 2_048, 90_000, 8), (4, 0, 0, 0, 1)))
_CITATIONS = (
    {"type": "char_location", "cited_text": "Le ciel est bleu.", "document_index": 0, "document_title": "Météo",
     "start_char_index": 0, "end_char_index": 17},
    {"type": "page_location", "cited_text": "第一章 😀", "document_index": 1, "document_title": None,
     "start_page_number": 3, "end_page_number": 4},
    {"type": "content_block_location", "cited_text": "a \"quoted\" \\ path", "document_index": 2,
     "document_title": "notes", "start_block_index": 0, "end_block_index": 2},
    {"type": "web_search_result_location", "cited_text": "Claude is a family of models", "url": "https://example.com/",
     "title": "Claude", "encrypted_index": "Eo8BCioIAhgBIiQ"},
    {"type": "search_result_location", "cited_text": "résultat", "source": "https://例え.jp/パス", "title": None,
     "search_result_index": 0, "start_block_index": 1, "end_block_index": 2},
)
_RESULT = {"type": "web_search_result", "title": "Claude (language model)", "url": "https://en.wikipedia.org/wiki/Claude",
           "encrypted_content": "EqgfCioIARgBIiQ3YTAwMjY1Mi1", "page_age": "2 days ago"}
_SEARCH_CONTENTS: tuple[Any, ...] = (
    [], [_RESULT], [_RESULT, {**_RESULT, "title": "日本語のページ", "page_age": None}],
    {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"},
    {"type": "web_search_tool_result_error", "error_code": "unavailable"})
_UNKNOWN_NAMES = ("content_block_annotation", "message_metadata", "tool_progress", "usage_update", "x_future",
                  "citation_start")
_UNKNOWN_FIELDS: tuple[dict[str, Any], ...] = (
    {}, {"index": 0}, {"progress": 0.5, "note": "en cours…"}, {"data": {"k": [1, "é", None]}}, {"index": 1, "ok": True})
_NAMES = st.sampled_from(_UNKNOWN_NAMES)
_FIELDS = st.sampled_from(_UNKNOWN_FIELDS)
_REFUSALS = (None, {"type": "refusal", "category": "cyber", "explanation": None},
             {"type": "refusal", "category": None, "explanation": "Policy ✋"})
# (separators, ensure_ascii, opening empty fragment): how the API may serialise a tool input.
_JSON_STYLE_VALUES = tuple((sep, ascii_, empty) for empty in (False, True) for ascii_ in (False, True)
                           for sep in ((",", ":"), (", ", ": ")))
_JSON_STYLES = st.sampled_from(_JSON_STYLE_VALUES)


@dataclass(frozen=True, slots=True)
class _Block:
    """One generated content block: how it starts, the deltas that fill it, what it must end as."""

    kind: str
    start: dict[str, Any]
    deltas: tuple[dict[str, Any], ...]
    final: dict[str, Any]

    def setting(self, key: str, value: Any) -> _Block:
        return replace(self, start={**self.start, key: value}, final={**self.final, key: value})


def _choice(*options: SearchStrategy[Any]) -> SearchStrategy[Any]:
    """`st.one_of(*options)` for hot paths: one_of builds a filtered strategy on every draw, this draws
    an index. Shrinks towards the first option, like one_of."""
    index = st.integers(0, len(options) - 1)

    @st.composite
    def choose(draw: Any) -> Any:
        return draw(options[draw(index)])

    return choose()


def _from_pieces(codes: str) -> str:
    return "".join(_PIECES[ord(c) - 0x100] for c in codes)


def _texts(max_pieces: int = 14) -> SearchStrategy[str]:
    """Text made of tricky pieces (multi-byte, combining, emoji sequences, escapes, odd code points).

    One draw each (hypothesis pays per draw); pass `texts=st.text()` for uniformly arbitrary Unicode.
    """
    return st.text(_PIECE_CODES, max_size=max_pieces).map(_from_pieces)


_SHORT = _texts(5)
_KEYS = _choice(st.sampled_from(("location", "query", "path", "unit", "é", "")), _SHORT)
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), _SHORT),
    lambda inner: st.one_of(st.lists(inner, max_size=2), st.dictionaries(_KEYS, inner, max_size=2)), max_leaves=4)
_TOOL_NAMES = ("get_weather", "search", "calculator", "read_file", "x", "run-sql_v2", "a" * 64)
_BLOBS = st.text(_B64, min_size=1, max_size=48)


def _positions(raw: bytes, n: int) -> list[int]:
    """Sorted distinct positions in [1, n] read from pairs of bytes (fewer, smaller bytes: fewer, earlier)."""
    if n < 1:
        return []
    return sorted({1 + int.from_bytes(raw[i:i + 2], "big") * n // 65536 for i in range(0, len(raw) - 1, 2)})


def _split(text: str, raw: bytes) -> list[str]:
    """`text` cut at positions read from `raw` into non-empty fragments (none for empty text)."""
    bounds = [0, *_positions(raw, len(text) - 1), len(text)]
    return [text[a:b] for a, b in pairwise(bounds) if b > a]


# --- blocks --------------------------------------------------------------------------------------


def _text_block(text: str, cuts: bytes) -> list[_Block]:
    deltas = tuple({"type": "text_delta", "text": piece} for piece in _split(text, cuts))
    return [_Block("text", {"type": "text", "text": ""}, deltas, {"type": "text", "text": text})]


def _cited_text_block(text: str, cuts: bytes, citations: list[dict[str, Any]], places: bytes,
                      start: dict[str, Any]) -> list[_Block]:
    deltas: list[dict[str, Any]] = [{"type": "text_delta", "text": p} for p in _split(text, cuts)]
    texts = len(deltas)
    at = sorted(places[i] * (texts + 1) // 256 if i < len(places) else 0 for i in range(len(citations)))
    for i, (position, citation) in enumerate(zip(at, citations)):  # in order, among the text deltas
        deltas.insert(position + i, {"type": "citations_delta", "citation": dict(citation)})
    cited = [dict(c) for c in citations]
    return [_Block("citations", {"type": "text", "text": "", **start}, tuple(deltas),
                   {"type": "text", "text": text, "citations": cited})]


def _input_deltas(value: dict[str, Any], style: tuple[tuple[str, str], bool, bool],
                  cuts: bytes) -> tuple[dict[str, Any], ...]:
    separators, ensure_ascii, opening = style
    fragments = _split(json.dumps(value, ensure_ascii=ensure_ascii, separators=separators), cuts)
    if opening:
        fragments.insert(0, "")  # the API often opens a tool call with an empty fragment
    return tuple({"type": "input_json_delta", "partial_json": f} for f in fragments)


def _tool_use_block(name: str, value: dict[str, Any], style: Any, cuts: bytes) -> list[_Block]:
    start = {"type": "tool_use", "id": "", "name": name, "input": {}}
    return [_Block("tool_use", start, _input_deltas(value, style, cuts), {**start, "input": value})]


def _thinking_block(thinking: str, cuts: bytes, signature: str) -> list[_Block]:
    deltas = [{"type": "thinking_delta", "thinking": p} for p in _split(thinking, cuts)]
    deltas.append({"type": "signature_delta", "signature": signature})
    return [_Block("thinking", {"type": "thinking", "thinking": "", "signature": ""}, tuple(deltas),
                   {"type": "thinking", "thinking": thinking, "signature": signature})]


def _redacted_thinking_block(data: str) -> list[_Block]:
    block = {"type": "redacted_thinking", "data": data}
    return [_Block("redacted_thinking", block, (), dict(block))]


def _server_tool_blocks(query: str, style: Any, cuts: bytes, caller: dict[str, Any],
                        content: Any) -> list[_Block]:
    value = {"query": query}
    start = {"type": "server_tool_use", "id": "", "name": "web_search", "input": {}, **caller}
    result = {"type": "web_search_tool_result", "tool_use_id": "", "content": content}
    return [_Block("server_tool_use", start, _input_deltas(value, style, cuts), {**start, "input": value}),
            _Block("web_search_tool_result", result, (), dict(result))]


def _unknown_block(name: str, fields: dict[str, Any]) -> list[_Block]:
    start = {**fields, "type": f"{name}_block"}
    return [_Block("unknown", start, (), dict(start))]


_PARAMS = 5
"""Bytes of a block's shape before its cut positions: its kind, then four choices (see `_block`)."""
_CITATION_STARTS: tuple[dict[str, Any], ...] = ({}, {"citations": None}, {"citations": []})
_CALLERS: tuple[dict[str, Any], ...] = ({}, {"caller": {"type": "direct"}})
# Signatures and redacted data are opaque to a consumer: a few shapes of base64, short to long.
_BLOB_VALUES = ("EqQBCkYIBxgCKkB", "a", "ErUBCkYIARgCIkD+/9z1x==", "Eo8BCioIAhgBIiQ3YTAwMjY1Mi1lZTcwLTRhNjAt+/==AAAA")
_TOOL_INPUT_OPTIONS = (
    st.just({}),
    st.builds(lambda q: {"query": q}, _SHORT),
    st.builds(lambda s, n: {"location": s, "unit": "celsius", "days": n}, _SHORT, st.integers()),
    st.builds(lambda k, s: {k: s}, _SHORT, _SHORT),
    st.builds(lambda s, f, b: {"items": [s, f, b, None], "nested": {"deep": {"s": s}}}, _SHORT,
              st.floats(allow_nan=False, allow_infinity=False), st.booleans()),
    st.dictionaries(_KEYS, _JSON, max_size=2),  # anything else
)


def _pick(options: Sequence[Any], byte: int) -> Any:
    """The option `byte` stands for: 0 the first, and a smaller byte never a later option (so it shrinks)."""
    return options[byte * len(options) // 256]


@st.composite
def _block(draw: Any, kinds: tuple[str, ...], texts: SearchStrategy[str],
           shapes: SearchStrategy[bytes]) -> list[_Block]:
    """One content block of one of `kinds` (a server tool use brings its result block).

    Hypothesis pays per draw, far more than per byte, so everything but the text and a tool's
    input comes from one `shapes` draw: the kind, four choices (tool name, input and JSON style;
    citations and where they go; ...), then the cut positions. Each choice is a `_pick`, so
    hypothesis shrinking the bytes shrinks the block: towards the first kind, the first of each
    option, and fewer, earlier cuts.
    """
    raw = draw(shapes)
    kind, a, b, c = _pick(kinds, raw[0]), raw[1], raw[2], raw[3]
    cuts = raw[_PARAMS:]
    if kind == "text":
        return _text_block(draw(texts), cuts)
    if kind == "citations":
        picked = raw[2:3 + a * 3 // 256]  # one to three citations, each byte saying which and where
        return _cited_text_block(draw(texts), cuts, [_CITATIONS[x % len(_CITATIONS)] for x in picked], picked,
                                 _CITATION_STARTS[a % len(_CITATION_STARTS)])
    if kind == "tool_use":
        return _tool_use_block(_pick(_TOOL_NAMES, a), draw(_pick(_TOOL_INPUT_OPTIONS, b)), _pick(_JSON_STYLE_VALUES, c),
                               cuts)
    if kind == "thinking":
        return _thinking_block(draw(texts), cuts, _pick(_BLOB_VALUES, a))
    if kind == "redacted_thinking":
        return _redacted_thinking_block(_pick(_BLOB_VALUES, a))
    if kind == "server_tool_use":
        return _server_tool_blocks(draw(texts), _pick(_JSON_STYLE_VALUES, c), cuts, _pick(_CALLERS, a),
                                   _pick(_SEARCH_CONTENTS, b))
    return _unknown_block(_pick(_UNKNOWN_NAMES, a), _pick(_UNKNOWN_FIELDS, b))


# --- messages ------------------------------------------------------------------------------------


def _unknown_event(name: str, fields: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return name, {**fields, "type": name}


def _unknown_delta(index: int, name: str, fields: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_delta", {"type": "content_block_delta", "index": index,
                                   "delta": {**fields, "type": f"{name}_delta"}}


def _ordered(blocks: list[_Block], tag: str = "fuzz") -> list[_Block]:
    """Thinking first and client tool calls last, as the API orders them; ids assigned in order."""
    rank = {"thinking": 0, "redacted_thinking": 0, "tool_use": 2}
    out, server_id = [], ""
    for n, block in enumerate(sorted(blocks, key=lambda b: rank.get(b.kind, 1)), 1):
        if block.kind == "tool_use":
            block = block.setting("id", f"toolu_{tag}{n:02d}")
        elif block.kind == "server_tool_use":
            server_id = f"srvtoolu_{tag}{n:02d}"
            block = block.setting("id", server_id)
        elif block.kind == "web_search_tool_result":
            block = block.setting("tool_use_id", server_id)
        out.append(block)
    return out


def _output_tokens(blocks: list[_Block]) -> int:
    """About one token per four characters of streamed content, as `_synthetic.message` estimates."""
    return streamed_chars(d for b in blocks for d in b.deltas) // 4 + 1


@dataclass(frozen=True)
class _Config:
    """What `message_streams` was asked for, with its strategies built once (not per draw)."""

    call: str  # how message_streams was called, for hypothesis' messages

    heads: SearchStrategy[bytes]
    block: SearchStrategy[list[_Block]]
    required: int  # min_blocks, drawn one by one: a list's min_size costs a (forced) choice per element
    extra: SearchStrategy[list[list[_Block]]]  # then up to max_blocks - min_blocks more
    tool_use: SearchStrategy[list[_Block]]
    stop_reasons: tuple[str, ...]
    pings: bool
    unknown_events: bool
    timings: SearchStrategy[Timing] | None
    chunkings: SearchStrategy[Chunking] | None

    def __repr__(self) -> str:
        return self.call


_STREAMED = frozenset(("text", "citations", "tool_use", "thinking", "server_tool_use"))
_STOP_SEQUENCES = ("\n\nHuman:", "END", "</answer>", "。")
_MAX_EXTRAS = 5
# A message's shape: its style (usage, model, cumulative totals in message_delta, refusal details),
# then two bytes per extra event (see `_with_extras`).
_SHAPES = st.binary(min_size=1, max_size=1 + 2 * _MAX_EXTRAS)
_MESSAGE_STYLES = tuple((usage, model, cumulative, refusal) for cumulative in (False, True)
                        for refusal in _REFUSALS for usage in _USAGES for model in _MODELS)


@st.composite
def _streams(draw: Any, config: _Config) -> GeneratedStream:
    # One draw for the stop reason, the stop sequence and the message's shape; one per block.
    head = draw(config.heads)
    stop = _pick(config.stop_reasons, head[0])
    groups = [draw(config.block) for _ in range(config.required)] + draw(config.extra)
    blocks = [block for group in groups for block in group]
    has_tools = any(b.kind == "tool_use" for b in blocks)
    if stop == "tool_use" and not has_tools:
        blocks += draw(config.tool_use)
    elif has_tools and stop not in ("tool_use", "max_tokens"):
        if "tool_use" in config.stop_reasons:
            stop = "tool_use"  # a message with tool calls ends for them (or runs out of tokens)
        else:
            blocks = [b for b in blocks if b.kind != "tool_use"]
    events, final = assemble(draw, blocks, stop, _pick(_STOP_SEQUENCES, head[1]) if stop == "stop_sequence" else None,
                             pings=config.pings, unknown_events=config.unknown_events, shape=head[2:])
    timing = draw(config.timings) if config.timings is not None else Timing()
    chunking = draw(config.chunkings) if config.chunkings is not None else None
    return GeneratedStream(tuple(events), final, timing, chunking)


def assemble(draw: Any, blocks: list[_Block], stop: str, stop_sequence: str | None, *, pings: bool,
             unknown_events: bool, model: str | None = None, tag: str = "fuzz", output_tokens: int | None = None,
             shape: bytes | None = None) -> tuple[list[tuple[str, Any]], dict[str, Any]]:
    """The events of a message made of `blocks` (put in API order), and the Message the SDK must assemble.

    `tag` makes the message and tool ids (`msg_<tag>01`, `toolu_<tag>NN`); `model` and
    `output_tokens` default to drawn ones and to an estimate from the streamed content.
    `shape` (at least a byte; drawn when None) picks the usage, model and refusal details, and the
    extra events.
    """
    blocks = _ordered(blocks, tag)
    shape = draw(_SHAPES) if shape is None else shape
    usage, drawn_model, cumulative, refusal = _pick(_MESSAGE_STYLES, shape[0])
    model = model or drawn_model
    msg_id = f"msg_{tag}01"
    delta_usage: dict[str, Any] = {"output_tokens": output_tokens or _output_tokens(blocks)}
    if cumulative:  # newer API versions repeat the cumulative totals in message_delta
        delta_usage.update({k: usage[k] for k in ("input_tokens", "cache_creation_input_tokens",
                                                   "cache_read_input_tokens")})
        if searches := sum(b.kind == "server_tool_use" for b in blocks):
            delta_usage["server_tool_use"] = {"web_search_requests": searches, "web_fetch_requests": 0}
        if any(b.kind == "thinking" for b in blocks):
            delta_usage["output_tokens_details"] = {"thinking_tokens": delta_usage["output_tokens"] // 2}
    stop_details = refusal if stop == "refusal" else None
    base = message(*[(b.start, list(b.deltas)) for b in blocks], model=model, msg_id=msg_id,
                   stop_reason=stop, stop_sequence=stop_sequence, ping=False, usage=usage, delta_usage=delta_usage,
                   stop_details=stop_details)
    events = _with_extras(shape[1:], base, blocks, pings=pings, unknown=unknown_events)
    final = {"id": msg_id, "type": "message", "role": "assistant", "model": model,
             "content": [b.final for b in blocks], "stop_reason": stop, "stop_sequence": stop_sequence,
             "stop_details": stop_details,
             # message_delta's usage holds cumulative totals: they replace message_start's.
             "usage": {**usage, **{k: v for k, v in delta_usage.items() if v is not None}}}
    return events, final


def _with_extras(extras: bytes, base: list[tuple[str, Any]], blocks: list[_Block], *, pings: bool,
                 unknown: bool) -> list[tuple[str, Any]]:
    """`base` with pings, unknown events and unknown deltas inserted (never before message_start).

    Each extra is two bytes of `extras`: what (ping, unknown event or delta, which name, which
    fields) and where (for a delta: which block, and where in it).
    """
    kinds = (["ping"] if pings else []) + (["event", "delta"] if unknown else [])
    if not kinds:
        return base
    last = len(base) - 1  # insert before message_stop at the latest
    starts = [i for i, (name, _) in enumerate(base) if name == "content_block_start"]
    # Only blocks that stream deltas can take an unknown one (redacted thinking and search results never do).
    known = [i for i, b in enumerate(blocks) if b.kind in _STREAMED]
    inserted: dict[int, list[tuple[str, Any]]] = {}
    for what, where in zip(extras[::2], extras[1::2]):
        kind, rest = kinds[what % len(kinds)], what // len(kinds)
        name = _UNKNOWN_NAMES[rest % len(_UNKNOWN_NAMES)]
        fields = _UNKNOWN_FIELDS[rest // len(_UNKNOWN_NAMES) % len(_UNKNOWN_FIELDS)]
        if kind == "ping":
            inserted.setdefault(1 + where * last // 256, []).append(("ping", {"type": "ping"}))
        elif kind == "event":
            inserted.setdefault(1 + where * last // 256, []).append(_unknown_event(name, fields))
        elif known:
            index = known[where % len(known)]
            at = starts[index] + 1 + where // len(known) % (len(blocks[index].deltas) + 1)  # before a delta or the stop
            inserted.setdefault(at, []).append(_unknown_delta(index, name, fields))
    out: list[tuple[str, Any]] = []
    for i, event in enumerate(base):
        out += inserted.get(i, [])
        out.append(event)
    return out


def message_streams(*, blocks: Iterable[str] = BLOCK_KINDS, min_blocks: int = 0, max_blocks: int = 4,
                    max_deltas: int = 6, stop_reasons: Iterable[str] = STOP_REASONS, pings: bool = True,
                    unknown_events: bool = True, unknown_blocks: bool = False, texts: SearchStrategy[str] | None = None,
                    timings: SearchStrategy[Timing] | None = None,
                    chunkings: SearchStrategy[Chunking] | None = None) -> SearchStrategy[GeneratedStream]:
    """Protocol-valid Messages API streams, each with the final Message the SDK must assemble.

    `blocks` chooses the content block kinds (see `BLOCK_KINDS`), between `min_blocks` and
    `max_blocks` of them (a server tool use brings its result block along), each streamed in at
    most `max_deltas` deltas. `stop_reasons` are drawn from; a message with tool calls stops with
    `tool_use` (or `max_tokens`). `pings` inserts pings anywhere after message_start;
    `unknown_events` inserts events and deltas of unknown future types, which the SDK must ignore;
    `unknown_blocks` adds content blocks of unknown types (off: see the module docstring).
    `texts` draws the text of text, thinking and search-query content (default: heavy on
    multi-byte UTF-8). `timings` / `chunkings`, when given, draw each stream's `timing` and
    `chunking` (defaults: `Timing()`, one chunk per event).

    >>> @given(message_streams(blocks=["tool_use"], min_blocks=2))
    ... def test_two_tool_calls(stream): ...
    """
    kinds = tuple(blocks)
    unknown = sorted(set(kinds) - set(BLOCK_KINDS))
    if unknown:
        raise InvalidArgument(f"unknown block kind(s) {unknown}; choose from {', '.join(BLOCK_KINDS)}")
    stops = tuple(stop_reasons)
    if not stops or set(stops) - set(STOP_REASONS):
        raise InvalidArgument(f"stop_reasons must be some of {', '.join(STOP_REASONS)}, got {stops}")
    if "tool_use" not in kinds:
        stops = tuple(s for s in stops if s != "tool_use")
        if not stops:
            raise InvalidArgument("stop_reasons=['tool_use'] needs 'tool_use' in blocks")
    if not 0 <= min_blocks <= max_blocks or max_deltas < 1:
        raise InvalidArgument(f"need 0 <= min_blocks <= max_blocks and max_deltas >= 1, got "
                              f"{min_blocks}, {max_blocks}, {max_deltas}")
    all_kinds = kinds + (("unknown",) if unknown_blocks else ())
    if min_blocks and not all_kinds:
        raise InvalidArgument("min_blocks > 0 needs at least one block kind")
    text = texts if texts is not None else _texts()
    shapes = st.binary(min_size=_PARAMS, max_size=_PARAMS + 2 * (max_deltas - 1))
    block = _block(all_kinds, text, shapes)
    extra = st.lists(block, max_size=max_blocks - min_blocks) if all_kinds else st.just([])
    options = {"blocks": kinds, "min_blocks": min_blocks, "max_blocks": max_blocks, "max_deltas": max_deltas,
               "stop_reasons": stops, "pings": pings, "unknown_events": unknown_events,
               "unknown_blocks": unknown_blocks, "texts": texts, "timings": timings, "chunkings": chunkings}
    call = "message_streams(" + ", ".join(f"{k}={v!r}" for k, v in options.items()) + ")"
    heads = st.binary(min_size=3, max_size=3 + 2 * _MAX_EXTRAS)  # stop reason, stop sequence, then a shape
    return _streams(_Config(call, heads, block, min_blocks, extra, _block(("tool_use",), text, shapes), stops, pings,
                            unknown_events, timings, chunkings))


# --- delivery ------------------------------------------------------------------------------------


def chunkings(*, newlines: Iterable[str] = ("\n", "\r\n", "\r"), max_size: int = 64) -> SearchStrategy[Chunking]:
    """Ways to cut a stream's bytes: per event, whole, `size` bytes (1: byte by byte), inside lines,
    inside multi-byte UTF-8 characters, inside `\\r\\n` (with CRLF framing), or at random points.

    `newlines` are the line endings events may be framed with (all three are valid SSE).
    Shrinks towards one chunk per event with `\\n` framing.
    """
    framings = tuple(newlines)
    if not framings or set(framings) - {"\n", "\r\n", "\r"}:
        raise InvalidArgument(f"newlines must be some of '\\n', '\\r\\n', '\\r', got {framings!r}")
    modes = ("events", "whole", "size", "lines", "utf8", *(("crlf",) if "\r\n" in framings else ()), "random")
    return _chunkings(modes, framings, max_size)


_MAX_POINTS = 8
# The cut, the framing, then a size, or two bytes per random cut point (at least one).
_CUT_SHAPES = st.binary(min_size=4, max_size=2 + 2 * _MAX_POINTS)


@st.composite
def _chunkings(draw: Any, modes: tuple[str, ...], framings: tuple[str, ...], max_size: int) -> Chunking:
    """One bytes draw for all of a chunking: each choice a `_pick`, so it shrinks like the bytes."""
    raw = draw(_CUT_SHAPES)
    cut, newline = _pick(modes, raw[0]), _pick(framings, raw[1])
    if cut == "size":
        return Chunking("size", size=1 + raw[2] * max_size // 256, newline=newline)
    if cut == "crlf":
        return Chunking("crlf", newline="\r\n")
    if cut == "random":
        points = sorted(int.from_bytes(raw[i:i + 2], "big") / 65536 for i in range(2, len(raw) - 1, 2))
        return Chunking("random", newline=newline, points=tuple(points))
    return Chunking(cut, newline=newline)


_any_chunking = chunkings  # `mutations(chunkings=...)` shadows the name


def _ms(seconds: float) -> float:
    return round(seconds, 3)  # tidy cassettes


def timings(*, max_first: float = 3.0, max_gap: float = 0.5, stalls: bool = True) -> SearchStrategy[Timing]:
    """Inter-event gaps: time to the first event up to `max_first` s, gaps up to `max_gap` s (bursts of
    zero gaps included) and, with `stalls`, the odd 2-30 s silence. Apply with `stream.with_timing(t)`.
    """
    gap = st.floats(0, max_gap).map(_ms)
    if stalls:
        gap = st.one_of(gap, st.just(0.0), st.floats(2, 30).map(_ms))
    gaps = st.lists(gap, min_size=1, max_size=8).map(tuple)
    return st.builds(Timing, first=st.floats(0, max_first).map(_ms), gaps=gaps)


# --- mutations -----------------------------------------------------------------------------------

_FAULT_KINDS = ("drop", "read-error", "truncate", "malformed", "error", "stall", "status")


def mutations(cassette: Cassette | str | os.PathLike[str], *, max_changes: int = 4,
              chunkings: SearchStrategy[Chunking] | None = None, faults: bool = True,
              any_request: bool = False) -> SearchStrategy[MutatedCassette]:
    """Variations of a recorded cassette that a robust app must survive.

    Up to `max_changes` edits that keep each stream valid (a ping or an unknown event inserted,
    a text / thinking / tool-input delta split in two, the gaps before events scaled), a
    `chunking` (default: drawn from `chunkings()`), and with `faults` maybe one fault on one call:
    a mid-stream drop, read error, truncation, malformed chunk, error event or stall at any event,
    or an HTTP 429/500/529 before it (with `retry-after` 1 ms, so SDK retries are instant).
    `any_request=True` lets each interaction answer any request, in recorded order.
    Shrinks towards the cassette as recorded.
    """
    source = cassette if isinstance(cassette, Cassette) else recorder.load(cassette)
    if any_request:
        source = replace(source, interactions=tuple(replace(i, request=None) for i in source.interactions))
    streams = [n for n, i in enumerate(source.interactions) if i.events]
    if not streams:
        raise InvalidArgument(f"{source.path or 'the cassette'} has no streamed interaction to mutate")
    return _mutants(source, streams, max_changes, chunkings if chunkings is not None else _any_chunking(), faults)


@st.composite
def _mutants(draw: Any, source: Cassette, streams: list[int], max_changes: int, chunking: SearchStrategy[Chunking],
             with_faults: bool) -> MutatedCassette:
    interactions = list(source.interactions)
    changes: list[str] = []
    for _ in range(draw(st.integers(0, max_changes))):
        k = draw(st.sampled_from(streams))
        target = interactions[k]
        what = draw(st.sampled_from(("ping", "unknown", "split", "retime")))
        last = max(1, len(target.events) - 1)
        if what == "ping":
            at = draw(st.integers(1, last))
            interactions[k] = insert_event(target, at, "ping", {"type": "ping"})
            changes.append(f"interaction {target.id}: ping inserted before event {at}")
        elif what == "unknown":
            at, (name, data) = draw(st.integers(1, last)), _unknown_event(draw(_NAMES), draw(_FIELDS))
            interactions[k] = insert_event(target, at, name, data)
            changes.append(f"interaction {target.id}: unknown event {name!r} inserted before event {at}")
        elif what == "split" and (candidates := splittable(target)):
            index = draw(st.sampled_from(candidates))
            delta = target.events[index].data["delta"]
            value = delta[SPLITTABLE[delta["type"]]]
            at = draw(st.integers(1, len(value) - 1))
            interactions[k] = split_delta(target, index, at)
            changes.append(f"interaction {target.id}: delta at event {index} split at character {at}")
        elif what == "retime":
            factors = tuple(draw(st.lists(st.floats(0, 4).map(lambda x: round(x, 2)), min_size=1, max_size=4)))
            interactions[k] = retime(target, factors)
            changes.append(f"interaction {target.id}: gaps between events scaled by {list(factors)}")
    mutated = replace(source, interactions=tuple(interactions))
    fault = draw(st.none() | _fault_for(mutated, streams)) if with_faults else None
    return MutatedCassette(mutated, tuple(changes), draw(chunking), (fault,) if fault is not None else ())


@st.composite
def _fault_for(draw: Any, cassette: Cassette, streams: list[int]) -> _faults.Fault:
    """One fault on the call that plays interaction k (calls and interactions in recorded order)."""
    k = draw(st.sampled_from(streams))
    kind = draw(st.sampled_from(_FAULT_KINDS))
    at = draw(st.integers(0, len(cassette.interactions[k].events)))
    fault: _faults.Fault
    if kind == "status":
        fault = _faults.status(draw(st.sampled_from((529, 429, 500))), retry_after=0.001)
    elif kind in ("drop", "read-error"):
        fault = _faults.Break(trigger=_faults.Trigger(events=at), error=kind)  # type: ignore[arg-type]
    elif kind == "truncate":
        fault = _faults.truncate(events=at)
    elif kind == "malformed":
        fault = _faults.malformed(events=at)
    elif kind == "error":
        fault = _faults.error_event(draw(st.sampled_from(("overloaded_error", "api_error"))), events=at)
    else:
        fault = _faults.stall(draw(st.floats(0.5, 30).map(lambda x: round(x, 1))), events=at)
    return replace(fault, calls=(k, k + 1))
