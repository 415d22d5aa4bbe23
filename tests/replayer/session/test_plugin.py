"""The pytest plugin, driven through pytester against a real local upstream (127.0.0.1 only).

Recording runs point the SDK at a ScriptedUpstream through ANTHROPIC_BASE_URL with a dummy
key; replay runs close it first and drop the key, so a pass proves nothing left the process.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import recorder
from replayer import Chunk, Reply, ScriptedUpstream
from replayer.fuzzing._synthetic import sse_bytes, text_message
from replayer.session import (
    CassetteSession,
    CassetteSpec,
    default_path,
    file_name,
    record_mode,
)
from tests.helpers import CASSETTES

pytest_plugins = ["pytester"]


def _import_lazy_modules() -> None:
    """Import here what httpx2 and the SDK import on first use.

    In-process pytester runs drop every module first imported during them, and httpx2 caches
    the exception classes of the first httpcore2 it loads (HTTPCORE_EXC_MAP): a httpcore2
    re-imported later would reach other tests as raw httpcore2 errors.
    """
    import httpcore2  # noqa: F401
    import httpx2

    httpx2.HTTPTransport().close()  # loads the TLS setup (truststore)
    try:
        import opentelemetry.propagate  # noqa: F401  (the SDK propagates trace context when present)
    except ImportError:
        pass


_import_lazy_modules()

KEY = "sk-ant-" + "api03-plugin-test-dummy-0000000000"  # split: no key-shaped literal in the repo

CHAT = '''
import anthropic
from tests.helpers import ROOT

BODY = {"model": "claude-haiku-4-5", "max_tokens": 64}


def ask(client, text="Hi"):
    with client.messages.stream(**BODY, messages=[{"role": "user", "content": text}]) as stream:
        return stream.get_final_text()


async def aask(client, text="Hi"):
    async with client.messages.stream(**BODY, messages=[{"role": "user", "content": text}]) as stream:
        return await stream.get_final_text()


def app(text="Hi"):
    """Application code: builds its own client; key and base URL come from the environment."""
    return ask(anthropic.Anthropic(), text)
'''


def reply(text: str) -> Reply:
    return Reply(chunks=tuple(Chunk(sse_bytes([event])) for event in text_message(text)))


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedUpstream]:
    """A live upstream the inner tests reach through ANTHROPIC_BASE_URL, with a dummy key."""
    with ScriptedUpstream() as up:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", up.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        yield up


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(chat=CHAT)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


def offline(monkeypatch: pytest.MonkeyPatch, upstream: ScriptedUpstream) -> None:
    """From here on nothing can be recorded: the upstream is gone and so is the key."""
    upstream.close()
    monkeypatch.delenv("ANTHROPIC_API_KEY")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # In process, for speed; without two plugins that would re-import hypothesis and gc.collect()
    # five times per run (seconds each, in a process this size).
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:unraisableexception", "-p", "no:hypothesispytest",
                              *args)


def report(result: pytest.RunResult) -> str:
    """What pytest printed about the failures, before its short summary (which repeats each message)."""
    return result.stdout.str().split("short test summary info")[0]


def texts(path: Path) -> list[str]:
    """The text each recorded interaction streamed."""
    return ["".join(e.data["delta"]["text"] for e in i.events
                    if e.event == "content_block_delta" and e.data["delta"]["type"] == "text_delta")
            for i in recorder.load(path)]


# --- record modes ---------------------------------------------------------------------------------


def test_none_mode_fails_clearly_when_the_cassette_is_missing(project: pytest.Pytester) -> None:
    project.makepyfile(test_chat="""
        import pytest
        from chat import ask

        @pytest.mark.cassette
        def test_answer(anthropic_client):
            ask(anthropic_client)
    """)
    result = run(project)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*cassettes/test_chat/test_answer.jsonl: no such cassette, and record mode 'none' only replays*",
        "*pytest --cassette-mode=once test_chat.py::test_answer",
    ])
    out = report(result)
    assert out.count("no such cassette") == 1 and "During handling" not in out  # said once, no chained traceback


def test_once_records_then_replays_without_upstream_or_key(project: pytest.Pytester, upstream: ScriptedUpstream,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    project.makepyfile(test_chat="""
        import pytest
        from chat import ask

        @pytest.mark.cassette
        def test_answer(anthropic_client):
            assert ask(anthropic_client) == "Recorded once."
    """)
    upstream.add(reply("Recorded once."))
    run(project, "--cassette-mode=once").assert_outcomes(passed=1)
    path = project.path / "cassettes" / "test_chat" / "test_answer.jsonl"
    assert texts(path) == ["Recorded once."]
    assert KEY not in path.read_text() and len(upstream.requests) == 1
    assert recorder.load(path)[0].request.headers["connection"] == "close"  # no socket left to a client
    assert sorted(p.name for p in path.parent.iterdir()) == ["test_answer.jsonl"]  # no temp file left
    recorded = path.read_bytes()

    offline(monkeypatch, upstream)
    run(project).assert_outcomes(passed=1)
    run(project, "--cassette-mode=once").assert_outcomes(passed=1)  # the file exists: replay only
    assert path.read_bytes() == recorded


def test_a_miss_in_none_mode_says_how_to_record_it(project: pytest.Pytester) -> None:
    recorder.save(recorder.Cassette(), project.path / "empty.jsonl")
    project.makepyfile(test_chat="""
        import pytest
        from chat import ask

        @pytest.mark.cassette("empty.jsonl")
        def test_raises(anthropic_client):
            ask(anthropic_client)

        @pytest.mark.cassette("empty.jsonl")
        def test_app_swallows_it(anthropic_client):
            try:
                answer = ask(anthropic_client)
            except Exception:
                answer = "sorry, something went wrong"
            assert answer == "Hello"
    """)
    result = run(project)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*_ test_raises _*",
        "*NoMatchError: No recorded request in *empty.jsonl matches POST /v1/messages*",
        "*pytest --cassette-mode=new_episodes test_chat.py::test_raises",
        "*_ test_app_swallows_it _*",
        "*AssertionError*",
        "*claude-cassette: unanswered requests*",
        "No recorded request in *empty.jsonl matches POST /v1/messages*",
    ])
    assert result.stdout.str().count("claude-cassette: unanswered requests") == 1


def test_new_episodes_appends_only_the_new_interaction(project: pytest.Pytester, upstream: ScriptedUpstream,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    test = """
        import pytest
        from chat import ask

        @pytest.mark.cassette("chat.jsonl")
        def test_chat(anthropic_client):
            assert ask(anthropic_client, "Hi") == "first"
            {more}
    """
    project.makepyfile(test_chat=test.format(more=""))
    upstream.add(reply("first"))
    run(project, "--cassette-mode=once").assert_outcomes(passed=1)
    path = project.path / "chat.jsonl"
    before = path.read_text()

    project.makepyfile(test_chat=test.format(more='assert ask(anthropic_client, "Again") == "second"'))
    run(project).assert_outcomes(failed=1)  # mode none: the new request is a miss
    assert path.read_text() == before

    upstream.add(reply("second"))
    run(project, "--cassette-mode=new_episodes").assert_outcomes(passed=1)
    assert [r.json()["messages"][0]["content"] for r in upstream.requests] == ["Hi", "Again"]
    assert path.read_text().startswith(before)
    assert [i.id for i in recorder.load(path)] == [0, 1] and texts(path) == ["first", "second"]

    run(project, "--cassette-mode=new_episodes").assert_outcomes(passed=1)  # nothing new: untouched
    offline(monkeypatch, upstream)
    run(project).assert_outcomes(passed=1)
    assert texts(path) == ["first", "second"]


def test_all_re_records_everything(project: pytest.Pytester, upstream: ScriptedUpstream) -> None:
    project.makepyfile(test_chat="""
        import pytest
        from chat import ask

        @pytest.mark.cassette("chat.jsonl")
        def test_chat(anthropic_client):
            assert ask(anthropic_client)
    """)
    upstream.add(reply("old answer"), reply("new answer"))
    run(project, "--cassette-mode=once").assert_outcomes(passed=1)
    run(project, "--cassette-mode=all").assert_outcomes(passed=1)
    assert texts(project.path / "chat.jsonl") == ["new answer"]
    assert len(upstream.requests) == 2


def test_a_failed_recording_leaves_no_cassette(project: pytest.Pytester, upstream: ScriptedUpstream) -> None:
    project.makepyfile(test_chat="""
        import pytest
        from chat import ask

        @pytest.mark.cassette("chat.jsonl")
        def test_chat(anthropic_client):
            assert ask(anthropic_client) == "something else"
    """)
    upstream.add(reply("an answer"))
    run(project, "--cassette-mode=once").assert_outcomes(failed=1)
    assert [p.name for p in project.path.glob("*chat.jsonl*")] == []


def test_recording_without_a_key_says_so(project: pytest.Pytester, upstream: ScriptedUpstream,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    project.makepyfile(test_chat="""
        import pytest
        from chat import ask

        @pytest.mark.cassette
        def test_answer(anthropic_client):
            ask(anthropic_client)
    """)
    result = run(project, "--cassette-mode=once")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*RecordingError: cannot record POST /v1/messages into *: no API key*"])
    assert upstream.requests == []


# --- what tests get ---------------------------------------------------------------------------------


def test_async_tests_with_pytest_asyncio_and_anyio(project: pytest.Pytester, upstream: ScriptedUpstream,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    project.makepyfile(test_chat="""
        import pytest
        from chat import aask

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.asyncio
        async def test_with_pytest_asyncio(async_anthropic_client):
            assert await aask(async_anthropic_client) == "async answer"

        @pytest.mark.anyio
        async def test_with_anyio(async_anthropic_client, cassette):
            assert await aask(async_anthropic_client) == "async answer"
            assert cassette[0].outcome == "complete"
    """)
    upstream.add(reply("async answer"), reply("async answer"))
    run(project, "--cassette-mode=once").assert_outcomes(passed=2)
    offline(monkeypatch, upstream)
    run(project).assert_outcomes(passed=2)
    assert sorted(p.name for p in (project.path / "cassettes" / "test_chat").iterdir()) == [
        "test_with_anyio.jsonl", "test_with_pytest_asyncio.jsonl"]


def test_the_cassette_fixture_while_recording_and_replaying(project: pytest.Pytester, upstream: ScriptedUpstream,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    project.makepyfile(test_chat="""
        import pytest
        from recorder import Cassette
        from chat import ask

        @pytest.mark.cassette
        def test_answer(anthropic_client, cassette, request):
            before = len(cassette)
            ask(anthropic_client)
            [interaction] = cassette.interactions
            assert interaction.outcome == "complete" and interaction.events[-1].event == "message_stop"
            recording = request.config.getoption("cassette_mode") == "once"
            assert before == (0 if recording else 1)
            assert isinstance(cassette, Cassette) is not recording  # while recording: a live view
    """)
    upstream.add(reply("fixture"))
    run(project, "--cassette-mode=once").assert_outcomes(passed=1)
    offline(monkeypatch, upstream)
    run(project).assert_outcomes(passed=1)


def test_recorded_timing_through_the_cassette_fixture_and_speed(project: pytest.Pytester) -> None:
    shutil.copy(CASSETTES / "text.jsonl", project.path / "text.jsonl")
    project.makepyfile(test_chat="""
        import time
        import pytest

        BODY = {"max_tokens": 1024, "messages": [{"role": "user", "content": "In three sentences: why is the sky blue?"}],
                "model": "claude-haiku-4-5"}

        def first_token(client):
            started = time.monotonic()
            with client.messages.stream(**BODY) as stream:
                for _ in stream.text_stream:
                    return time.monotonic() - started

        @pytest.mark.cassette("text.jsonl", speed=4)
        def test_paced(anthropic_client, cassette):
            recorded = next(e.t for e in cassette[0].events if e.event == "content_block_delta")
            assert recorded > 0.2
            # Paced: never sooner than speed 4 allows; the upper bound only says "faster than recorded"
            # (a loaded machine delays a first token by tenths of a second).
            assert recorded / 4 * 0.8 < first_token(anthropic_client) < recorded

        @pytest.mark.cassette("text.jsonl")
        def test_instant_unless_the_suite_says(anthropic_client, cassette, request):
            speed = request.config.getoption("cassette_speed")
            paced = next(e.t for e in cassette[0].events if e.event == "content_block_delta") / 4 * 0.8
            assert first_token(anthropic_client) < (paced if speed is None else 10)
    """)
    run(project).assert_outcomes(passed=2)
    run(project, "--cassette-speed=100").assert_outcomes(passed=2)
    run(project, "--cassette-speed=0").stderr.fnmatch_lines(["*--cassette-speed*expected a finite number > 0*"])
    run(project, "--cassette-speed=inf").stderr.fnmatch_lines(["*--cassette-speed*expected a finite number > 0*"])


def test_faults_from_the_marker(project: pytest.Pytester) -> None:
    shutil.copy(CASSETTES / "text.jsonl", project.path / "text.jsonl")
    project.makepyfile(test_chat="""
        import anthropic
        import httpx2
        import pytest

        BODY = {"max_tokens": 1024, "messages": [{"role": "user", "content": "In three sentences: why is the sky blue?"}],
                "model": "claude-haiku-4-5"}

        @pytest.mark.cassette("text.jsonl", faults=["drop@events=4"])
        def test_drop(anthropic_client):
            seen = []
            with pytest.raises(httpx2.RemoteProtocolError):
                with anthropic_client.messages.stream(**BODY) as stream:
                    seen.extend(stream.text_stream)
            assert len(seen) == 1

        @pytest.mark.cassette("text.jsonl", faults="529")
        def test_overloaded(anthropic_client):
            with pytest.raises(anthropic.InternalServerError, match="529"):
                anthropic_client.with_options(max_retries=0).messages.create(**BODY)

        @pytest.mark.cassette("text.jsonl", faults="drop@events=999")
        def test_unreachable(anthropic_client):
            pass
    """)
    result = run(project)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*FaultError: fault drop@events=999 can never fire*"])


SKY = """
import pytest

