"""replayer.strategies: whatever is drawn, the real SDK assembles the Message we predicted, however cut.

The oracle (`stream.final_message`) is worked out from the generated blocks, never by running the
SDK; these tests hand the same stream to the SDK through FakeAnthropic and compare.
"""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import recorder
from replayer import FakeAnthropic, FakeAsyncAnthropic, ReplayTransport, Script, VirtualClock, faults
from replayer._chunking import CUT_MODES, Chunking
from replayer._script import Pause
from replayer.fuzzing._synthetic import sse_bytes, text_message
from replayer.strategies import (
    DELTA_TYPES,
    STOP_REASONS,
    GeneratedStream,
    MutatedCassette,
    Timing,
    chunkings,
    message_streams,
    mutations,
    timings,
)
from tests.helpers import CASSETTES

REQUEST: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 256,
                           "messages": [{"role": "user", "content": "Hi"}]}
# Many examples, no deadline (the SDK's first import is slow), no example database left behind.
MANY = settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def final_message(client: anthropic.Anthropic) -> dict[str, Any]:
    with client, client.messages.stream(**REQUEST) as stream:
        return stream.get_final_message().to_dict()


async def afinal_message(client: anthropic.AsyncAnthropic) -> dict[str, Any]:
    async with client, client.messages.stream(**REQUEST) as stream:
        return (await stream.get_final_message()).to_dict()


def fake(stream: Any, chunking: Chunking | None = None, **kwargs: Any) -> anthropic.Anthropic:
    return FakeAnthropic(stream, chunking=chunking, max_retries=0, **kwargs)


# --- the oracle against the SDK ---------------------------------------------------------------


@MANY
@given(message_streams(), chunkings())
def test_sdk_assembles_the_predicted_message_however_the_bytes_are_cut(stream: GeneratedStream,
                                                                        chunking: Chunking) -> None:
    assert final_message(fake(stream, chunking)) == stream.final_message


@SOME
@given(message_streams(texts=st.text()), chunkings())
def test_any_unicode_text(stream: GeneratedStream, chunking: Chunking) -> None:
    assert final_message(fake(stream, chunking)) == stream.final_message


@MANY
@given(message_streams(max_blocks=6, max_deltas=12))
def test_sdk_yields_every_event_but_the_pings(stream: GeneratedStream) -> None:
    with fake(stream) as client:
        seen = [event.type for event in client.messages.create(**REQUEST, stream=True)]
    assert seen == [data["type"] for name, data in stream.events if name != "ping"]


@SOME
@given(message_streams(), chunkings())
def test_async_sdk_assembles_the_predicted_message(stream: GeneratedStream, chunking: Chunking) -> None:
    client = FakeAsyncAnthropic(stream, chunking=chunking, max_retries=0)
    assert asyncio.run(afinal_message(client)) == stream.final_message


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
@pytest.mark.parametrize("cut", CUT_MODES)
@FEW
@given(stream=message_streams(), size=st.integers(1, 7), points=st.lists(st.floats(0, 0.999), max_size=6))
def test_every_chunking_and_framing(cut: str, newline: str, stream: GeneratedStream, size: int,
                                    points: list[float]) -> None:
    if cut == "crlf" and newline != "\r\n":
        newline = "\r\n"
    chunking = Chunking(cut, size=size, points=tuple(sorted(points)), newline=newline)  # type: ignore[arg-type]
    assert final_message(fake(stream, chunking)) == stream.final_message


@SOME
@given(message_streams(unknown_blocks=True, blocks=["text", "tool_use"]))
def test_unknown_block_types_are_kept_with_a_pydantic_warning(stream: GeneratedStream) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # anthropic 2.14: serializer warning for unknown blocks
        assert final_message(fake(stream)) == stream.final_message


def serving(body: bytes) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="x", max_retries=0, http_client=httpx2.Client(
        transport=httpx2.MockTransport(lambda r: httpx2.Response(
            200, headers={"content-type": "text/event-stream"}, content=body))))


def test_sdk_quirks_the_strategies_avoid() -> None:
    """Documented in replayer.strategies: what unknown events may not look like."""
    base = text_message("hi", ping=False)

    def with_event(data: str) -> bytes:
        return sse_bytes(base[:2]) + f"event: future\ndata: {data}\n\n".encode() + sse_bytes(base[2:])

    # Data that is not a JSON object breaks the SDK.
    for data, error in (('[1]', TypeError), ('"x"', TypeError), ('null', TypeError), ("not json", ValueError)):
        with pytest.raises(error):
            final_message(serving(with_event(data)))
    # The SDK goes by the data's type, not the event name: an unknown name with a known type counts.
    delta = '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"X"}}'
    assert final_message(serving(with_event(delta)))["content"][0]["text"] == "Xhi"


