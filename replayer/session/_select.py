"""Which cassette a test uses: the path pytest-recording's layout gives it, and the marker's arguments."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._match import DEFAULT_MATCH_ON, Matcher

_UNSAFE = re.compile(r"[^A-Za-z0-9_.,=+\-\[\]]+")


def file_name(test_name: str) -> str:
    """A file name for a test: `test_x[a-b]` stays, other characters become `-` (plus a short hash
    of the original name, so ids that differ only there don't share a cassette)."""
    safe = _UNSAFE.sub("-", test_name)
    if safe != test_name:
        safe += "-" + hashlib.sha1(test_name.encode()).hexdigest()[:6]
    return safe


def default_path(test_file: Path, test_name: str, class_name: str | None = None) -> Path:
    """`<test dir>/cassettes/<test module>/<[Class.]test name>.jsonl`, as pytest-recording lays them out."""
    name = f"{class_name}.{test_name}" if class_name else test_name
    return test_file.parent / "cassettes" / test_file.stem / f"{file_name(name)}.jsonl"


@dataclass(frozen=True)
class CassetteSpec:
    """What `@pytest.mark.cassette(...)` asked for; `path` already resolved."""

    path: Path
    speed: float | None = None
    faults: tuple[Any, ...] = ()
    match_on: tuple[str | Matcher, ...] = DEFAULT_MATCH_ON
    ignore_keys: tuple[str, ...] = ()

    @classmethod
    def of(cls, args: Sequence[Any], kwargs: dict[str, Any], *, base: Path, default: Path) -> CassetteSpec:
        """Read marker arguments; a relative `path` is relative to `base` (the test file's directory)."""
        try:
            return _spec(*args, **kwargs, _base=base, _default=default)
        except TypeError as exc:
            raise TypeError(f"@pytest.mark.cassette: {exc}; the signature is cassette(path=None, *, speed=None, "
                            "faults=(), match_on=('method', 'path', 'body'), ignore_keys=())") from None


def _spec(path: str | os.PathLike[str] | None = None, *, speed: float | None = None,
          faults: str | Iterable[Any] = (), match_on: Iterable[str | Matcher] = DEFAULT_MATCH_ON,
          ignore_keys: str | Iterable[str] = (), _base: Path, _default: Path) -> CassetteSpec:
    resolved = _default if path is None else _base / Path(path)
    if speed is not None and not (isinstance(speed, int | float) and speed > 0):
        raise TypeError(f"speed must be a positive number or None, got {speed!r}")
    return CassetteSpec(resolved, speed, (faults,) if isinstance(faults, str) else tuple(faults), tuple(match_on),
                        (ignore_keys,) if isinstance(ignore_keys, str) else tuple(ignore_keys))