BODY = {"max_tokens": 1024, "messages": [{"role": "user", "content": "In three sentences: why is the sky blue?"}],
        "model": "claude-haiku-4-5"}


def ask(client):
    with client.messages.stream(**BODY) as stream:
        return stream.get_final_text()
"""


def test_a_test_that_plays_none_of_its_calls_warns_or_fails(project: pytest.Pytester) -> None:
    shutil.copy(CASSETTES / "text.jsonl", project.path / "text.jsonl")
    project.makepyfile(test_chat=SKY + """
@pytest.mark.cassette("text.jsonl")
def test_forgets_to_call(anthropic_client):
    pass

@pytest.mark.cassette("text.jsonl")
def test_calls(anthropic_client):
    assert "Rayleigh" in ask(anthropic_client)

@pytest.mark.cassette("text.jsonl", unplayed="ignore")
def test_told_to_ignore(anthropic_client):
    pass
""")
    warned = run(project)
    warned.assert_outcomes(passed=3, warnings=1)
    warned.stdout.fnmatch_lines(["*UnplayedWarning: *text.jsonl: 1 recorded interaction never played: "
                                 "#0 POST /v1/messages. The test made fewer calls than were recorded*"])
    failed = run(project, "--cassette-unplayed=fail")
    failed.assert_outcomes(passed=3, errors=1)  # the error is test_forgets_to_call's teardown
    failed.stdout.fnmatch_lines(["*ERROR at teardown of test_forgets_to_call*", "*1 recorded interaction never played*"])
    run(project, "--cassette-unplayed=ignore").assert_outcomes(passed=3)
    run(project, "--cassette-unplayed=sometimes").stderr.fnmatch_lines(["*--cassette-unplayed*invalid choice*"])


def test_repeat_from_the_marker(project: pytest.Pytester) -> None:
    shutil.copy(CASSETTES / "text.jsonl", project.path / "text.jsonl")
    project.makepyfile(test_chat=SKY + """
