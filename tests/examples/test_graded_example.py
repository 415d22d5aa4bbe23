"""examples/graded.py: the FastAPI endpoints graded in-process, as docs/grading.md shows them."""

from __future__ import annotations

import pytest

from replayer.grading import grade
from replayer.grading._cases import Positions, default_cassette

pytest.importorskip("fastapi")

N = Positions.of(default_cassette()).middle


def test_the_naive_endpoint_lets_the_sdk_error_out_and_passes_a_truncation_on_as_a_200() -> None:
    result = grade("examples.graded:naive_endpoint", cases=["529x1", "529x3", f"truncate@events={N}x1"])
    retried, overloaded, truncated = result.cases
    assert retried.verdict == "recovered" and retried.retries == 1
    assert overloaded.verdict == "failed_loudly" and overloaded.raised is not None
    assert overloaded.raised.name == "anthropic.OverloadedError"  # raised inside the generator, after the 200
    assert truncated.verdict == "failed_silently"


def test_the_careful_endpoint_answers_503_before_the_stream_but_shares_the_silent_truncation() -> None:
    result = grade("examples.graded:careful_endpoint", cases=["529x3", "connect-errorx3", f"truncate@events={N}x1"])
    overloaded, refused, truncated = result.cases
    for case in (overloaded, refused):
        assert case.verdict == "failed_loudly" and case.raised is not None
        assert case.raised.name == "httpx2.HTTPStatusError" and "503" in case.raised.message
    assert truncated.verdict == "failed_silently"
