"""`cassette play`: replay a cassette through the real SDK, rendered as it streams."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

import recorder
from recorder import Interaction

from ..analysis._stats import TOKEN_DELTAS, first_token_time
from ._common import Number, describe, ms, short
from ._matching import cli_advice, matching_options

if TYPE_CHECKING:
    import anthropic
    from anthropic.types import Message

# What an imported capture (which has no recorded request) is asked during `play`: any
# request gets the capture, so the smallest valid streaming body will do.
IMPORTED_REQUEST: dict[str, Any] = {
    "model": "imported-capture", "max_tokens": 1, "stream": True,
    "messages": [{"role": "user", "content": "(replaying an imported capture)"}],
}




@click.command("play")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--speed", type=Number(0, inclusive=False, name="speed"), default=None,
              help="Pace the replay: 1 = the recorded timing, 2 = twice as fast. Default: instantly.")
@click.option("--fault", "fault_specs", multiple=True, metavar="SPEC",
              help="Break calls on purpose, e.g. 529x2, drop@events=5, stall@events=3:2s (repeatable).")
@matching_options
def play(file: Path, speed: float | None, fault_specs: tuple[str, ...], match_on: tuple[str, ...],
         ignore_keys: tuple[str, ...]) -> None:
    """Replay every interaction of FILE through the real anthropic SDK, rendering it as it streams.

    Text is printed live, thinking is dimmed, tool calls are shown with their parsed input.
    Errors the SDK raises (recorded drops, error events, HTTP errors) are shown and play
    goes on with the next interaction.
    """
    from .._client import FakeAnthropic, transport_of

    cassette = recorder.load(file)
    # No retries: every recorded interaction (a 429 included) is played once, as itself.
    client = FakeAnthropic(cassette, speed=speed, faults=fault_specs, match_on=match_on, ignore_keys=ignore_keys,
                           max_retries=0)
    transport_of(client).playback.advice = cli_advice("play", server=False)
    with client:
        for interaction in cassette:
            click.secho(f"── {_title(interaction)}", bold=True)
            _play_one(client, interaction)


def _play_one(client: anthropic.Anthropic, interaction: Interaction) -> None:
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
        return
    if isinstance(result, anthropic.Stream):
        # The SDK's own accumulator (as in messages.stream()) assembles text, tool input and usage.
        with anthropic.MessageStream(result, output_format=anthropic.NOT_GIVEN) as stream:
            _render_stream(stream, interaction, started)
    elif isinstance(result, Message):
        _render_message(result, interaction, time.monotonic() - started)
    else:
        click.echo(short(str(result), 400))


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


def _render_stream(stream: anthropic.MessageStream, interaction: Interaction, started: float) -> None:
    from .._errors import ReplayError

    ttft: float | None = None
    message_started = False
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
    except Exception as exc:  # a recorded drop, an error event, a malformed chunk: show it, go on
        newline()
        click.echo(click.style("stream ended: ", fg="red") + describe(exc))
    newline()
    snapshot = stream.current_message_snapshot if message_started else None
    recorded = first_token_time(interaction)
    click.echo(_summary_line(snapshot, f"ttft {ms(ttft)} (recorded {ms(recorded)})"))


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


def _title(interaction: Interaction) -> str:
    request = interaction.request
    what = f"{request.method} {request.path}" if request is not None else "imported capture"
    return f"interaction {interaction.id}: {what}"
