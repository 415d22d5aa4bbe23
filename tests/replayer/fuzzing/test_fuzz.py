"""replayer.fuzzing._runner and `cassette fuzz`: planted consumer bugs are found, shrunk, saved and replayable.

Runs are bounded (a few hundred cases at most, fixed seeds): each stops at the first failure.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from click.testing import CliRunner

import recorder
from replayer import FakeAnthropic, NoMatchError
from replayer.cli import main
from replayer.fuzzing._generated import GeneratedStream
from replayer.fuzzing._mutate import MutatedCassette
from replayer.fuzzing._runner import FuzzError, explore, fuzz, load_target, report
from replayer.strategies import chunkings, message_streams, mutations
from tests.helpers import CASSETTES, ROOT

sys.path.insert(0, str(ROOT))

from examples import consumers  # noqa: E402

SEED = 1
N = 300


def blocks(stream: GeneratedStream) -> list[str]:
    return [block["type"] for block in stream.final_message["content"]]


def test_naive_tool_input_fails_on_two_tool_calls_shrunk_to_a_minimal_stream(tmp_path: Path) -> None:
    result = fuzz(consumers.naive_tool_input, examples=N, seed=SEED, save_failures=tmp_path)
    assert not result.ok and result.failure is not None
    case = result.failure.case
    assert isinstance(case, GeneratedStream)
    assert blocks(case) == ["tool_use", "tool_use"]
    assert len(case.events) <= 10  # message_start, 2 x (start, one delta, stop), message_delta, message_stop
    assert isinstance(result.failure.error, json.JSONDecodeError)
    assert "naive_tool_input" in result.failure.traceback
    # The saved cassette reproduces the failure, with no fuzzing machinery involved.
    assert result.failure.saved is not None and result.failure.saved.parent == tmp_path
    with pytest.raises(json.JSONDecodeError):
        consumers.naive_tool_input(FakeAnthropic(result.failure.saved))
    # ... and the fixed consumer handles it.
    assert consumers.robust_tool_input(FakeAnthropic(result.failure.saved))[1] == [{}, {}]


def test_the_fixed_consumer_passes() -> None:
    result = fuzz(consumers.robust_tool_input, examples=150, seed=SEED)
    assert result.ok and result.runs == 150 and result.shrink_runs == 0
    assert report(result) == [f"{consumers.__name__}:robust_tool_input: 150 cases, no failure"]


def test_first_block_is_text_fails_on_a_message_without_text_first() -> None:
    result = fuzz(consumers.first_block_is_text, examples=N, seed=SEED)
    assert result.failure is not None
    case = result.failure.case
    assert isinstance(case, GeneratedStream) and len(case.events) <= 4
    assert isinstance(result.failure.error, (IndexError, AttributeError))
    assert not blocks(case) or blocks(case)[0] != "text"


def test_strict_dispatch_fails_on_an_unknown_event_type() -> None:
    result = fuzz(consumers.strict_dispatch, examples=N, seed=SEED)
    assert result.failure is not None and isinstance(result.failure.error, KeyError)
    case = result.failure.case
    assert isinstance(case, GeneratedStream) and len(case.events) <= 5
    unknown = [name for name, data in case.events if name not in consumers.HANDLERS]
    assert unknown and result.failure.error.args[0] in unknown


def test_normalize_each_delta_fails_when_a_character_is_composed_across_two_deltas() -> None:
    result = fuzz(consumers.normalize_each_delta, examples=N, seed=SEED)
    assert result.failure is not None and isinstance(result.failure.error, AssertionError)
    case = result.failure.case
    assert isinstance(case, GeneratedStream) and blocks(case) == ["text"]
    deltas = [data["delta"]["text"] for name, data in case.events if name == "content_block_delta"]
    # Two deltas of one character each that NFC composes into one: "e" + U+0301, or Hangul jamo.
    assert len(deltas) == 2 and all(len(d) == 1 for d in deltas)
    assert len(unicodedata.normalize("NFC", "".join(deltas))) == 1


def test_decode_each_chunk_fails_when_a_read_ends_inside_a_character() -> None:
    result = fuzz(consumers.decode_each_chunk, examples=N, seed=SEED)
    assert result.failure is not None and isinstance(result.failure.error, UnicodeDecodeError)
    case = result.failure.case
    assert case.chunking is not None and case.chunking.cut != "events"
    assert any(ord(c) > 0x7F for name, data in case.events for c in json.dumps(data, ensure_ascii=False))
    assert "bytes cut" in case.describe()[-1]


def test_async_targets_get_an_async_client() -> None:
    result = fuzz(consumers.async_naive_tool_input, examples=N, seed=SEED)
    assert result.failure is not None and isinstance(result.failure.error, json.JSONDecodeError)
    assert isinstance(result.failure.case, GeneratedStream) and blocks(result.failure.case) == ["tool_use", "tool_use"]


def test_fuzzing_a_recorded_cassette_finds_the_unhandled_drop(tmp_path: Path) -> None:
    result = fuzz(consumers.robust_tool_input, cassette=CASSETTES / "tool_use.jsonl", examples=N, seed=SEED,
                  save_failures=tmp_path)
    assert result.failure is not None
    case = result.failure.case
    assert isinstance(case, MutatedCassette) and len(case.faults) == 1 and case.changes == ()
    assert isinstance(result.failure.error, (httpx2.HTTPError, anthropic.APIError))
    assert "consumers.py" in result.failure.traceback and "_transport.py" not in result.failure.traceback
    saved = recorder.load(result.failure.saved)  # type: ignore[arg-type]
    assert saved.header["replay"]["faults"] and all(i.request is None for i in saved)


def test_workers_split_the_search_and_keep_the_first_failure() -> None:
    result = fuzz(consumers.naive_tool_input, examples=N, seed=SEED, workers=2)
    assert result.failure is not None and isinstance(result.failure.error, json.JSONDecodeError)
    assert isinstance(result.failure.case, GeneratedStream) and blocks(result.failure.case) == ["tool_use", "tool_use"]
    passing = fuzz(consumers.robust_tool_input, examples=61, seed=SEED, workers=2)
    assert passing.ok and passing.runs == 61


def test_runs_is_the_count_asked_for_and_the_seed_repeats_the_cases() -> None:
    def run(examples: int) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        result = fuzz(lambda client, expected: seen.append(expected[0]), examples=examples, seed=SEED)
        assert result.ok and result.runs == examples and len(seen) == examples
        return seen

    assert len(run(1)) == 1 and len(run(7)) == 7
    assert run(60) == run(60)


def test_the_search_draws_distinct_cases() -> None:
    # Hypothesis makes most new examples from old ones: each must still be a new case (several cases
    # per example, as a list, mostly repeated earlier ones: 44% distinct).
    cases: list[GeneratedStream] = []
    explore(message_streams(chunkings=chunkings()), 500, cases.append, seed=SEED)
    assert len(cases) == 500
    assert len({json.dumps([case.events, str(case.chunking)]) for case in cases}) >= 0.9 * 500  # 97% here


REQUEST = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}


def test_a_sync_target_gets_one_client_answered_by_each_case_in_turn() -> None:
    clients: list[anthropic.Anthropic] = []

    def check(client: anthropic.Anthropic, expected: list[dict[str, Any]]) -> None:
        clients.append(client)
        with client.messages.stream(**REQUEST) as stream:
            assert stream.get_final_message().to_dict() == expected[0]
        with pytest.raises(NoMatchError, match="already replayed"):  # each case answers once, as case.client()
            client.messages.create(**REQUEST)

    result = fuzz(check, examples=60, seed=SEED)
    assert result.ok and result.runs == 60 and all(c is clients[0] for c in clients)


def test_a_target_that_closes_its_client_gets_a_new_one() -> None:
    clients: list[anthropic.Anthropic] = []  # kept alive, so that no two share an id()

    def check(client: anthropic.Anthropic, expected: list[dict[str, Any]]) -> None:
        clients.append(client)
        with client, client.messages.stream(**REQUEST) as stream:
            assert stream.get_final_message().to_dict() == expected[0]

    result = fuzz(check, examples=30, seed=SEED)
    assert result.ok and result.runs == 30 and len({id(c) for c in clients}) == 30


def test_cookies_a_case_sets_do_not_reach_the_next() -> None:
    with_cookie = recorder.load(CASSETTES / "text.jsonl")
    interaction = with_cookie[0]
    assert interaction.response is not None
    headers = {**interaction.response.headers, "set-cookie": "session=from-an-earlier-case; Path=/"}
    response = dataclasses.replace(interaction.response, headers=headers)
    cassette = dataclasses.replace(with_cookie, interactions=(dataclasses.replace(interaction, response=response),))
    sent: list[str | None] = []

    def target(client: anthropic.Anthropic) -> None:
        sent.append(client.messages.with_raw_response.create(**REQUEST).http_request.headers.get("cookie"))

    assert fuzz(target, strategy=mutations(cassette, any_request=True, faults=False), examples=5, seed=SEED).ok
    assert sent == [None] * 5


def test_objects_alive_before_a_run_are_frozen_during_it_only() -> None:
    counts: list[int] = []
    assert fuzz(lambda client: counts.append(gc.get_freeze_count()), examples=3, seed=SEED).ok
    assert min(counts) > 0 and gc.get_freeze_count() == 0
    gc.freeze()  # the application's own freezing is left alone (not undone after the run)
    try:
        assert fuzz(lambda client: None, examples=3, seed=SEED).ok and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_progress_is_reported() -> None:
    seen: list[tuple[str, int]] = []
    fuzz(consumers.naive_tool_input, examples=N, seed=SEED, progress=lambda phase, n: seen.append((phase, n)))
    phases = [phase for phase, _ in seen]
    assert phases[0] == "searching" and phases[-1] == "shrinking"
    assert [n for phase, n in seen if phase == "searching"] == list(range(1, phases.count("searching") + 1))


@pytest.mark.parametrize("spec, message", [
    ("no_colon", "module:function"),
    ("not_a_module_anywhere:f", "cannot import"),
    ("examples.consumers:nothing_here", "has no"),
    ("examples.consumers:REQUEST", "not callable"),
])
def test_bad_targets_are_explained(spec: str, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    with pytest.raises(FuzzError, match=message):
        load_target(spec)


# --- the command line ---------------------------------------------------------------------------


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cli_finds_shrinks_saves_and_the_saved_cassette_plays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = invoke("fuzz", "examples.consumers:naive_tool_input", "-n", str(N), "--seed", str(SEED),
                    "--save-failures", str(tmp_path))
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("examples.consumers:naive_tool_input failed on case")
    shown = [line for line in lines if line.startswith("  ") and not line.startswith("  File")]
    # Long event lines are wrapped onto indented lines, never cut: joined back, they are whole.
    events: list[str] = []
    for line in shown:
        if line.startswith("      "):
            events[-1] += line[6:]
        else:
            events.append(line[2:])
    assert any(len(line) > 160 for line in events)
    assert [line.split()[0] for line in events][:2] == ["message_start", "content_block_start"]
    assert all(json.loads(line.split(" ", 1)[1].split("  [future API")[0]) for line in events
               if line.split()[0] in ("message_start", "message_delta"))
    assert sum('"type":"tool_use"' in line for line in events) == 2
    assert "json.decoder.JSONDecodeError: Extra data" in result.output
    saved = next(tmp_path.glob("*.jsonl"))
    assert f"replay it: cassette play {saved}" in result.output
    played = invoke("play", str(saved))
    assert played.exit_code == 0 and played.output.count("[tool_use] get_weather") == 2


def test_cli_exit_0_when_every_case_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = invoke("fuzz", "examples.consumers:robust_tool_input", "-n", "40", "--seed", "3", "-j", "2")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "examples.consumers:robust_tool_input: 40 cases, no failure"


def test_cli_with_a_cassette_and_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = invoke("fuzz", "examples.consumers:robust_tool_input", "--cassette", str(CASSETTES / "tool_use.jsonl"),
                    "-n", str(N), "--seed", str(SEED), "--save-failures", str(tmp_path))
    assert result.exit_code == 1 and "(fault: " in result.output and "--fault " in result.output
    missing = CliRunner().invoke(main, ["fuzz", "nowhere:f"])
    assert missing.exit_code == 2 and "Error: cannot import 'nowhere'" in missing.output
    absent = CliRunner().invoke(main, ["fuzz", "examples.consumers:naive_tool_input", "--cassette", "absent.jsonl"])
    assert absent.exit_code == 2 and "absent.jsonl" in absent.output
    assert CliRunner().invoke(main, ["fuzz", "examples.consumers:naive_tool_input", "-n", "0"]).exit_code == 2


def test_the_report_shows_what_an_error_was_raised_from() -> None:
    def target(client: anthropic.Anthropic) -> None:
        try:
            {}["missing_key"]
        except KeyError as exc:
            raise RuntimeError("wrapped") from exc

    result = fuzz(target, examples=1, seed=SEED)
    assert result.failure is not None
    lines = result.failure.traceback.splitlines()
    assert lines[-2:] == ["RuntimeError: wrapped", "caused by KeyError: 'missing_key'"]
