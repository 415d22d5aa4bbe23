"""What every `cassette` command shares: the user-error type and how bad input is reported,
number options that check their value, and small formatting helpers."""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from recorder import CassetteError, ErrorInfo

from .._errors import ReplayError
from .._explain import Advice
from .._match import DEFAULT_MATCH_ON, MATCHERS


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


def _names(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    """Repeated and comma-separated values, flattened: `--ignore-keys a,b --ignore-keys c`."""
    return tuple(name.strip() for value in values for name in value.split(",") if name.strip())


def _matchers(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    names = _names(ctx, param, values) or DEFAULT_MATCH_ON
    unknown = [name for name in names if name not in MATCHERS]
    if unknown:
        raise CliError(f"--match-on: unknown matcher {unknown[0]!r}; use some of {', '.join(MATCHERS)}")
    return names


F = TypeVar("F", bound=Callable[..., Any])


def matching_options(func: F) -> F:
    """--match-on and --ignore-keys, as `match_on` and `ignore_keys` (tuples of names)."""
    func = click.option("--ignore-keys", "ignore_keys", multiple=True, callback=_names, metavar="KEY[,KEY...]",
                        help="Body keys (dotted paths, e.g. metadata.user_id) to leave out of matching (repeatable).")(func)
    return click.option("--match-on", "match_on", multiple=True, callback=_matchers, metavar="NAME[,NAME...]",
                        help=f"What a request must share with a recording: {', '.join(MATCHERS)} "
                             f"(default: {','.join(DEFAULT_MATCH_ON)}; exact_body compares JSON strings "
                             "as written).")(func)


def cli_advice(command: str, *, server: bool) -> Advice:
    """What a miss tells someone running `cassette COMMAND`: its flags, not Python arguments."""
    return Advice(ignore_keys=lambda keys: f"cassette {command} --ignore-keys {','.join(keys)}",
                  match_on=f"pass cassette {command} --match-on NAME,... (e.g. --match-on method,path)",
                  start_over=("POST /_cassette/reset, send another x-cassette-session header, or serve without --once"
                              if server else "play the cassette again"))
