"""Fixtures shared by the server tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from replayer.fuzzing._synthetic import sse_bytes, text_message
from tests.helpers import Upstream, observe, recording, sse_reply


@pytest.fixture(scope="module")
def twice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One request (BODY) recorded twice, answered "first" then "second"."""
    path = tmp_path_factory.mktemp("state") / "twice.jsonl"
    upstream = Upstream([sse_reply(sse_bytes(text_message("first"))), sse_reply(sse_bytes(text_message("second")))])
    with recording(upstream, path) as sdk:
        for _ in range(2):
            assert observe(lambda: sdk, "stream").error is None
    return path
