"""What every `cassette` command shares: the group that loads verbs on first use, the user-error
type and how bad input is reported, number options that check their value, and small formatting
helpers."""

from __future__ import annotations

import errno
import importlib
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import click

from recorder import CassetteError, ErrorInfo, MissingExtraError


class CliError(click.ClickException):
    """A user error: printed as one `Error: ...` line, exit status 2."""

    exit_code = 2


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors bad input causes (bad cassette, failed replay, file trouble) into CliError."""
    try:
        yield
    except (CassetteError, *_replay_errors()) as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise  # the reader went away (`| head`): click exits quietly
        where = f"{exc.filename}: " if exc.filename else ""
        raise CliError(f"{where}{exc.strerror or exc}") from None


def _replay_errors() -> tuple[type[Exception], ...]:
    """ReplayError, if anything replayed: its module imports the SDK, which `check` or `show` never load."""
    errors = sys.modules.get("replayer._errors")
    return (errors.ReplayError,) if errors is not None else ()


class Group(click.Group):
    """A group whose commands load on first use and all report bad input as CliError.

    `lazy_commands` maps each verb to the "module:attribute" of its command. Colour follows
    https://no-color.org: any non-empty NO_COLOR turns it off.
    """

    def __init__(self, *args: Any, lazy_commands: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            module, _, attribute = self.lazy_commands[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return self.commands.get(cmd_name)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        if os.environ.get("NO_COLOR"):
            extra["color"] = False
        return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with user_errors():
            try:
                return super().invoke(ctx)
            except MissingExtraError as exc:  # name the verb, not the library function behind it
                raise CliError(exc.reword(f"cassette {ctx.invoked_subcommand}")) from None


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