from replayer import NoMatchError

@pytest.mark.cassette("text.jsonl", repeat=True)
def test_asks_twice(anthropic_client):
    assert ask(anthropic_client) == ask(anthropic_client)

@pytest.mark.cassette("text.jsonl")
def test_asks_twice_without_repeat(anthropic_client):
    ask(anthropic_client)
    with pytest.raises(NoMatchError, match="already replayed"):
        ask(anthropic_client)

@pytest.mark.cassette("text.jsonl", repeat="yes")
def test_bad_repeat(anthropic_client):
    pass
""")
    result = run(project)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*repeat must be True or False, got 'yes'*"])


def test_cassette_config_sets_marker_defaults_for_a_suite(project: pytest.Pytester, upstream: ScriptedUpstream,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(CASSETTES / "text.jsonl", project.path / "text.jsonl")
    project.makeconftest("""
import pytest

@pytest.fixture
def cassette_config():
    return {"faults": ["drop@events=4"], "unplayed": "fail", "redact_headers": ["x-team-token"],
            "redact_patterns": [r"team-secret-\\d+"]}
""")
    project.makepyfile(test_chat=SKY + """
import anthropic
import httpx2

@pytest.mark.cassette("text.jsonl")
def test_inherits_the_drop(anthropic_client):
    with pytest.raises(httpx2.RemoteProtocolError):
        ask(anthropic_client)

