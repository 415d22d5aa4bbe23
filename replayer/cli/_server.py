"""The server commands of `cassette`: serve (replay over HTTP) and record (a record-through proxy).

Thin click wrappers over `replayer.serve` and `recorder.proxy`. Both print their base URL as the first line on stdout when they
serve on their own, and stop cleanly (exit 0) on SIGINT or SIGTERM. Bad input prints one
`Error: ...` line and exits with status 2, before anything is served.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

import recorder
from recorder._upstream import DEFAULT_UPSTREAM, upstream_url

from ._common import CliError, Number
from ._matching import cli_advice, matching_options

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _positive(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not value > 0:  # also rejects nan
        raise CliError(f"--speed expects a number > 0, got {value!r}")
    return value


@contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """Within the block SIGINT and SIGTERM set the yielded event instead of killing the process."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _announce(url: str) -> None:
    """The base URL, first line on stdout, flushed: scripts read it to find the server."""
    click.echo(url)
    sys.stdout.flush()


def _wait(stop: threading.Event) -> None:
    while not stop.wait(0.5):  # a timed wait lets the signal handlers run promptly
        pass


@click.command("serve")
@click.argument("cassettes", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="The port to listen on; 0 picks a free one (the first line printed says which).")
@click.option("--speed", type=float, default=None, callback=_positive,
              help="Pace the replay: 1 = the recorded timing, 2 = twice as fast. Default: instantly.")
@click.option("--fault", "fault_specs", multiple=True, metavar="SPEC",
              help="Break requests on purpose, e.g. 529x2, drop@events=5, stall@events=3:2s (repeatable).")
@matching_options
@click.option("--once", is_flag=True,
              help="Answer each recorded interaction once (default: once used up, the last match keeps answering).")
@click.option("--max-stall", type=Number(0, inclusive=False, name="max-stall"), default=60.0, show_default=True,
              metavar="SECONDS", help="The longest silence (a timeout fault, a stall) before the connection is closed.")
@click.option("--quiet", is_flag=True, help="No request log on stderr.")
def serve_command(cassettes: tuple[Path, ...], host: str, port: int, speed: float | None,
                  fault_specs: tuple[str, ...], match_on: tuple[str, ...], ignore_keys: tuple[str, ...], once: bool,
                  max_stall: float, quiet: bool) -> None:
    """Answer Anthropic API requests over HTTP from CASSETTES (files or folders of *.jsonl, merged in order).

    Prints the base URL (e.g. http://127.0.0.1:54321) as its first line, then serves until
    Ctrl-C or SIGTERM. Point any client at it: ANTHROPIC_BASE_URL=<url>. Requests match,
    stream and fail as with FakeAnthropic; one that matches nothing gets a 404 naming the
    closest recorded request. Each request is logged on stderr in one line. A client sending
    `x-cassette-session: NAME` plays from the start on its own; POST /_cassette/reset starts
    over, GET /_cassette/requests is the journal (docs/serving.md).
    """
    from .._transport import ReplayTransport
    from ..server._serve import load_all, serve

    transport = ReplayTransport(load_all(cassettes), speed=speed, faults=fault_specs, match_on=match_on,
                                ignore_keys=ignore_keys, repeat=not once, advice=cli_advice("serve", server=True))
    with _stop_signals() as stop, serve(transport, host=host, port=port, log=None if quiet else sys.stderr,
                                        max_stall=max_stall) as url:
        _announce(url)
        _wait(stop)


@click.command("record", context_settings={"allow_interspersed_args": False})
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The cassette to write (.jsonl).")
@click.option("--upstream", default=DEFAULT_UPSTREAM, show_default=True,
              help="Where requests are forwarded; a path prefix is kept.")
@click.option("--listen", is_flag=True, help="Run only the proxy: print its URL, record until Ctrl-C or SIGTERM.")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address the proxy listens on.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="The port the proxy listens on; 0 picks a free one.")
@click.option("--append", is_flag=True, help="Add to OUTPUT instead of starting it afresh.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def record_command(ctx: click.Context, output: Path, upstream: str, listen: bool, host: str, port: int,
                   append: bool, command: tuple[str, ...]) -> None:
    """Record every Anthropic API call COMMAND makes, through a proxy, into OUTPUT.

    \b
        cassette record -o session.jsonl -- python my_app.py
        cassette record -o session.jsonl --listen --port 8765

    COMMAND runs with ANTHROPIC_BASE_URL pointing at a local proxy that forwards each request
    to the upstream, streams the answer back as it arrives and records it, redacted. The exit
    status is COMMAND's. SIGTERM is passed on to COMMAND; Ctrl-C reaches it from the terminal.
    """
    if listen == bool(command):
        raise CliError("give a COMMAND to run (after --), or --listen to run only the proxy")
    try:
        upstream_url(upstream)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if listen:
        with _stop_signals() as stop, recorder.proxy(output, upstream=upstream, host=host, port=port,
                                                     append=append) as url:
            _announce(url)
            _wait(stop)
        return
    with recorder.proxy(output, upstream=upstream, host=host, port=port, append=append) as url:
        status = run_command(command, {**os.environ, "ANTHROPIC_BASE_URL": url})
    ctx.exit(status)


def run_command(command: Sequence[str], env: dict[str, str]) -> int:
    """Run `command` to its end and return its exit status (128+N if signal N killed it)."""
    child = subprocess.Popen(list(command), env=env)

    def forward(signum: int, frame: Any) -> None:
        if signum != signal.SIGINT:  # the terminal sends Ctrl-C to the child itself
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in _STOP_SIGNALS}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code if code >= 0 else 128 - code
