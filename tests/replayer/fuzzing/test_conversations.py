"""replayer.fuzzing._conversations: answers drawn for the request sent, checked through the real SDK.

Every property drives real SDK calls against the responder; the fuzz runs are bounded (fixed
seeds, a few hundred examples) and stop at the first failure.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anthropic
import jsonschema
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recorder
from replayer import FakeAnthropic
from replayer.cli import main
from replayer.fuzzing._conversations import Conversation, conversations
from replayer.fuzzing._runner import fuzz, report
from replayer.strategies import chunkings
from tests.helpers import ROOT

sys.path.insert(0, str(ROOT))

from examples import agents  # noqa: E402

FAST = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"city": {"type": "string", "minLength": 1}, "days": {
        "type": "integer", "minimum": 1, "maximum": 7}}, "required": ["city"]},
    {"type": "object", "properties": {"mode": {"enum": ["fast", "slow"]}, "tags": {
        "type": "array", "items": {"type": "string"}, "maxItems": 3, "uniqueItems": True}},
     "required": ["mode", "tags"]},
    {"type": "object", "properties": {"point": {"type": "object", "properties": {
        "x": {"type": "number"}, "y": {"type": "number"}}, "required": ["x", "y"]}}, "required": ["point"]},
    {"type": "object", "properties": {}},
]
TOOLS = [{"name": f"tool_{n}", "description": "t", "input_schema": schema} for n, schema in enumerate(SCHEMAS)]
BASE = {"model": "claude-sonnet-4-6", "max_tokens": 2048, "messages": [{"role": "user", "content": "hi"}]}


def ask(conversation: Conversation, **request: Any) -> anthropic.types.Message:
    """One streamed request; the SDK's Message must be the one the responder meant."""
    with conversation.client().messages.stream(**{**BASE, **request}) as stream:
        message = stream.get_final_message()
    assert message.to_dict() == conversation.expected[-1]
    return message


def kinds(message: anthropic.types.Message) -> list[str]:
    return [block.type for block in message.content]


# --- the oracle, turn by turn ---------------------------------------------------------------------


