"""`cassette play`: replay a cassette through the real SDK, rendered as it streams."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

import recorder
from recorder import Cassette, Interaction

from ..analysis._stats import TOKEN_DELTAS, first_token_time
from ._common import SPEED, SPEED_HELP, describe, ms, short
from ._matching import cli_advice, matching_options

if TYPE_CHECKING:  # the SDK is imported when a verb replays, not when `cassette --help` lists this one
    import anthropic
    import httpx2
    from anthropic.types import Message

# What an imported capture (which has no recorded request) is asked during `play`: any
# request gets the capture, so the smallest valid streaming body will do.
IMPORTED_REQUEST: dict[str, Any] = {
    "model": "imported-capture", "max_tokens": 1, "stream": True,
    "messages": [{"role": "user", "content": "(replaying an imported capture)"}],
}


@click.command("play")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--speed", type=SPEED, default=None, help=SPEED_HELP)
@click.option("--fault", "fault_specs", multiple=True, metavar="SPEC",
              help="Break calls on purpose, e.g. 529x2, drop@events=5, stall@events=3:2s (repeatable).")
@click.option("--max-retries", type=click.IntRange(0, 10), default=None,
              help="How often the SDK retries a failed call (a 429 or 529 --fault, a connection error). "
                   "Default: the SDK's own (2).")
@matching_options
@click.pass_context
def play(ctx: click.Context, file: Path, speed: float | None, fault_specs: tuple[str, ...],
         max_retries: int | None, match_on: tuple[str, ...], ignore_keys: tuple[str, ...]) -> None:
    """Replay every interaction of FILE through the real anthropic SDK, rendering it as it streams.

    Text is printed live, thinking is dimmed, tool calls are shown with their parsed input.
    The SDK retries as it would live (each retry is shown); an interaction recorded as an HTTP
    error or a connection failure is played once, as itself. Errors the SDK raises (recorded
    drops, error events, HTTP errors) are shown and play goes on with the next interaction;
    each stream ends with a line saying how it ended. Exit status 1 when a call failed or a
    stream did not complete, 0 when every interaction completed.
    """
    from .._client import FakeAnthropic, transport_of

    cassette = recorder.load(file)
    retries = {} if max_retries is None else {"max_retries": max_retries}
    client = FakeAnthropic(cassette, speed=speed, faults=fault_specs, match_on=match_on, ignore_keys=ignore_keys,
                           **retries)
    transport_of(client).playback.advice = cli_advice("play", server=False)
    _show_retries(client)
    failed = 0
    with client:
        for interaction in cassette:
            click.secho(f"── {_title(interaction, cassette)}", bold=True)
            # A recorded failure is played as itself: an SDK retry would take the next recording.
            recorded_ok = interaction.response is not None and interaction.response.status < 400
            failed += not _play_one(client if recorded_ok else client.with_options(max_retries=0), interaction)
    if failed:
        click.secho(f"{failed} of {len(cassette)} interaction{'s' * (len(cassette) != 1)} did not complete",
                    fg="red")
        ctx.exit(1)


def _show_retries(client: anthropic.Anthropic) -> None:
    """Print `retry N: <why>` as the SDK retries: its attempts carry `x-stainless-retry-count`."""
    last = "no response"

    def on_request(request: httpx2.Request) -> None:
        nonlocal last
        attempt = request.headers.get("x-stainless-retry-count", "0")
        if attempt.isdigit() and int(attempt) > 0:
            click.secho(f"retry {attempt}: {last}", fg="yellow")
        last = "no response (connection error or timeout)"

    def on_response(response: httpx2.Response) -> None:
        nonlocal last
        if response.status_code >= 400:
            response.read()
            try:
                kind = response.json()["error"]["type"]
            except (ValueError, KeyError, TypeError):
                kind = response.reason_phrase
            last = f"HTTP {response.status_code} {kind}"

    client._client.event_hooks = {"request": [on_request], "response": [on_response]}


def _play_one(client: anthropic.Anthropic, interaction: Interaction) -> bool:
    """Play one interaction; whether it completed (no error, and a stream reached message_stop)."""
    import anthropic
    from anthropic.types import Message, RawMessageStreamEvent

    from .._errors import ReplayError

    method, path, body, raw = _request_of(interaction)
    streaming = interaction.is_stream or (isinstance(body, dict) and body.get("stream") is True)
    started = time.monotonic()
    try:
        if method != "POST":
            result: Any = getattr(client, method.lower())(path, cast_to=str)
        elif urlsplit(path).path.rstrip("/").endswith("/v1/messages"):
            result = client.post(path, body=body, content=raw, cast_to=Message, stream=streaming,
                                 stream_cls=anthropic.Stream[RawMessageStreamEvent])
        else:
            result = client.post(path, body=body, content=raw, cast_to=str)
    except ReplayError:
        raise
    except Exception as exc:  # whatever the SDK raises is what the user came to see
        click.echo(f"request failed: {describe(exc)}")
        return False
    if isinstance(result, anthropic.Stream):
        # The SDK's own accumulator (as in messages.stream()) assembles text, tool input and usage.
        with anthropic.MessageStream(result, output_format=anthropic.NOT_GIVEN) as stream:
            return _render_stream(stream, interaction, started)
    if isinstance(result, Message):
        _render_message(result, interaction, time.monotonic() - started)
    else:
        click.echo(short(str(result), 400))
    return True


def _request_of(interaction: Interaction) -> tuple[str, str, Any, bytes | None]:
    """Method, path (with query), JSON body or raw content, as recorded (imported: a minimal stream)."""
    request = interaction.request
    if request is None:
        return "POST", "/v1/messages", IMPORTED_REQUEST, None
    url = urlsplit(request.url)
    path = url.path + (f"?{url.query}" if url.query else "")
    payload = request.body
    if payload.raw is not None:
        return request.method, path, None, payload.raw.encode()
    return request.method, path, payload.data, None


def _render_stream(stream: anthropic.MessageStream, interaction: Interaction, started: float) -> bool:
    """Render the stream as it arrives, then how it ended; whether it reached message_stop."""
    from .._errors import ReplayError

    ttft: float | None = None
    message_started = stopped = False
    error: Exception | None = None
    at_line_start = True

    def out(text: str, **style: Any) -> None:
        nonlocal at_line_start
        if text:
            click.echo(click.style(text, **style) if style else text, nl=False)
            at_line_start = text.endswith("\n")

    def newline() -> None:
        if not at_line_start:
            out("\n")

    try:
        for event in stream:
            if event.type == "message_start":
                message_started = True
            elif event.type == "message_stop":
                stopped = True
            elif event.type == "content_block_delta" and ttft is None and event.delta.type in TOKEN_DELTAS:
                ttft = time.monotonic() - started
            elif event.type == "content_block_start" and event.content_block.type == "thinking":
                newline()
                out("[thinking] ", dim=True, italic=True)
            elif event.type == "text":
                out(event.text)
            elif event.type == "thinking":
                out(event.thinking, dim=True, italic=True)
            elif event.type == "content_block_stop":
                block = event.content_block
                if block.type in ("tool_use", "server_tool_use"):
                    newline()
                    out(click.style(f"[{block.type}] {block.name}", fg="cyan")
                        + f" {json.dumps(block.input, ensure_ascii=False)}\n")
                elif block.type == "thinking":
                    newline()
    except ReplayError:
        raise
    except Exception as exc:  # a recorded drop, an error event, a malformed chunk: shown below, go on
        error = exc
    newline()
    snapshot = stream.current_message_snapshot if message_started else None
    if error is not None:
        click.echo(click.style("stream ended: ", fg="red") + describe(error))
    elif not stopped:  # the SDK ends such a stream silently: say so
        returned = (f"the SDK returned stop_reason={snapshot.stop_reason}" if snapshot is not None
                    else "the SDK assembled no message (no message_start)")
        click.echo(click.style("stream ended without message_stop: ", fg="red") + returned)
    else:
        click.echo("stream ended with message_stop")
    recorded = first_token_time(interaction)
    click.echo(_summary_line(snapshot, f"ttft {ms(ttft)} (recorded {ms(recorded)})"))
    return error is None and stopped


def _render_message(message: Message, interaction: Interaction, elapsed: float) -> None:
    for block in message.content:
        if block.type == "text":
            click.echo(block.text)
        elif block.type == "thinking":
            click.secho(f"[thinking] {block.thinking}", dim=True, italic=True)
        elif block.type in ("tool_use", "server_tool_use"):
            click.echo(click.style(f"[{block.type}] {block.name}", fg="cyan")
                       + f" {json.dumps(block.input, ensure_ascii=False)}")
    recorded = interaction.body.t if interaction.body is not None else None
    click.echo(_summary_line(message, f"time {ms(elapsed)} (recorded {ms(recorded)})"))


def _summary_line(message: Any, timing: str) -> str:
    if message is None:
        return f"stop_reason=None  usage: none  {timing}"
    usage = message.usage
    parts = [f"in={usage.input_tokens}", f"out={usage.output_tokens}"]
    for name in ("cache_read_input_tokens", "cache_creation_input_tokens"):
        if getattr(usage, name, None):
            parts.append(f"{name.removesuffix('_input_tokens')}={getattr(usage, name)}")
    return click.style(f"stop_reason={message.stop_reason}  usage: {' '.join(parts)}  {timing}", dim=True)


def _title(interaction: Interaction, cassette: Cassette) -> str:
    request = interaction.request
    if request is not None:
        what = f"{request.method} {request.path}"
    elif "imported" in cassette.header:
        what = f"imported capture ({cassette.header['imported']}), answers any request"
    elif "synthetic" in cassette.header:
        what = "generated stream, answers any request"
    else:
        what = "no recorded request, answers any request"
    return f"interaction {interaction.id}: {what}"
