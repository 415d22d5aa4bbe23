"""pytest plugin: replay (or record) each test's Anthropic API calls from a cassette.

Registered through the `pytest11` entry point, so installing claude-cassette enables it.

    @pytest.mark.cassette                       # tests/cassettes/<module>/<test>.jsonl
    def test_answer(anthropic_client): ...

    @pytest.mark.cassette("cassettes/text.jsonl", faults=["drop@events=5"])
    def test_drop(anthropic_client): ...

Record modes (`--cassette-mode`, vcrpy's names): `none` (default, replay only), `once`,
`new_episodes`, `all`. Recording needs ANTHROPIC_API_KEY and honours ANTHROPIC_BASE_URL.
The logic lives in `replayer.session`; this module only holds hooks and fixtures.
See docs/pytest.md.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Generator, Iterator
from pathlib import Path

import anthropic
import pytest

from recorder import Cassette, CassetteNotFoundError

from ._errors import NoMatchError
from .session import (
    LOCAL_HOSTS,
    MODES,
    PLACEHOLDER_KEY,
    CassetteSession,
    CassetteSpec,
    Gate,
    LiveCassette,
    default_path,
)

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
_SESSION = pytest.StashKey[CassetteSession]()
_ENV = pytest.StashKey[pytest.MonkeyPatch]()


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0 (1 = the recorded pace), got {text!r}")
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("claude-cassette", "replay and record Anthropic API calls (claude-cassette)")
    group.addoption("--cassette-mode", choices=MODES, default="none",
                    help="Record mode: none (default: replay only, never record), once (record missing "
                         "cassettes), new_episodes (record requests a cassette lacks), all (re-record everything). "
                         "Recording uses ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL.")
    group.addoption("--cassette-speed", type=_speed, default=None, metavar="K",
                    help="Replay at K times the recorded pace (1 = as recorded). Default: instantly. "
                         "A marker's speed= wins.")
    group.addoption("--cassette-block-network", dest="cassette_block_network", action="store_true", default=None,
                    help="Fail any Anthropic API request that no cassette serves instead of sending it "
                         "(default: on in mode none, off when recording).")
    group.addoption("--no-cassette-block-network", dest="cassette_block_network", action="store_false",
                    help="Let Anthropic API requests of tests without a cassette reach the network.")
    group.addoption("--cassette-allowed-hosts", default=",".join(LOCAL_HOSTS), metavar="HOSTS",
                    help="Comma-separated hosts a blocked network still lets through (default: %(default)s).")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cassette(path=None, *, speed=None, faults=(), match_on=('method', 'path', 'body'), ignore_keys=()): "
        "replay this test's Anthropic API calls from a cassette (record them with --cassette-mode); "
        "default path: cassettes/<test module>/<test name>.jsonl next to the test file.")


def pytest_report_header(config: pytest.Config) -> str:
    return (f"claude-cassette: mode={config.getoption('cassette_mode')}, "
            f"block-network={'on' if _blocks(config) else 'off'}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    session = item.stash.get(_SESSION, None)
    # A miss the application caught (a web app answering 500, say) is otherwise lost: show it.
    shown = call.excinfo is not None and isinstance(call.excinfo.value, NoMatchError)
    if session is not None and session.misses and report.failed and not shown:
        report.sections.append(("claude-cassette: unanswered requests", "\n\n".join(session.misses)))
    return report


def _blocks(config: pytest.Config) -> bool:
    block = config.getoption("cassette_block_network")
    return config.getoption("cassette_mode") == "none" if block is None else block


@pytest.fixture(autouse=True)
def _claude_cassette(request: pytest.FixtureRequest) -> Iterator[Gate]:
    """Route this test's Anthropic requests to its cassette, or (network blocked) to an error."""
    config, node = request.config, request.node
    # A test marked for pytest-recording is vcrpy's to serve: don't block it.
    block = _blocks(config) and node.get_closest_marker("vcr") is None
    gate = Gate(block=block, allowed_hosts=config.getoption("cassette_allowed_hosts").split(","),
                test_id=node.nodeid)
    env = node.stash[_ENV] = pytest.MonkeyPatch()
    try:
        with gate.installed():
            if node.get_closest_marker("cassette") is not None:
                _start(request, gate)
            yield gate
    finally:
        try:
            if gate.session is not None:
                # A recording is kept only if the test passed (setup and call).
                failed = any(r.failed for r in node.stash.get(_REPORTS, {}).values())
                gate.session.close(commit=not failed)
        finally:
            gate.session = None
            env.undo()


@pytest.fixture
def _cassette_session(request: pytest.FixtureRequest, _claude_cassette: Gate) -> CassetteSession:
    """The CassetteSession serving this test (from its marker, else the default cassette)."""
    if _claude_cassette.session is None:
        _start(request, _claude_cassette)
    assert _claude_cassette.session is not None
    return _claude_cassette.session


def _start(request: pytest.FixtureRequest, gate: Gate) -> None:
    """Open the test's CassetteSession and route the gate to it; a bad marker or a missing cassette fails the test."""
    node = request.node
    test_file = Path(node.path)
    default = default_path(test_file, node.name, request.cls.__name__ if request.cls is not None else None)
    marker = node.get_closest_marker("cassette")
    try:
        spec = CassetteSpec.of(marker.args if marker else (), dict(marker.kwargs) if marker else {},
                               base=test_file.parent, default=default)
    except TypeError as exc:
        pytest.fail(str(exc), pytrace=False)
    speed = spec.speed if spec.speed is not None else request.config.getoption("cassette_speed")
    try:
        session = CassetteSession(spec.path, mode=request.config.getoption("cassette_mode"), speed=speed,
                                  faults=spec.faults, match_on=spec.match_on, ignore_keys=spec.ignore_keys,
                                  test_id=node.nodeid)
    except CassetteNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)
    if not (os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")):
        node.stash[_ENV].setenv("ANTHROPIC_API_KEY", PLACEHOLDER_KEY)  # clients the app builds need a key to start
    gate.session = session
    node.stash[_SESSION] = session


@pytest.fixture
def anthropic_client(_cassette_session: CassetteSession) -> Iterator[anthropic.Anthropic]:
    """A real `anthropic.Anthropic` whose calls replay (or record) this test's cassette."""
    with anthropic.Anthropic() as client:
        yield client


@pytest.fixture
def async_anthropic_client(_cassette_session: CassetteSession) -> anthropic.AsyncAnthropic:
    """A real `anthropic.AsyncAnthropic` whose calls replay (or record) this test's cassette."""
    return anthropic.AsyncAnthropic()


@pytest.fixture
def cassette(_cassette_session: CassetteSession) -> Cassette | LiveCassette:
    """This test's cassette as loaded; while recording, a live view of what is recorded so far."""
    return _cassette_session.cassette
