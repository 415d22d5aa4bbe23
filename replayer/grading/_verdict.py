"""Verdicts: what one run of the target under one fault amounts to, for the caller of the target.

- `recovered`: it delivered the full answer (what it delivered on the unfaulted run), with N retries.
- `failed_loudly`: it raised (or, for a command, exited non-zero): the caller knows.
- `failed_silently`: it returned, or exited 0, with something else than the full answer. The worst:
  a caller takes half an answer (or an error message printed instead of one) for the answer.
- `hung`: it was still running when the time budget ran out.
- `crashed`: it raised an exception no caller would expect from a failing network call, one that
  signals a bug (`CRASHES`: AttributeError, TypeError, KeyError, AssertionError, a JSON decode error...).
"""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import dataclass
from typing import Any, Literal

import anthropic

Verdict = Literal["recovered", "failed_loudly", "failed_silently", "hung", "crashed"]
VERDICTS: tuple[Verdict, ...] = ("recovered", "failed_loudly", "failed_silently", "hung", "crashed")

CRASHES: tuple[type[BaseException], ...] = (
    AttributeError, TypeError, LookupError, NameError, AssertionError, ArithmeticError, RecursionError,
    NotImplementedError, json.JSONDecodeError, UnicodeError,
)
"""Exceptions that signal a bug rather than a failure a caller handles: nobody writes `except KeyError`
around a streaming call. An SDK or transport error is never one, whatever it subclasses."""


@dataclass(frozen=True)
class Raised:
    """An exception as the grade reports it: its class, and which `except` clauses would catch it."""

    name: str
    """The qualified class name, as the package exports it: `httpx2.RemoteProtocolError`."""
    message: str
    api_error: bool | None
    """Whether it is an `anthropic.APIError` (None: unknown, e.g. a command in another language)."""
    connection_error: bool | None
    """Whether `except anthropic.APIConnectionError` catches it."""
    status_error: bool | None
    """Whether `except anthropic.APIStatusError` catches it."""
    crash: bool

    @classmethod
    def of(cls, error: BaseException) -> Raised:
        return cls.of_class(type(error), str(error))

    @classmethod
    def of_class(cls, kind: type[BaseException], message: str) -> Raised:
        expected = issubclass(kind, (anthropic.APIError, OSError)) or _module(kind) in ("httpx2", "httpcore", "anyio")
        return cls(qualified_name(kind), message, issubclass(kind, anthropic.APIError),
                   issubclass(kind, anthropic.APIConnectionError), issubclass(kind, anthropic.APIStatusError),
                   crash=issubclass(kind, CRASHES) and not expected)

    @classmethod
    def of_name(cls, name: str, message: str) -> Raised:
        """From a class name printed by a program (a Python traceback's last line); resolved when importable."""
        kind = resolve(name)
        if kind is not None:
            return cls.of_class(kind, message)
        return cls(name, message, None, None, None, crash=False)


def _module(kind: type) -> str:
    return kind.__module__.split(".")[0]


def qualified_name(kind: type) -> str:
    """`package.Name` when the package exports the class under that name, else `module.Qualname`."""
    top = _module(kind)
    if top == "builtins":
        return kind.__qualname__
    try:
        if getattr(importlib.import_module(top), kind.__name__, None) is kind:
            return f"{top}.{kind.__name__}"
    except ImportError:  # pragma: no cover - the class's own package is importable
        pass
    return f"{kind.__module__}.{kind.__qualname__}"


# Packages whose exceptions a printed name may be looked up in; anything else only if already imported
# (importing a module named in a program's output would run that program's code here).
_LOOKUP = frozenset({"builtins", "anthropic", "httpx2", "httpcore", "httpx", "json", "asyncio", "anyio", "ssl",
                     "socket", "concurrent"})


def resolve(name: str) -> type[BaseException] | None:
    """The exception class a printed name means (`KeyError`, `anthropic.RateLimitError`), or None."""
    module, _, attribute = name.rpartition(".")
    module = module or "builtins"
    try:
        loaded = sys.modules.get(module)
        if loaded is None and module.split(".")[0] in _LOOKUP:
            loaded = importlib.import_module(module)
        found: Any = getattr(loaded, attribute, None)
    except ImportError:
        return None
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


def classify(*, hung: bool, raised: Raised | None, output: Any, full: Any) -> Verdict:
    """The verdict for a run that hung, raised `raised`, or ended normally delivering `output`."""
    if hung:
        return "hung"
    if raised is not None:
        return "crashed" if raised.crash else "failed_loudly"
    return "recovered" if same(output, full) else "failed_silently"


def same(a: Any, b: Any) -> bool:
    """Equal, or (for values without a useful `==`) equal in repr."""
    try:
        if a == b:
            return True
    except Exception:  # an `==` that raises (e.g. numpy arrays) says nothing
        pass
    return type(a) is type(b) and type(a).__eq__ is object.__eq__ and repr(a) == repr(b)
