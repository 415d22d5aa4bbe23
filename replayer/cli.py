"""The `cassette` command: play, show, check and import cassettes from a terminal.

A thin click layer: loading, validation, import and replay are library functions
(`recorder.load`, `recorder.problems`, `recorder.import_sse`, `replayer.FakeAnthropic`);
this module only renders what they return. User errors print one `Error: ...` line and
exit with status 2.
"""

from __future__ import annotations

import errno
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anthropic
import click
from anthropic.types import Message, RawMessageStreamEvent

import recorder
from recorder import Cassette, CassetteError, ErrorInfo, Interaction

from ._client import FakeAnthropic
from ._errors import ReplayError
from ._stats import TOKEN_DELTAS, first_token_time, interaction_stats

# What an imported capture (which has no recorded request) is asked during `play`: any
# request gets the capture, so the smallest valid streaming body will do.
IMPORTED_REQUEST: dict[str, Any] = {
    "model": "imported-capture", "max_tokens": 1, "stream": True,
    "messages": [{"role": "user", "content": "(replaying an imported capture)"}],
}


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


class _Group(click.Group):
    """A group whose commands all report bad input as CliError."""

    def invoke(self, ctx: click.Context) -> Any:
        with user_errors():
            return super().invoke(ctx)


class _Number(click.ParamType):
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


@click.group(cls=_Group)
@click.version_option(package_name="claude-cassette", message="%(prog)s (claude-cassette %(version)s)")
def main() -> None:
    """Record, replay and inspect Claude streaming sessions stored as JSONL cassettes."""


# --- play -------------------------------------------------------------------------------


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--speed", type=_Number(0, inclusive=False, name="speed"), default=None,
              help="Pace the replay: 1 = the recorded timing, 2 = twice as fast. Default: instantly.")
@click.option("--fault", "fault_specs", multiple=True, metavar="SPEC",
              help="Break calls on purpose, e.g. 529x2, drop@events=5, stall@events=3:2s (repeatable).")
def play(file: Path, speed: float | None, fault_specs: tuple[str, ...]) -> None:
    """Replay every interaction of FILE through the real anthropic SDK, rendering it as it streams.

    Text is printed live, thinking is dimmed, tool calls are shown with their parsed input.
    Errors the SDK raises (recorded drops, error events, HTTP errors) are shown and play
    goes on with the next interaction.
    """
    cassette = recorder.load(file)
    # No retries: every recorded interaction (a 429 included) is played once, as itself.
    client = FakeAnthropic(cassette, speed=speed, faults=fault_specs, max_retries=0)
    with client:
        for interaction in cassette:
            click.secho(f"── {_title(interaction)}", bold=True)
            _play_one(client, interaction)


def _play_one(client: anthropic.Anthropic, interaction: Interaction) -> None:
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
        click.echo(f"request failed: {_describe(exc)}")
        return
    if isinstance(result, anthropic.Stream):
        # The SDK's own accumulator (as in messages.stream()) assembles text, tool input and usage.
        with anthropic.MessageStream(result, output_format=anthropic.NOT_GIVEN) as stream:
            _render_stream(stream, interaction, started)
    elif isinstance(result, Message):
        _render_message(result, interaction, time.monotonic() - started)
    else:
        click.echo(_short(str(result), 400))


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
        click.echo(click.style("stream ended: ", fg="red") + _describe(exc))
    newline()
    snapshot = stream.current_message_snapshot if message_started else None
    recorded = first_token_time(interaction)
    click.echo(_summary_line(snapshot, f"ttft {_ms(ttft)} (recorded {_ms(recorded)})"))


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
    click.echo(_summary_line(message, f"time {_ms(elapsed)} (recorded {_ms(recorded)})"))


def _summary_line(message: Any, timing: str) -> str:
    if message is None:
        return f"stop_reason=None  usage: none  {timing}"
    usage = message.usage
    parts = [f"in={usage.input_tokens}", f"out={usage.output_tokens}"]
    for name in ("cache_read_input_tokens", "cache_creation_input_tokens"):
        if getattr(usage, name, None):
            parts.append(f"{name.removesuffix('_input_tokens')}={getattr(usage, name)}")
    return click.style(f"stop_reason={message.stop_reason}  usage: {' '.join(parts)}  {timing}", dim=True)


