"""Fixtures shared across the suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from replayer.server._node import install


@pytest.fixture(scope="session")
def node() -> Path:
    """The pinned official TypeScript SDK, installed once per session (`npm ci` in tests/typescript/)."""
    return install()