# --- coverage: every kind of block, delta, stop reason and extra shows up ---------------------------


def test_every_block_delta_and_stop_reason_is_drawn() -> None:
    seen: dict[str, set[str]] = {"blocks": set(), "deltas": set(), "stops": set(), "events": set()}

    @settings(max_examples=600, deadline=None, database=None, derandomize=True)
    @given(message_streams())
    def collect(stream: GeneratedStream) -> None:
        seen["stops"].add(stream.final_message["stop_reason"])
        for name, data in stream.events:
            seen["events"].add(name if name in ("ping", "message_start", "content_block_delta") else
                               ("unknown" if data["type"] not in _KNOWN_EVENTS else name))
            if name == "content_block_start":
                seen["blocks"].add(data["content_block"]["type"])
            elif name == "content_block_delta":
                kind = data["delta"]["type"]
                seen["deltas"].add(kind if kind in DELTA_TYPES else "unknown")
        if stream.final_message["stop_reason"] == "stop_sequence":
            assert stream.final_message["stop_sequence"]

    collect()
    assert seen["stops"] == set(STOP_REASONS)
    assert seen["deltas"] == {*DELTA_TYPES, "unknown"}
    assert seen["blocks"] == {"text", "tool_use", "thinking", "redacted_thinking", "server_tool_use",
                              "web_search_tool_result"}
    assert {"ping", "unknown"} <= seen["events"]


SHRINK = settings(max_examples=300, database=None, derandomize=True, suppress_health_check=list(HealthCheck))


def test_every_chunking_and_framing_is_drawn() -> None:
    seen: set[tuple[str, str]] = set()

    @settings(max_examples=400, deadline=None, database=None, derandomize=True)
    @given(chunkings())
    def collect(chunking: Chunking) -> None:
        seen.add((chunking.cut, chunking.newline))
        assert chunking.cut != "random" or 1 <= len(chunking.points) <= 8
        assert 1 <= chunking.size <= 64

    collect()
    assert {cut for cut, _ in seen} == set(CUT_MODES)
    assert {newline for cut, newline in seen if cut not in ("crlf",)} == {"\n", "\r\n", "\r"}
    byte_by_byte = settings(SHRINK, max_examples=3000)
    assert find(chunkings(), lambda c: c.cut == "size" and c.size == 1, settings=byte_by_byte)
    assert find(chunkings(), lambda c: True, settings=SHRINK) == Chunking()  # shrinks to one chunk per event
    assert find(chunkings(), lambda c: c.cut == "random", settings=SHRINK) == Chunking("random", points=(0.0,))


def test_failures_shrink_to_minimal_streams() -> None:
    """Whatever a failure needs, shrinking leaves about just that: the blocks it needs, few deltas, no extras."""
    def minimal(condition: Any) -> GeneratedStream:
        return find(message_streams(), condition, settings=SHRINK)

    two_tools = minimal(lambda s: sum(b["type"] == "tool_use" for b in s.final_message["content"]) > 1)
    assert [name for name, _ in two_tools.events] == ["message_start", *["content_block_start", "content_block_delta",
                                                      "content_block_stop"] * 2, "message_delta", "message_stop"]
    assert [b["input"] for b in two_tools.final_message["content"]] == [{}, {}]
    cited = minimal(lambda s: any(b.get("citations") for b in s.final_message["content"]))
    assert [b["type"] for b in cited.final_message["content"]] == ["text"]
    assert len(cited.final_message["content"][0]["citations"]) == 1 and len(cited.events) <= 6
    split = minimal(lambda s: sum(n == "content_block_delta" for n, _ in s.events) > 2)
    assert len(split.events) <= 9 and len(split.final_message["content"]) <= 2
    unknown = minimal(lambda s: any(n not in _KNOWN_EVENTS for n, _ in s.events))
    assert len(unknown.events) == 4 and unknown.final_message["content"] == []


_KNOWN_EVENTS = {"message_start", "message_delta", "message_stop", "content_block_start", "content_block_delta",
                 "content_block_stop", "ping"}


@SOME
@given(message_streams(blocks=["tool_use"], min_blocks=2, max_blocks=3, stop_reasons=["tool_use"]))
def test_options_select_what_appears(stream: GeneratedStream) -> None:
    blocks = stream.final_message["content"]
    assert 2 <= len(blocks) <= 3 and {b["type"] for b in blocks} == {"tool_use"}
    assert len({b["id"] for b in blocks}) == len(blocks)  # ids are unique
    assert stream.final_message["stop_reason"] == "tool_use"


@FEW
@given(message_streams(pings=False, unknown_events=False))
def test_without_extras_only_protocol_events(stream: GeneratedStream) -> None:
    assert {name for name, _ in stream.events} <= _KNOWN_EVENTS - {"ping"}


