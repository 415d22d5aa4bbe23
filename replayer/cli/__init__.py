"""The `cassette` command: a thin click layer over the library, one module per group of verbs.

Loading, validation, replay, analysis and serving are library functions (`recorder.load`,
`replayer.FakeAnthropic`, `replayer.stats`, `replayer.serve` ...); the modules here only parse
options and render what those return. User errors print one `Error: ...` line and exit with
status 2 (`_common.py`).

Each verb's module is imported only when that verb runs (or `--help` lists it), and imports the
SDK, vcrpy, hypothesis, the servers or matplotlib inside the functions that use them: `cassette
check` starts in a blink. Add a verb with one line in COMMANDS.
"""

from __future__ import annotations

import click

from ._common import CliError, Group

# verb -> "module:attribute" of its click command, imported on first use
COMMANDS: dict[str, str] = {
    "check": "replayer.cli._inspect:check",
    "diff": "replayer.cli._analysis:diff_command",
    "export-vcr": "replayer.cli._convert:export_vcr_command",
    "fuzz": "replayer.cli._fuzz:fuzz_command",
    "grade": "replayer.cli._grade:grade_command",
    "import-sse": "replayer.cli._convert:import_sse",
    "import-vcr": "replayer.cli._convert:import_vcr_command",
    "play": "replayer.cli._play:play",
    "plot": "replayer.cli._analysis:plot_command",
    "record": "replayer.cli._server:record_command",
    "serve": "replayer.cli._server:serve_command",
    "show": "replayer.cli._inspect:show",
    "stats": "replayer.cli._analysis:stats_command",
}


@click.group(cls=Group, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="claude-cassette", message="%(prog)s (claude-cassette %(version)s)")
def main() -> None:
    """Record, replay and inspect Claude streaming sessions stored as JSONL cassettes."""


__all__ = ["CliError", "main"]
