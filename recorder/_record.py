"""`record()`: record every anthropic client without touching application code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ._cassette import StrPath
from ._patch import intercept
from ._redact import Redactor
from ._transport import Recorder


@contextmanager
def record(path: StrPath, *, redactor: Redactor | None = None, append: bool = False) -> Iterator[Recorder]:
    """Record every request any `anthropic.Anthropic` / `AsyncAnthropic` client makes into `path`.

    >>> with record("cassettes/session.jsonl"):
    ...     run_my_app()  # builds its own anthropic.Anthropic(); streams as usual
    """
    recorder = Recorder(path, redactor=redactor, append=append)
    try:
        with intercept(recorder.send, recorder.asend):
            yield recorder
    finally:
        recorder.close()