@pytest.mark.parametrize("kwargs", [{"blocks": ["pictures"]}, {"stop_reasons": ["done"]},
                                    {"blocks": ["text"], "stop_reasons": ["tool_use"]},
                                    {"min_blocks": 3, "max_blocks": 2}, {"max_deltas": 0}])
def test_bad_options_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        find(message_streams(**kwargs), lambda s: True, settings=FEW)


# --- generated streams as cassettes -------------------------------------------------------------


@FEW
@given(message_streams(), timings())
def test_save_load_replay_and_timing(tmp_path_factory: Any, stream: GeneratedStream, timing: Timing) -> None:
    stream = stream.with_timing(timing)
    path = stream.save(tmp_path_factory.mktemp("s") / "stream.jsonl")
    loaded = recorder.load(path)
    assert loaded.header["synthetic"].startswith("generated")
    assert [e.t for e in loaded[0].events] == list(timing.times(len(stream.events)))
    assert final_message(fake(path)) == stream.final_message
    # Replayed at the recorded pace on a virtual clock, each event arrives at its generated time.
    clock = VirtualClock()
    arrivals = []
    with FakeAnthropic(stream, speed=1.0, clock=clock, max_retries=0) as client:
        for _ in client.messages.create(**REQUEST, stream=True):
            arrivals.append(clock.now())
    expected = [t for t, (name, _) in zip(timing.times(len(stream.events)), stream.events) if name != "ping"]
    assert arrivals == pytest.approx(expected)


def test_a_stream_is_accepted_wherever_a_cassette_is() -> None:
    stream = find(message_streams(blocks=["text"], min_blocks=1), lambda s: True, settings=FEW)
    assert ReplayTransport(stream).cassette is stream.cassette
    assert stream.cassette[0].request is None  # answers any request
    assert final_message(stream.client(max_retries=0)) == stream.final_message


def test_timing_times() -> None:
    assert Timing(first=0.5, gaps=(0.01, 0.2)).times(4) == (0.5, 0.51, 0.71, 0.72)
    with pytest.raises(ValueError):
        Timing(gaps=())


# --- chunking -------------------------------------------------------------------------------------


def script(*chunks: bytes, pause_after: int | None = None) -> Script:
    steps: list[Any] = []
    for i, chunk in enumerate(chunks):
        steps.append((i * 0.1, chunk))
        if pause_after == i:
            steps.append((i * 0.1, Pause(2.0)))
    return Script(tuple(steps), 1.0, httpx2.RemoteProtocolError("drop"))


def pieces(s: Script) -> list[bytes]:
    return [item for _, item in s.steps if isinstance(item, bytes)]


@SOME
@given(st.binary(min_size=1, max_size=60), st.binary(min_size=1, max_size=60), chunkings())
def test_chunking_keeps_the_bytes_pauses_and_ending(a: bytes, b: bytes, chunking: Chunking) -> None:
    original = script(a, b, b"event: x\ndata: {}\n\n", pause_after=1)
    cut = chunking.apply(original)
    framed = (a + b).replace(b"\n", chunking.newline.encode())
    assert b"".join(pieces(cut)) == framed + b"event: x\ndata: {}\n\n".replace(b"\n", chunking.newline.encode())
    assert all(pieces(cut))  # no empty chunks
    assert [type(item) for _, item in cut.steps].count(Pause) == 1
    assert cut.error is original.error and cut.end_t == original.end_t
    times = [t for t, _ in cut.steps]
    assert times == sorted(times)


