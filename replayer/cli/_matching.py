"""--match-on and --ignore-keys for the verbs that replay (play, serve), and the advice a miss gives there."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ._common import CliError

if TYPE_CHECKING:
    from .._explain import Advice

# The names of replayer._match.MATCHERS and DEFAULT_MATCH_ON, spelled out so that `--help` need not import vcrpy (a test keeps them equal)
MATCHER_NAMES = ("method", "path", "query", "host", "scheme", "port", "uri", "body", "headers", "exact_body")
DEFAULT_MATCH_ON = ("method", "path", "body")


def _names(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    """Repeated and comma-separated values, flattened: `--ignore-keys a,b --ignore-keys c`."""
    return tuple(name.strip() for value in values for name in value.split(",") if name.strip())


def _matchers(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    names = _names(ctx, param, values) or DEFAULT_MATCH_ON
    unknown = [name for name in names if name not in MATCHER_NAMES]
    if unknown:
        raise CliError(f"--match-on: unknown matcher {unknown[0]!r}; use some of {', '.join(MATCHER_NAMES)}")
    return names


F = TypeVar("F", bound=Callable[..., Any])


def matching_options(func: F) -> F:
    """--match-on and --ignore-keys, as `match_on` and `ignore_keys` (tuples of names)."""
    func = click.option("--ignore-keys", "ignore_keys", multiple=True, callback=_names, metavar="KEY[,KEY...]",
                        help="Body keys (dotted paths, e.g. metadata.user_id) to leave out of matching (repeatable).")(func)
    return click.option("--match-on", "match_on", multiple=True, callback=_matchers, metavar="NAME[,NAME...]",
                        help=f"What a request must share with a recording: {', '.join(MATCHER_NAMES)} "
                             f"(default: {','.join(DEFAULT_MATCH_ON)}; exact_body compares JSON strings "
                             "as written).")(func)


def cli_advice(command: str, *, server: bool) -> Advice:
    """What a miss tells someone running `cassette COMMAND`: its flags, not Python arguments."""
    from .._explain import Advice

    return Advice(ignore_keys=lambda keys: f"cassette {command} --ignore-keys {','.join(keys)}",
                  match_on=f"pass cassette {command} --match-on NAME,... (e.g. --match-on method,path)",
                  start_over=("POST /_cassette/reset, send another x-cassette-session header, or serve without --once"
                              if server else "play the cassette again"))
