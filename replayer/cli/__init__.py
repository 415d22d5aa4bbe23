"""The `cassette` command: a thin click layer over the library, one module per group of verbs.

Loading, validation, replay, analysis and serving are library functions (`recorder.load`,
`replayer.FakeAnthropic`, `replayer.stats`, `replayer.serve` ...); the modules here only parse
options and render what those return. User errors print one `Error: ...` line and exit with
status 2 (`_common.py`).
"""

from __future__ import annotations

import click

from ._analysis import diff_command, plot_command, stats_command
from ._common import CliError, Group
from ._convert import export_vcr_command, import_sse, import_vcr_command
from ._fuzz import fuzz_command
from ._grade import grade_command
from ._inspect import check, show
from ._play import play
from ._server import record_command, serve_command


@click.group(cls=Group)
@click.version_option(package_name="claude-cassette", message="%(prog)s (claude-cassette %(version)s)")
def main() -> None:
    """Record, replay and inspect Claude streaming sessions stored as JSONL cassettes."""


for _command in (play, show, check, import_sse, stats_command, plot_command, diff_command, serve_command,
                 record_command, import_vcr_command, export_vcr_command, fuzz_command,
                 grade_command):
    main.add_command(_command)

__all__ = ["CliError", "main"]