def loop(client: anthropic.Anthropic, expected: list[dict[str, Any]], *, stream: bool) -> int:
    """A correct agent loop that checks every Message the SDK assembles against the oracle."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    for turn in range(20):
        request = {**BASE, "messages": messages, "tools": TOOLS}
        if stream:
            with client.messages.stream(**request) as s:
                message = s.get_final_message()
        else:
            message = client.messages.create(**request)
        assert message.to_dict() == expected[turn]
        messages.append({"role": "assistant", "content": [b.to_dict() for b in message.content]})
        calls = [b for b in message.content if b.type == "tool_use"]
        if not calls:
            return turn + 1
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": c.id, "content": json.dumps(c.input)} for c in calls]})
    raise AssertionError("the conversation did not end")


@FAST
@given(conversations(chunkings=chunkings(), max_turns=3), st.booleans())
def test_every_turn_assembles_to_its_expected_message_through_the_sdk(conversation: Conversation,
                                                                      stream: bool) -> None:
    turns = loop(conversation.client(), conversation.expected, stream=stream)
    assert turns == len(conversation.turns) == len(conversation.expected) <= 3
    assert all(t.interaction.is_stream == stream for t in conversation.turns)


@FAST
@given(conversations(chunkings=chunkings()))
def test_async_clients_get_the_same_answers(conversation: Conversation) -> None:
    async def run() -> None:
        async with conversation.async_client() as client:
            async with client.messages.stream(**BASE, tools=TOOLS) as stream:
                message = await stream.get_final_message()
        assert message.to_dict() == conversation.expected[0]

    asyncio.run(run())


# --- conditioned on the request -------------------------------------------------------------------

CHOICES = st.sampled_from([None, {"type": "auto"}, {"type": "any"}, {"type": "none"},
                           {"type": "tool", "name": "tool_1"}, {"type": "tool", "name": "tool_2"}])


@settings(FAST, max_examples=150)
@given(conversations(), CHOICES, st.booleans(), st.integers(1, len(TOOLS)))
def test_tool_calls_follow_the_tools_offered_and_tool_choice(conversation: Conversation, choice: dict | None,
                                                            serial: bool, offered: int) -> None:
    tools = TOOLS[:offered]
    request: dict[str, Any] = {"tools": tools}
    if choice is not None and (choice["type"] != "tool" or int(choice["name"][-1]) < offered):
        choice = {**choice, "disable_parallel_tool_use": serial} if choice["type"] != "none" else choice
        request["tool_choice"] = choice
    else:
        choice = None
    message = ask(conversation, **request)
    calls = [b for b in message.content if b.type == "tool_use"]
    schemas = {t["name"]: t["input_schema"] for t in tools}
    for call in calls:
        assert call.name in schemas
        jsonschema.validate(call.input, schemas[call.name])
    assert len({c.id for c in calls}) == len(calls)
    assert (message.stop_reason == "tool_use") == bool(calls)
    kind = (choice or {}).get("type", "auto")
    if kind == "none":
        assert not calls
    if kind in ("any", "tool"):
        assert calls and kinds(message) == ["tool_use"] * len(calls)  # prefilled: no text before the calls
    if kind == "tool":
        assert {c.name for c in calls} == {choice["name"]}  # type: ignore[index]
    if serial and kind != "none" and choice is not None:
        assert len(calls) <= 1


def test_no_tools_offered_no_tool_calls() -> None:
    @settings(FAST, max_examples=100)
    @given(conversations())
    def check(conversation: Conversation) -> None:
        assert "tool_use" not in kinds(ask(conversation))

    check()


@settings(FAST, max_examples=120)
@given(conversations(), st.sampled_from([None, {"type": "disabled"}, {"type": "enabled", "budget_tokens": 1024},
                                         {"type": "adaptive"}]), st.integers(2, 64))
def test_thinking_only_when_enabled_and_within_its_budget(conversation: Conversation, thinking: dict | None,
                                                          max_tokens: int) -> None:
    request: dict[str, Any] = {"max_tokens": max_tokens if thinking != {"type": "enabled", "budget_tokens": 1024}
                               else 4096}
    if thinking is not None:
        request["thinking"] = thinking
    message = ask(conversation, **request)
    thoughts = [b for b in message.content if b.type in ("thinking", "redacted_thinking")]
    if thinking is None or thinking["type"] == "disabled":
        assert not thoughts
    budget = thinking.get("budget_tokens", max_tokens) if thinking else 0
    for block in thoughts:
        assert kinds(message).index(block.type) == 0
        if block.type == "thinking":
            assert len(block.thinking) // 4 + 1 <= budget


@settings(FAST, max_examples=150)
@given(conversations(), st.integers(1, 40), st.lists(st.sampled_from(["END", "\n\nQ:"]), max_size=2, unique=True))
def test_stops_are_consistent_with_max_tokens_and_stop_sequences(conversation: Conversation, max_tokens: int,
                                                                 sequences: list[str]) -> None:
    message = ask(conversation, max_tokens=max_tokens, stop_sequences=sequences, tools=TOOLS)
    assert message.usage.output_tokens <= max_tokens
    if message.stop_reason == "max_tokens":
        assert message.usage.output_tokens == max_tokens and "tool_use" not in kinds(message)
    if message.stop_reason == "stop_sequence":
        assert message.stop_sequence in sequences
    else:
        assert message.stop_sequence is None


DOCUMENT = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "The sky is blue."},
            "title": "Sky", "citations": {"enabled": True}}
SEARCH = {"type": "search_result", "source": "https://example.com/a", "title": "A",
          "content": [{"type": "text", "text": "Result text."}], "citations": {"enabled": True}}


@settings(FAST, max_examples=150)
@given(conversations(), st.booleans(), st.booleans(), st.booleans())
def test_citations_only_of_documents_and_search_results_the_request_carries(
        conversation: Conversation, document: bool, search: bool, enabled: bool) -> None:
    content: list[dict[str, Any]] = [{**DOCUMENT, "citations": {"enabled": enabled}}] if document else []
    content += [SEARCH] if search else []
    message = ask(conversation, messages=[{"role": "user", "content": [*content, {"type": "text", "text": "?"}]}])
    cited = [c.to_dict() for b in message.content if b.type == "text" for c in b.citations or ()]
    for citation in cited:
        if citation["type"] == "char_location":
            assert document and enabled and citation["document_index"] == 0
            source = DOCUMENT["source"]["data"]  # type: ignore[index]
            assert source[citation["start_char_index"]:citation["end_char_index"]] == citation["cited_text"]
        else:
            assert citation["type"] == "search_result_location" and search
            assert citation["search_result_index"] == 0 and citation["source"] == SEARCH["source"]
    if not search and not (document and enabled):
        assert not cited


@settings(FAST, max_examples=120)
@given(conversations(), st.booleans())
def test_server_tool_blocks_only_when_web_search_is_offered(conversation: Conversation, offered: bool) -> None:
    tools = [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}] if offered else []
    message = ask(conversation, tools=tools + TOOLS[:1])
    searches = [b for b in message.content if b.type == "server_tool_use"]
    assert offered or not searches
    assert all(b.name == "web_search" for b in searches)


# --- multi-turn -----------------------------------------------------------------------------------


def test_a_tool_use_without_its_tool_result_gets_the_api_400() -> None:
    @settings(FAST, max_examples=200)
    @given(conversations(max_turns=2))
    def check(conversation: Conversation) -> None:
        client = conversation.client()
        first = client.messages.create(**BASE, tools=TOOLS)
        calls = [b for b in first.content if b.type == "tool_use"]
        history = [*BASE["messages"], {"role": "assistant", "content": [b.to_dict() for b in first.content]}]
        follow = [{"type": "tool_result", "tool_use_id": c.id, "content": "ok"} for c in calls[1:]]
        request = {**BASE, "tools": TOOLS, "messages": [*history, {"role": "user", "content": follow or "more"}]}
        if calls:
            with pytest.raises(anthropic.BadRequestError, match=calls[0].id):
                client.messages.create(**request)
        else:
            client.messages.create(**request)  # nothing to answer: a valid next turn

    check()


def test_an_agent_loop_that_never_ends_is_stopped() -> None:
    @settings(FAST, max_examples=5)
    @given(conversations(max_requests=3))
    def check(conversation: Conversation) -> None:
        client = conversation.client()
        with pytest.raises(anthropic.BadRequestError, match="more than 3 requests"):
            for _ in range(4):
                client.messages.create(**BASE)

    check()


def test_count_tokens_is_answered_and_other_endpoints_are_refused() -> None:
    @settings(FAST, max_examples=5)
    @given(conversations())
    def check(conversation: Conversation) -> None:
        client = conversation.client(max_retries=0)
        assert client.messages.count_tokens(model=BASE["model"], messages=BASE["messages"]).input_tokens > 0
        with pytest.raises(anthropic.NotFoundError, match="answers the Messages API"):
            client.models.list()
        assert "tool_use" not in kinds(ask(conversation)) and len(conversation.expected) == 1

    check()


# --- fuzzing agent loops --------------------------------------------------------------------------


def test_a_planted_agent_loop_bug_is_found_shrunk_and_replayed_from_its_cassette(tmp_path: Path) -> None:
    result = fuzz(agents.check_first_tool_only, conversations=True, examples=300, seed=1, save_failures=tmp_path)
    assert result.failure is not None and isinstance(result.failure.error, anthropic.BadRequestError)
    case = result.failure.case
    assert isinstance(case, Conversation) and len(case.turns) == 2
    first = case.turns[0].final_message
    assert first is not None and [b["type"] for b in first["content"]] == ["tool_use", "tool_use"]
    lines = report(result)
    assert lines[0].endswith("2 turns, 9 events:") and any("-- turn 1 request" in line for line in lines)
    saved = recorder.load(result.failure.saved)  # type: ignore[arg-type]
    assert len(saved) == 2 and all(i.request is not None for i in saved)
    with pytest.raises(anthropic.BadRequestError, match="without `tool_result`"):
        agents.check_first_tool_only(FakeAnthropic(result.failure.saved), [])


def test_a_correct_agent_loop_runs_many_examples_with_no_false_alarm() -> None:
    result = fuzz(agents.check_agent, conversations=True, examples=400, seed=2)
    assert result.ok and result.runs == 400, report(result)


def test_a_failure_found_by_one_worker_replays_on_another_sharing_the_database(tmp_path: Path) -> None:
    database = tmp_path / "examples"
    found = fuzz(agents.check_first_tool_only, conversations=True, examples=300, seed=1, database=database)
    assert found.failure is not None and any(database.rglob("*"))
    # Another worker (another seed, one example): the saved failure is the first thing it runs.
    other = fuzz(agents.check_first_tool_only, conversations=True, examples=1, seed=99, database=database)
    assert other.failure is not None and other.runs == 1 and other.shrink_runs <= 2
    assert other.failure.case.describe() == found.failure.case.describe()
    # A different target shares nothing with it.
    assert fuzz(agents.check_agent, conversations=True, examples=1, seed=99, database=database).ok


def test_workers_search_on_one_database_and_the_failure_is_replayed_here() -> None:
    result = fuzz(agents.check_first_tool_only, conversations=True, examples=200, seed=1, workers=2)
    assert result.failure is not None and isinstance(result.failure.error, anthropic.BadRequestError)
    assert isinstance(result.failure.case, Conversation) and len(result.failure.case.turns) == 2


def test_one_file_per_distinct_failure_of_the_same_case(tmp_path: Path) -> None:
    def fails_with(error: type[Exception]) -> Any:
        def target(client: anthropic.Anthropic) -> None:
            client.messages.create(**BASE)
            raise error("planted")

        target.__qualname__ = "same_name"
        return target

    for error in (KeyError, ValueError):
        fuzz(fails_with(error), conversations=True, examples=5, seed=1, save_failures=tmp_path)
    assert len(list(tmp_path.glob("*.jsonl"))) == 2


def test_cli_fuzzes_conversations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    result = runner.invoke(main, ["fuzz", "examples.agents:check_first_tool_only", "--conversations", "-n", "200",
                                  "--seed", "1", "--save-failures", str(tmp_path), "--database",
                                  str(tmp_path / "db")])
    assert result.exit_code == 1, result.output
    assert "BadRequestError" in result.output and "-- turn 1 request" in result.output
    ok = runner.invoke(main, ["fuzz", "examples.agents:check_agent", "--conversations", "-n", "50", "-j", "2"])
    assert ok.exit_code == 0 and ok.output.strip() == "examples.agents:check_agent: 50 cases, no failure"
    both = runner.invoke(main, ["fuzz", "examples.agents:check_agent", "--conversations", "--cassette",
                                "cassettes/text.jsonl"])
    assert both.exit_code == 2 and "choose one" in both.output
    mutated = runner.invoke(main, ["fuzz", "examples.agents:check_agent", "--cassette", "cassettes/text.jsonl"])
    assert mutated.exit_code == 2 and "no expected Message" in mutated.output


def test_two_worker_processes_share_one_database_directory(tmp_path: Path) -> None:
    def worker(seed: int, examples: int) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", "from replayer.cli import main; main()", "fuzz",
                   "examples.agents:check_first_tool_only", "--conversations", "-n", str(examples), "--seed", str(seed),
                   "--database", str(tmp_path / "shared"), "--save-failures", str(tmp_path / f"failures-{seed}")]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)

    first = worker(1, 300)
    assert first.returncode == 1, first.stdout + first.stderr
    second = worker(99, 1)  # one example of its own: it runs the failure the first one saved
    assert second.returncode == 1, second.stdout + second.stderr
    assert "failed on case 1;" in second.stdout
    (a,), (b,) = (list((tmp_path / f"failures-{s}").glob("*.jsonl")) for s in (1, 99))
    assert a.name == b.name and recorder.load(a).lines()[1:] == recorder.load(b).lines()[1:]
