"""The matching flags of play and serve name exactly the matchers replay knows, without importing it."""

from __future__ import annotations

from replayer._match import DEFAULT_MATCH_ON, MATCHERS
from replayer.cli import _matching, _server
from replayer.server._serve import MAX_STALL


def test_the_flags_spell_out_the_matchers_replay_knows() -> None:
    assert sorted(_matching.MATCHER_NAMES) == sorted(MATCHERS)
    assert _matching.DEFAULT_MATCH_ON == DEFAULT_MATCH_ON


def test_serve_max_stall_defaults_to_the_server_default() -> None:
    option = next(p for p in _server.serve_command.params if p.name == "max_stall")
    assert option.default == MAX_STALL
