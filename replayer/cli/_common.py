"""What every `cassette` command shares: the user-error type and how bad input is reported,
number options that check their value, and small formatting helpers."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from recorder import CassetteError, ErrorInfo

from .._errors import ReplayError


class CliError(click.ClickException):
    """A user error: printed as one `Error: ...` line, exit status 2."""

    exit_code = 2


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors bad input causes (bad cassette, failed replay, file trouble) into CliError."""
    try:
        yield
    except (CassetteError, ReplayError) as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise  # the reader went away (`| head`): click exits quietly
        where = f"{exc.filename}: " if exc.filename else ""
        raise CliError(f"{where}{exc.strerror or exc}") from None


class Group(click.Group):
    """A group whose commands all report bad input as CliError."""

    def invoke(self, ctx: click.Context) -> Any:
        with user_errors():
            return super().invoke(ctx)


class Number(click.ParamType):
    """A float with a lower bound; a bad value is a one-line CliError, not a usage dump."""

    def __init__(self, minimum: float, *, inclusive: bool, name: str) -> None:
        self.minimum, self.inclusive, self.name = minimum, inclusive, name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        ok = number >= self.minimum if self.inclusive else number > self.minimum
        if not ok:  # also rejects nan
            option = param.opts[0] if param is not None and param.opts else "value"
            bound = ">=" if self.inclusive else ">"
            raise CliError(f"{option} expects a number {bound} {self.minimum:g}, got {value!r}")
        return number


def describe(exc: BaseException) -> str:
    error = ErrorInfo.of(exc)
    return f"{error.type}: {short(error.message, 300)}"


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"


def short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
