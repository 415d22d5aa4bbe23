"""`cassette import-sse`, `import-vcr` and `export-vcr`: cassettes from and to other formats."""

from __future__ import annotations

from pathlib import Path

import click

import recorder
from recorder._cassette import regular_file

from ._common import CliError, Number


@click.command("import-sse")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The cassette to write (.jsonl).")
@click.option("--gap-ms", type=Number(0, inclusive=True, name="milliseconds", maximum=60_000), default=0.0,
              show_default=True,
              help="Place event i at i * N ms. A capture has no timing; 0 records none.")
def import_sse(file: Path, output: Path, gap_ms: float) -> None:
    """Import a raw SSE capture (`curl -N`, or `curl -i -N` with headers) as a one-interaction cassette.

    The imported interaction answers any request during replay. A file holding no SSE event
    (empty, binary, already a cassette) is refused with exit status 2.
    """
    if output.resolve() == file.resolve():
        raise CliError(f"{output}: refusing to overwrite the capture; choose another -o")
    regular_file(file, "an SSE capture file")
    cassette = recorder.import_sse(file.read_bytes(), gap=gap_ms / 1000, source=str(file))
    recorder.save(cassette, output)
    interaction = cassette[0]
    click.echo(f"wrote {output}: {len(interaction.events)} events, outcome {interaction.outcome}")


@click.command("import-vcr")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The cassette to write (.jsonl).")
def import_vcr_command(file: Path, output: Path) -> None:
    """Convert a vcrpy cassette (YAML) of Anthropic calls into a JSONL cassette.

    Streams are split into events; vcrpy records no timing, so every event is at t = 0 and
    the header says `"timing": "none"`.
    """
    from .._vcr import import_vcr

    if output.resolve() == file.resolve():
        raise CliError(f"{output}: refusing to overwrite the vcrpy cassette; choose another -o")
    cassette = import_vcr(file)
    recorder.save(cassette, output)
    click.echo(f"wrote {output}: {len(cassette)} interaction{'' if len(cassette) == 1 else 's'} (timing: none)")


@click.command("export-vcr")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The vcrpy cassette to write (.yaml).")
def export_vcr_command(file: Path, output: Path) -> None:
    """Write a JSONL cassette as a vcrpy cassette (YAML) for vcrpy or pytest-recording to replay.

    Each stream becomes one body string (vcrpy keeps no timing); what vcrpy cannot hold is
    listed as notes.
    """
    from .._vcr import export_vcr

    if output.resolve() == file.resolve():
        raise CliError(f"{output}: refusing to overwrite the cassette; choose another -o")
    cassette = recorder.load(file)
    notes = export_vcr(cassette, output)
    for note in notes:
        click.echo(f"note: {note}")
    written = sum(1 for i in cassette if i.request is not None and i.response is not None)
    click.echo(f"wrote {output}: {written} interaction{'' if written == 1 else 's'}")