# --- show -------------------------------------------------------------------------------


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def show(file: Path) -> None:
    """Summarise each interaction of FILE: request, status, model, events, stop reason, outcome, timing, tokens.

    ttft is the recorded time to the first text, thinking or tool-input delta; duration is
    the time of the end line; both are seconds since the request was sent.
    """
    cassette = recorder.load(file)
    click.echo(f"{file}: {len(cassette)} interaction{'' if len(cassette) == 1 else 's'}{_provenance(cassette)}")
    for interaction in cassette:
        s = interaction_stats(interaction)
        outcome = s.outcome + (f" ({_short(s.error)})" if s.error else "")
        click.echo(f"#{s.id} {s.request or '(imported, answers any request)'} -> {s.status or 'no response'}  "
                   f"model={s.model}  events={s.events}  stop_reason={s.stop_reason}  outcome={outcome}  "
                   f"ttft={_ms(s.time_to_first_token)}  duration={_ms(s.duration)}  "
                   f"tokens in={s.input_tokens} out={s.output_tokens}")


def _provenance(cassette: Cassette) -> str:
    header = cassette.header
    notes = [f"{key}: {header[key]}" for key in ("imported", "timing", "source", "synthetic") if key in header]
    notes += [str(header[key]) for key in ("recorder", "sdk", "created") if key in header]
    return f" ({', '.join(notes)})" if notes else ""