@pytest.mark.cassette("text.jsonl", faults=())
def test_marker_wins(anthropic_client):
    assert "Rayleigh" in ask(anthropic_client)

@pytest.mark.cassette("text.jsonl", faults=())
def test_unplayed_fails_from_the_config(anthropic_client):
    pass

@pytest.mark.cassette(faults=())
def test_records_with_the_suite_s_redaction():
    client = anthropic.Anthropic(default_headers={"x-team-token": "abc"})
    with client.messages.stream(**BODY, metadata={"user_id": "team-secret-42"}) as stream:
        stream.get_final_text()
""")
    upstream.add(reply("recorded"))
    result = run(project, "--cassette-mode=once")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_unplayed_fails_from_the_config*"])
    recorded = (project.path / "cassettes" / "test_chat" / "test_records_with_the_suite_s_redaction.jsonl").read_text()
    assert "team-secret-42" not in recorded and '"x-team-token":"REDACTED"' in recorded.replace(" ", "")
    project.makeconftest("import pytest\n\n@pytest.fixture\ndef cassette_config():\n    return ['faults']\n")
    bad = run(project, "-k", "marker_wins")
    bad.assert_outcomes(errors=1)
    bad.stdout.fnmatch_lines(["*the cassette_config fixture must return a dict of marker arguments, got *faults*"])


def test_faults_apply_alike_when_recording_and_replaying(project: pytest.Pytester, upstream: ScriptedUpstream,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    project.makepyfile(test_chat="""
        import httpx2
        import pytest
        from chat import ask

        @pytest.mark.cassette(faults=["connect-errorx1", "drop@events=4"])
        def test_flaky(anthropic_client):
            with pytest.raises(httpx2.RemoteProtocolError):  # retried past the connect error, then dropped
                ask(anthropic_client)
    """)
    upstream.add(reply("the whole answer, recorded"))
    run(project, "--cassette-mode=once").assert_outcomes(passed=1)
    assert len(upstream.requests) == 1
    [interaction] = recorder.load(project.path / "cassettes" / "test_chat" / "test_flaky.jsonl")
    assert interaction.outcome == "complete"  # the recording is whole; the fault is replayed on top
    offline(monkeypatch, upstream)
    run(project).assert_outcomes(passed=1)


def test_app_code_that_builds_its_own_client(project: pytest.Pytester, upstream: ScriptedUpstream,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    project.makepyfile(test_chat="""
        import pytest
        from chat import app

        @pytest.mark.cassette
        def test_app():
            assert app("Summarise") == "An app answer."
    """)
    upstream.add(reply("An app answer."))
    run(project, "--cassette-mode=once").assert_outcomes(passed=1)
    offline(monkeypatch, upstream)
    run(project).assert_outcomes(passed=1)  # no key in the environment: the plugin lends one


def test_a_fastapi_endpoint(project: pytest.Pytester, upstream: ScriptedUpstream,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("fastapi")
    project.makepyfile(test_chat="""
        import pytest
        from fastapi import FastAPI
        from fastapi.testclient import TestClient
        from chat import app as answer

        api = FastAPI()

        @api.get("/summary")
        def summary(q: str):
            return {"summary": answer(q)}

        @pytest.mark.cassette
        def test_summary_endpoint():
            response = TestClient(api).get("/summary", params={"q": "Summarise"})
            assert response.json() == {"summary": "From an endpoint."}
    """)
    upstream.add(reply("From an endpoint."))
    run(project, "--cassette-mode=once").assert_outcomes(passed=1)
    offline(monkeypatch, upstream)
    run(project).assert_outcomes(passed=1)


def test_parametrized_tests_get_one_cassette_each(project: pytest.Pytester, upstream: ScriptedUpstream) -> None:
    project.makepyfile(test_chat="""
        import pytest
        from chat import ask

        class TestChat:
            @pytest.mark.parametrize("text", ["Hi", "a/b: c?"])
            def test_ask(self, anthropic_client, text):
                assert ask(anthropic_client, text) == "ok"
    """)
    upstream.add(reply("ok"), reply("ok"))
    run(project, "--cassette-mode=once").assert_outcomes(passed=2)
    names = sorted(p.name for p in (project.path / "cassettes" / "test_chat").iterdir())
    assert names[0] == "TestChat.test_ask[Hi].jsonl"
    assert names[1].startswith("TestChat.test_ask[a-b-c-]-") and names[1].endswith(".jsonl")


def test_bad_marker_arguments_fail_the_test(project: pytest.Pytester) -> None:
    project.makepyfile(test_chat="""
        import pytest

        @pytest.mark.cassette("a.jsonl", colour="red")
        def test_answer():
            pass
    """)
    result = run(project)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.cassette: *colour*the signature is cassette(path=None, *"])
    assert report(result).count("colour") == 1 and "During handling" not in report(result)


# --- the network ----------------------------------------------------------------------------------

UNMARKED = """
    import anthropic
    from chat import ask

    def test_unmarked():
        assert ask(anthropic.Anthropic()) == "live"
