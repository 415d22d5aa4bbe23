"""`replayer.grade()` on Python targets: each verdict is what the same code gets from a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import anthropic
import pytest

import recorder
import replayer
from examples.graded import REQUEST, guide_stream, resilient_stream
from replayer import Chunk, Reply, ScriptedUpstream
from replayer.fuzzing._generated import GeneratedStream
from replayer.fuzzing._synthetic import sse_bytes, text_message
from replayer.grading import Case, GradeError, Raised, catalogue, grade
from replayer.grading._cases import Positions, default_cassette
from replayer.grading._result import preview
from replayer.grading._verdict import classify
from tests.helpers import CASSETTES

EVENTS = [(e.event, e.data) for e in default_cassette().interactions[0].events]
POS = Positions.of(default_cassette())
N = POS.middle
TEXT = "".join(d["delta"]["text"] for name, d in EVENTS if name == "content_block_delta")
FULL = Reply(chunks=tuple(Chunk(sse_bytes([e])) for e in EVENTS))
FAST_529 = Reply.json(529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
                      headers=(("retry-after", "0.001"),))
CLIENT_TIMEOUT = 0.5  # what `returns_text` sets: short enough to wait for on a real socket


def chunks(events: Sequence[tuple[str, dict]], extra: bytes = b"") -> tuple[Chunk, ...]:
    return tuple(Chunk(sse_bytes([e])) for e in events) + ((Chunk(extra),) if extra else ())


def returns_text(client: anthropic.Anthropic) -> str:
    """The plainest consumer: the joined text_stream, with a short timeout."""
    with client.with_options(timeout=CLIENT_TIMEOUT).messages.stream(**REQUEST) as stream:
        return "".join(stream.text_stream)


def checks_stop_reason(client: anthropic.Anthropic) -> str:
    """Raises when the stream ended without a stop reason: a truncation becomes loud."""
    with client.messages.stream(**REQUEST) as stream:
        text = "".join(stream.text_stream)
        if stream.get_final_message().stop_reason is None:
            raise RuntimeError("the answer was cut off")
    return text


def first_block(client: anthropic.Anthropic) -> str:
    """Assumes a content block is always there."""
    with client.messages.stream(**REQUEST) as stream:
        return stream.get_final_message().content[0].text  # type: ignore[union-attr]


# Each spec, and the replies a real server failing the same way sends (then whole answers, for retries).
MALFORMED = b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"ty\n\n'
ERROR_EVENT = sse_bytes([("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})])
ON_A_SOCKET: dict[str, Callable[[], list[Reply]]] = {
    "529x1": lambda: [FAST_529],
    "529x3": lambda: [FAST_529] * 3,
    f"drop@events={N}x1": lambda: [Reply(chunks=chunks(EVENTS[:N]), ending="abort")],
    f"drop@events={POS.early}x1": lambda: [Reply(chunks=chunks(EVENTS[:POS.early]), ending="abort")],
    f"truncate@events={N}x1": lambda: [Reply(chunks=chunks(EVENTS[:N]))],
    f"error@events={N}:overloaded_errorx1": lambda: [Reply(chunks=chunks(EVENTS[:N], ERROR_EVENT))],
    f"malformed@events={N}x1": lambda: [Reply(chunks=chunks(EVENTS[:N], MALFORMED) + chunks(EVENTS[N:]))],
    f"stall@events={N}:1sx1": lambda: [Reply(chunks=chunks(EVENTS[:N]), ending="stall")],  # past the 0.5 s timeout
    "truncate@events=1x1": lambda: [Reply(chunks=chunks(EVENTS[:1]))],
}


def run_on_socket(target: Callable[[Any], Any], replies: list[Reply]) -> tuple[Any, Raised | None, int]:
    """What `target` delivers (return value, stdout) or raises against a real server, and its request count."""
    with ScriptedUpstream([*replies, FULL, FULL, FULL]) as upstream:
        out = io.StringIO()
        value, raised = None, None
        with contextlib.redirect_stdout(out):
            try:
                value = target(anthropic.Anthropic(api_key="k", base_url=upstream.base_url))
            except Exception as exc:
                raised = Raised.of(exc)
        return (value, out.getvalue()), raised, len(upstream.requests)


@pytest.mark.parametrize(("target", "spec", "verdict"), [
    (guide_stream, "529x1", "recovered"),
    (guide_stream, "529x3", "failed_silently"),  # the guide prints "overloaded" and returns
    (guide_stream, f"drop@events={N}x1", "failed_loudly"),  # raw httpx2: its except APIConnectionError misses it
    (guide_stream, f"truncate@events={N}x1", "failed_silently"),
    (guide_stream, f"error@events={N}:overloaded_errorx1", "failed_silently"),
    (guide_stream, f"malformed@events={N}x1", "crashed"),
    (returns_text, "529x3", "failed_loudly"),
    (returns_text, f"drop@events={POS.early}x1", "failed_loudly"),
    (returns_text, f"truncate@events={N}x1", "failed_silently"),
    (returns_text, f"stall@events={N}:1sx1", "failed_loudly"),
    (checks_stop_reason, f"truncate@events={N}x1", "failed_loudly"),
    (first_block, "truncate@events=1x1", "crashed"),  # no content block: IndexError
    (resilient_stream, f"drop@events={N}x1", "recovered"),
    (resilient_stream, f"truncate@events={N}x1", "recovered"),
])
def test_each_verdict_is_what_a_real_socket_gives(target: Callable[[Any], Any], spec: str, verdict: str) -> None:
    graded = grade(target, cases=[spec]).cases[0]
    full, _, base_requests = run_on_socket(target, [])
    delivered, raised, requests = run_on_socket(target, ON_A_SOCKET[spec]())
    on_socket = classify(hung=False, raised=raised, output=delivered, full=full)
    assert graded.verdict == on_socket == verdict
    assert (graded.raised.name if graded.raised else None) == (raised.name if raised else None)
    assert graded.retries == requests - base_requests


def test_a_loud_failure_says_which_except_clause_catches_it() -> None:
    result = grade(returns_text, cases=["529x3", f"drop@events={N}x1", "connect-errorx3"])
    overloaded, dropped, refused = (c.raised for c in result.cases)
    assert overloaded == Raised("anthropic.OverloadedError", overloaded.message, api_error=True,
                                connection_error=False, status_error=True, crash=False)
    assert dropped is not None and dropped.name == "httpx2.RemoteProtocolError"
    assert (dropped.api_error, dropped.connection_error, dropped.status_error) == (False, False, False)
    assert refused is not None and refused.name == "anthropic.APIConnectionError" and refused.connection_error
    assert [c.retries for c in result.cases] == [2, 0, 2]


def test_recovered_counts_retries_and_a_30s_stall_costs_virtual_time_only() -> None:
    result = grade(returns_text, cases=["529x2", f"stall@events={N}:0.25sx1"], client_timeout=CLIENT_TIMEOUT)
    retried, stalled = result.cases
    assert retried.verdict == "recovered" and retried.retries == 2
    assert retried.seconds >= 2 * 0.5 * 0.75  # the SDK's own backoff (0.5 s, then 1 s, less jitter) was virtual
    assert stalled.verdict == "recovered" and stalled.seconds >= 0.25
    started = time.monotonic()
    long = grade(checks_stop_reason, cases=[f"stall@events={N}:30sx1"]).cases[0]
    assert long.verdict == "recovered" and long.seconds >= 30
    assert time.monotonic() - started < long.seconds  # less wall time than the stall itself


def retries_forever(client: anthropic.Anthropic) -> str:
    """Asks again every 5 s until it gets an answer, catching everything."""
    while True:
        try:
            return returns_text(client)
        except Exception:
            time.sleep(5)


def test_a_target_past_the_budget_is_hung_on_the_virtual_clock() -> None:
    result = grade(retries_forever, cases=["529", "529x3"], budget=120)
    forever, thrice = result.cases
    assert forever.verdict == "hung" and forever.seconds == 120 and forever.raised is None
    assert thrice.verdict == "recovered" and thrice.retries == 3


def test_async_targets_get_an_async_client_and_virtual_sleeps() -> None:
    async def stream(client: anthropic.AsyncAnthropic) -> str:
        assert isinstance(client, anthropic.AsyncAnthropic)
        async with client.messages.stream(**REQUEST) as s:
            return "".join([t async for t in s.text_stream])

    result = grade(stream, cases=["529x2", f"truncate@events={N}x1"])
    assert [c.verdict for c in result.cases] == ["recovered", "failed_silently"]
    assert result.cases[0].seconds >= 0.75


def test_what_a_python_target_delivers_is_its_return_value_and_what_it_printed() -> None:
    def prints(client: anthropic.Anthropic) -> str:
        print(returns_text(client))
        return "done"  # the same on every run: what it printed tells the cases apart

    result = grade(prints, cases=[f"truncate@events={N}x1", "529x1"])
    assert result.full == preview(f"{'done'!r} (printed {TEXT + chr(10)!r})")
    assert [c.verdict for c in result.cases] == ["failed_silently", "recovered"]


def test_the_catalogue_covers_every_failure_and_places_them_by_event_index() -> None:
    cassette = recorder.load(CASSETTES / "tool_use.jsonl")
    cases = catalogue(cassette)
    specs = [c.spec for c in cases]
    at = Positions.of(cassette)
    events = cassette.interactions[0].events
    assert events[at.middle].data["delta"]["type"] == "text_delta"
    assert events[at.tool].data["delta"]["type"] == "input_json_delta"  # type: ignore[index]
    for spec in ("429x1", "529x1", "529x3", "500x1", "connect-errorx3", "connect-timeoutx1", "timeoutx1",
                 f"drop@events={at.early}x1", f"drop@events={at.middle}x1", f"drop@events={at.late}x1",
                 f"drop@events={at.tool}x1", f"read-error@events={at.tool}x1", f"truncate@events={at.middle}x1",
                 f"malformed@events={at.middle}x1", f"error@events={at.middle}:overloaded_errorx1",
                 f"stall@events={at.middle}:300sx1", f"stall@events={at.middle}:1200sx1", "529x2",
                 f"529,drop@events={at.middle},ok"):
        assert spec in specs
    assert len(set(specs)) == len(specs)
    assert not any("inside the tool input" in c.name for c in catalogue(default_cassette()))
    assert "529x4" in [c.spec for c in catalogue(cassette, sdk_retries=3)]
    one_delta = GeneratedStream(tuple(text_message("Hi", pieces=1)), final_message={}).cassette
    short = [c.spec for c in catalogue(one_delta)]
    assert len(short) == len(set(short)) and "drop@events=3x1" in short  # middle and near the end coincide


def test_an_agent_loop_is_graded_on_a_recorded_cassette() -> None:
    from cassettes.make_examples import run_tool_loop

    at = Positions.of(recorder.load(CASSETTES / "tool_use.jsonl"))
    result = grade(run_tool_loop, cassettes=[CASSETTES / "tool_use.jsonl"],
                   cases=["529x1", f"drop@events={at.tool}x1", f"truncate@events={at.middle}x1"])
    assert [c.verdict for c in result.cases] == ["recovered", "failed_loudly", "failed_silently"]
    assert result.cases[0].case.name == "overloaded once"  # a catalogue spec keeps its name


def test_a_target_that_fails_unfaulted_cannot_be_graded() -> None:
    def asks_something_else(client: anthropic.Anthropic) -> Any:
        return client.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "?"}])

    with pytest.raises(GradeError, match="with no fault injected"):
        grade(asks_something_else, cassettes=[CASSETTES / "text.jsonl"])
    with pytest.raises(GradeError, match="should look like module:function"):
        grade("nocolon")
    with pytest.raises(GradeError, match="not both or neither"):
        grade()
    with pytest.raises(replayer.faults.FaultError):
        Case("boom", "not a fault")


def test_grade_is_exported_lazily() -> None:
    assert replayer.grade is grade
    assert replayer.GradeResult.__name__ == "GradeResult"


def builds_its_own_client() -> str:
    """An app (or a library from PyPI) that makes its own client: graded through `replay()`."""
    client = anthropic.Anthropic(api_key="k")
    with client.messages.stream(**REQUEST) as stream:
        return "".join(stream.text_stream)


def test_a_target_taking_no_client_is_answered_through_replay() -> None:
    result = grade(builds_its_own_client, cases=["529x2", f"truncate@events={N}x1", f"drop@events={N}x1"])
    assert [(c.verdict, c.retries) for c in result.cases] == [
        ("recovered", 2), ("failed_silently", 0), ("failed_loudly", 0)]


def no_timeout(client: anthropic.Anthropic) -> str:
    """A client without a timeout, as some libraries build it."""
    with client.with_options(timeout=None).messages.stream(**REQUEST) as stream:
        return "".join(stream.text_stream)


def test_a_silent_server_hangs_a_client_without_a_timeout_as_a_real_one_does() -> None:
    result = grade(no_timeout, cases=["timeoutx1", f"timeout@events={N}x1", f"stall@events={N}:1200sx1"], budget=5000)
    assert [c.verdict for c in result.cases] == ["hung", "hung", "recovered"]
    assert result.cases[0].seconds == result.cases[1].seconds == 5000
    with ScriptedUpstream([Reply(chunks=chunks(EVENTS[:N]), ending="stall")]) as upstream:
        client = anthropic.Anthropic(api_key="k", base_url=upstream.base_url)
        waiting = threading.Thread(target=run_on_socket_quietly, args=(no_timeout, client), daemon=True)
        waiting.start()
        waiting.join(1.5)
        assert waiting.is_alive()  # still waiting on the silent socket; closing the upstream releases it
    waiting.join(10)
    assert not waiting.is_alive()


def run_on_socket_quietly(target: Callable[[Any], Any], client: anthropic.Anthropic) -> None:
    with contextlib.suppress(Exception):
        target(client)


def test_connection_refused_is_graded_as_a_closed_port_answers() -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    graded = grade(returns_text, cases=["connect-error"]).cases[0]
    try:
        returns_text(anthropic.Anthropic(api_key="k", base_url=f"http://127.0.0.1:{port}"))
    except Exception as exc:
        real = Raised.of(exc)
    assert graded.verdict == "failed_loudly" and graded.raised == real
    assert real.name == "anthropic.APIConnectionError" and graded.retries == 2


def test_an_async_target_past_the_budget_is_hung() -> None:
    async def forever(client: anthropic.AsyncAnthropic) -> str:
        while True:
            try:
                async with client.messages.stream(**REQUEST) as stream:
                    return "".join([t async for t in stream.text_stream])
            except Exception:
                await asyncio.sleep(5)

    result = grade(forever, cases=["529", f"timeout@events={N}"], budget=100)
    assert [(c.verdict, c.seconds) for c in result.cases] == [("hung", 100), ("hung", 100)]


def test_progress_is_reported_as_cases_finish() -> None:
    seen: list[tuple[int, int]] = []
    grade(returns_text, cases=["529x1", f"drop@events={N}x1"], progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]