# --- check ------------------------------------------------------------------------------


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def check(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Load and validate each FILE; exit 2 if any has a problem.

    Prints `ok FILE (N interactions)` for a good file, else one line per problem:
    `FILE:LINE: what` for a format error, `FILE: interaction N: what` for a protocol one.
    """
    failed = False
    for file in files:
        for line in check_file(file):
            click.echo(line)
            failed = failed or not line.startswith("ok ")
    if failed:
        ctx.exit(2)


def check_file(file: Path) -> list[str]:
    """The lines `check` prints for one file."""
    try:
        cassette = recorder.load(file)
    except CassetteError as exc:
        return [str(exc) if exc.path else f"{file}: {exc}"]
    except OSError as exc:
        return [f"{file}: {exc.strerror or exc}"]
    found = recorder.problems(cassette)
    if found:
        return [f"{file}: {problem}" for problem in found]
    return [f"ok {file} ({len(cassette)} interaction{'' if len(cassette) == 1 else 's'})"]


# --- import-sse -------------------------------------------------------------------------


@main.command("import-sse")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The cassette to write (.jsonl).")
@click.option("--gap-ms", type=_Number(0, inclusive=True, name="milliseconds"), default=0.0, show_default=True,
              help="Place event i at i * N ms. A capture has no timing; 0 records none.")
def import_sse(file: Path, output: Path, gap_ms: float) -> None:
    """Import a raw SSE capture (`curl -N`, or `curl -i -N` with headers) as a one-interaction cassette.

    The imported interaction answers any request during replay.
    """
    if output.resolve() == file.resolve():
        raise CliError(f"{output}: refusing to overwrite the capture; choose another -o")
    cassette = recorder.import_sse(file.read_bytes(), gap=gap_ms / 1000, source=str(file))
    recorder.save(cassette, output)
    interaction = cassette[0]
    click.echo(f"wrote {output}: {len(interaction.events)} events, outcome {interaction.outcome}")


# --- helpers ----------------------------------------------------------------------------


def _title(interaction: Interaction) -> str:
    request = interaction.request
    what = f"{request.method} {request.path}" if request is not None else "imported capture"
    return f"interaction {interaction.id}: {what}"


def _describe(exc: BaseException) -> str:
    error = ErrorInfo.of(exc)
    return f"{error.type}: {_short(error.message, 300)}"


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- serve, record (replayer/_server_cli.py) ----------------------------------------------

from ._server_cli import record_command, serve_command  # noqa: E402  (registers after main exists)

main.add_command(serve_command)
main.add_command(record_command)


# --- stats, plot, diff (replayer/_analysis_cli.py) ------------------------------------------

from ._analysis_cli import diff_command, plot_command, stats_command  # noqa: E402

main.add_command(stats_command)
main.add_command(plot_command)
main.add_command(diff_command)


# --- import-vcr, export-vcr (replayer/_vcr.py) -------------------------------------------


@main.command("import-vcr")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The cassette to write (.jsonl).")
def import_vcr_command(file: Path, output: Path) -> None:
    """Convert a vcrpy cassette (YAML) of Anthropic calls into a JSONL cassette.

    Streams are split into events; vcrpy records no timing, so every event is at t = 0 and
    the header says `"timing": "none"`.
    """
    from ._vcr import import_vcr

    if output.resolve() == file.resolve():
        raise CliError(f"{output}: refusing to overwrite the vcrpy cassette; choose another -o")
    cassette = import_vcr(file)
    recorder.save(cassette, output)
    click.echo(f"wrote {output}: {len(cassette)} interaction{'' if len(cassette) == 1 else 's'} (timing: none)")


@main.command("export-vcr")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The vcrpy cassette to write (.yaml).")
def export_vcr_command(file: Path, output: Path) -> None:
    """Write a JSONL cassette as a vcrpy cassette (YAML) for vcrpy or pytest-recording to replay.

    Each stream becomes one body string (vcrpy keeps no timing); what vcrpy cannot hold is
    listed as notes.
    """
    from ._vcr import export_vcr

    if output.resolve() == file.resolve():
        raise CliError(f"{output}: refusing to overwrite the cassette; choose another -o")
    cassette = recorder.load(file)
    notes = export_vcr(cassette, output)
    for note in notes:
        click.echo(f"note: {note}")
    written = sum(1 for i in cassette if i.request is not None and i.response is not None)
    click.echo(f"wrote {output}: {written} interaction{'' if written == 1 else 's'}")


# --- fuzz (replayer/_fuzz.py) --------------------------------------------------------------


@main.command("fuzz")
@click.argument("target")
@click.option("--cassette", "cassette_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Fuzz variations of this recorded cassette instead of generated streams.")
@click.option("-n", "--examples", type=click.IntRange(min=1), default=100, show_default=True,
              help="How many cases to try before calling TARGET robust.")
@click.option("--seed", type=int, default=None, help="Seed the search, to repeat a run exactly.")
@click.option("--save-failures", type=click.Path(file_okay=False, path_type=Path), default=Path("cassette-failures"),
              show_default=True, help="Directory where the minimal failing case is saved as a cassette.")
@click.option("-j", "--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Search in this many processes (one per core); the first failure found is shrunk and shown.")
@click.pass_context
def fuzz_command(ctx: click.Context, target: str, cassette_file: Path | None, examples: int, seed: int | None,
                 save_failures: Path, workers: int) -> None:
    """Run TARGET (module:function taking an anthropic client) on generated streams until it raises.

    TARGET gets a FakeAnthropic (a FakeAsyncAnthropic if it is a coroutine function) that
    answers any request with a protocol-valid generated stream. On the first exception the
    stream is shrunk to a minimal one, printed event by event with the exception, and saved as
    a cassette for `cassette play`. Exit status 1 on a failure, 0 when every case passed.
    """
    from ._fuzz import fuzz, report

    live = sys.stderr.isatty()

    def progress(phase: str, runs: int) -> None:
        if live:
            total = f"/{examples}" if phase == "searching" else ""
            click.echo(f"\r{phase} {target}: {runs}{total} ", nl=False, err=True)

    cassette = recorder.load(cassette_file) if cassette_file is not None else None
    result = fuzz(target, cassette=cassette, examples=examples, seed=seed, save_failures=save_failures,
                  progress=progress, workers=workers)
    if live:
        click.echo("", err=True)
    for line in report(result):
        click.echo(line)
    if not result.ok:
        ctx.exit(1)