"""


def test_block_network_stops_requests_no_cassette_serves(project: pytest.Pytester, upstream: ScriptedUpstream) -> None:
    project.makepyfile(test_chat=UNMARKED)
    result = run(project, "--cassette-allowed-hosts=")  # not even 127.0.0.1: block everything
    result.assert_outcomes(failed=1)
    blocked = "*NetworkBlockedError: test_chat.py::test_unmarked: blocked an Anthropic API request to http://127.0.0.1:*"
    result.stdout.fnmatch_lines([blocked])
    assert upstream.requests == []
    upstream.add(reply("live"), reply("live"), reply("live"))
    run(project, "--cassette-allowed-hosts=", "--no-cassette-block-network").assert_outcomes(passed=1)
    run(project).assert_outcomes(passed=1)  # loopback is allowed by default
    run(project, "--cassette-mode=all", "--cassette-allowed-hosts=").assert_outcomes(passed=1)  # recording: off
    assert len(upstream.requests) == 3


def test_side_by_side_with_pytest_recording(project: pytest.Pytester, upstream: ScriptedUpstream) -> None:
    pytest.importorskip("pytest_recording")
    help = run(project, "--help").stdout.str()
    for option in ("--record-mode=", "--block-network", "--allowed-hosts=", "--cassette-mode=",
                   "--cassette-block-network", "--cassette-allowed-hosts="):
        assert f"  {option}" in help
    project.makepyfile(test_chat="""
        import anthropic
        import pytest
        from chat import ask

        @pytest.mark.vcr
        def test_with_vcrpy():
            assert ask(anthropic.Anthropic()) == "vcr"

        @pytest.mark.cassette
        def test_with_ours(anthropic_client):
            assert ask(anthropic_client) == "ours"
    """)
    upstream.add(reply("vcr"), reply("ours"))
    run(project, "--record-mode=once", "--cassette-mode=once").assert_outcomes(passed=2)
    assert (project.path / "cassettes" / "test_chat" / "test_with_vcrpy.yaml").is_file()
    assert (project.path / "cassettes" / "test_chat" / "test_with_ours.jsonl").is_file()
    upstream.close()  # the key stays: vcrpy's test builds its client with no help from us
    run(project, "--record-mode=none", "--block-network", "--cassette-allowed-hosts=").assert_outcomes(passed=2)


# --- the session itself -----------------------------------------------------------------------------


def test_default_paths_and_file_names(tmp_path: Path) -> None:
    assert default_path(tmp_path / "test_mod.py", "test_x") == tmp_path / "cassettes" / "test_mod" / "test_x.jsonl"
    assert default_path(tmp_path / "t.py", "test_x[1-a]", "TestC").name == "TestC.test_x[1-a].jsonl"
    assert file_name("test_x[a b]") != file_name("test_x[a:b]")
    assert all(c not in file_name('test[<>:"/\\|?* ]') for c in '<>:"/\\|?* ')


def test_marker_spec(tmp_path: Path) -> None:
    spec = CassetteSpec.of(("sub/c.jsonl",), {"faults": "529x2", "ignore_keys": "metadata"}, base=tmp_path,
                           default=tmp_path / "d.jsonl")
    assert spec.path == tmp_path / "sub" / "c.jsonl" and spec.faults == ("529x2",)
    assert spec.ignore_keys == ("metadata",)
    assert CassetteSpec.of((), {}, base=tmp_path, default=tmp_path / "d.jsonl").path == tmp_path / "d.jsonl"
    with pytest.raises(TypeError, match="speed must be a positive number"):
        CassetteSpec.of((), {"speed": 0}, base=tmp_path, default=tmp_path / "d.jsonl")


def test_record_modes_are_vcrpys(tmp_path: Path) -> None:
    from vcr.record_mode import RecordMode

    assert record_mode("new_episodes") is RecordMode.NEW_EPISODES
    with pytest.raises(ValueError, match="use one of all, new_episodes, none, once"):
        record_mode("any")


def test_session_outside_pytest_records_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import anthropic

    path = tmp_path / "s.jsonl"
    with ScriptedUpstream([reply("one"), reply("two")]) as up:
        client = anthropic.Anthropic(api_key=KEY, base_url=up.base_url)
        session = CassetteSession(path, mode="all")
        with session:
            client.messages.create(model="m", max_tokens=1, messages=[{"role": "user", "content": "x"}])
            assert not path.exists() and len(session.cassette) == 1  # written to a temp file until committed
        assert texts(path) == ["one"]
        with pytest.raises(RuntimeError), CassetteSession(path, mode="all"):
            client.messages.create(model="m", max_tokens=1, messages=[{"role": "user", "content": "y"}])
            raise RuntimeError("the test failed")
    assert texts(path) == ["one"] and sorted(p.name for p in tmp_path.iterdir()) == ["s.jsonl"]
    assert json.loads(path.read_text().splitlines()[0])["cassette"] == 1