def test_chunking_cuts_where_it_says() -> None:
    event = "event: t\ndata: {\"text\":\"é€😀\"}\n\n".encode()
    assert pieces(Chunking("size", size=1).apply(script(event))) == [bytes([c]) for c in event]
    assert pieces(Chunking("whole").apply(script(event, event))) == [event + event]
    utf8 = pieces(Chunking("utf8").apply(script(event)))
    assert len(utf8) == 4 and all(p[-1] >= 0xC0 for p in utf8[:3])  # each cut just after a lead byte
    crlf = pieces(Chunking("crlf", newline="\r\n").apply(script(event)))
    assert all(p.endswith(b"\r") for p in crlf[:-1]) and all(p.startswith(b"\n") for p in crlf[1:])
    lines = pieces(Chunking("lines").apply(script(event)))
    assert not any(p.endswith(b"\n") and p.count(b"\n") == 1 and p.startswith(b"event") for p in lines)
    assert pieces(Chunking("random", points=(0.5,)).apply(script(event))) == [event[:len(event) // 2],
                                                                            event[len(event) // 2:]]
    coalesced = Chunking("whole").apply(script(b"a", b"b"))
    assert coalesced.steps == ((0.1, b"ab"),)  # delivered when its last byte was due


def test_chunking_rejects_nonsense() -> None:
    for kwargs in ({"cut": "lines?"}, {"size": 0}, {"newline": "\n\n"}, {"points": (1.0,)}):
        with pytest.raises(ValueError):
            Chunking(**kwargs)  # type: ignore[arg-type]


# --- mutations of recorded cassettes --------------------------------------------------------------


def recorded_finals(cassette: recorder.Cassette) -> list[dict[str, Any]]:
    client = FakeAnthropic(cassette, max_retries=0)
    out = []
    for interaction in cassette:
        body = interaction.request.body.data  # type: ignore[union-attr]
        with client.messages.stream(**{k: v for k, v in body.items() if k != "stream"}) as stream:
            out.append(stream.get_final_message().to_dict())
    return out


TOOL_USE = recorder.load(CASSETTES / "tool_use.jsonl")
EXPECTED = recorded_finals(TOOL_USE)


@SOME
@given(mutations(TOOL_USE, faults=False))
def test_mutations_without_faults_keep_every_final_message(mutant: MutatedCassette) -> None:
    client = mutant.client(max_retries=0)
    got = []
    for interaction in mutant.cassette:
        body = interaction.request.body.data  # type: ignore[union-attr]
        with client.messages.stream(**{k: v for k, v in body.items() if k != "stream"}) as stream:
            got.append(stream.get_final_message().to_dict())
    assert got == EXPECTED


@SOME
@given(mutations(CASSETTES / "text.jsonl", any_request=True))
def test_mutations_with_faults_fail_only_the_ways_a_server_does(mutant: MutatedCassette) -> None:
    try:
        final_message(mutant.client())  # default retries: a 529 or 429 is retried, instantly
    except (httpx2.HTTPError, anthropic.APIError):
        assert mutant.faults
    except ValueError as exc:  # the malformed chunk's JSON
        assert mutant.faults and isinstance(mutant.faults[0], faults.Malformed), exc
    except AssertionError:  # anthropic 2.14: get_final_message() on a stream closed before message_start
        assert mutant.faults and isinstance(mutant.faults[0], faults.Truncate)
        assert mutant.faults[0].trigger.events == 0


def test_a_mutant_saves_how_to_replay_it(tmp_path: Path) -> None:
    stall = faults.Stall(trigger=faults.Trigger(events=3), seconds=2.0, calls=(1, 2))
    mutant = MutatedCassette(TOOL_USE, ("a change",), Chunking("size", size=3), (stall,))
    saved = recorder.load(mutant.save(tmp_path / "m.jsonl"))
    assert saved.header["replay"] == {"chunking": "size=3", "faults": ["ok,stall@events=3:2s"]}
    assert faults.parse("ok,stall@events=3:2s") == (stall,)
    assert "# a change" in mutant.describe()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(message_streams(blocks=("redacted_thinking", "server_tool_use", "text"), min_blocks=1))
def test_unknown_deltas_only_go_where_the_api_could_put_them(stream: GeneratedStream) -> None:
    starts = {data["index"]: data["content_block"]["type"] for name, data in stream.events
              if name == "content_block_start"}
    for name, data in stream.events:
        if name == "content_block_delta" and data["delta"]["type"] not in DELTA_TYPES:
            # Redacted thinking and web search results arrive whole: they never take a delta.
            assert starts[data["index"]] in ("text", "server_tool_use")


def test_reports_label_future_api_events_and_wrap_whole_lines() -> None:
    stream = find(message_streams(blocks=("text",), min_blocks=1, max_deltas=1),
                  lambda s: any(n == "content_block_delta" and d["delta"]["type"] not in DELTA_TYPES
                                for n, d in s.events) and any(n not in ("message_start", "content_block_start",
                                "content_block_delta", "content_block_stop", "message_delta", "message_stop",
                                "ping") for n, d in s.events))
    whole = stream.describe(None)
    labelled = [line for line in whole if "[future API" in line]
    unknown_names = {n for n, d in stream.events if n not in ("message_start", "content_block_start",
                     "content_block_delta", "content_block_stop", "message_delta", "message_stop", "ping")}
    unknown_deltas = [d for n, d in stream.events
                      if n == "content_block_delta" and d["delta"]["type"] not in DELTA_TYPES]
    assert len(labelled) == sum(n in unknown_names for n, _ in stream.events) + len(unknown_deltas)
    wrapped = stream.describe(40)
    assert all(len(line) <= 40 for line in wrapped)
    assert "".join(line[4:] if line.startswith("    ") else "\n" + line for line in wrapped).split("\n")[1:] == whole
