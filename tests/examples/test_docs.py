"""Every code block of README.md and docs/*.md runs as written, from the repository root, on the shipped cassettes.

Per page, in order, in a fresh copy of the repository (blocks may write files):
- each ```python block runs in one namespace shared by the page's blocks; afterwards each
  zero-argument `test_*` function the page defined is called, as pytest would;
- each line of a ```bash or ```console block that starts with `cassette ` (after `$ ` in a console
  transcript) runs in bash with this environment's `cassette`, and must exit 0, or N when its
  comment says `exit N`.
A block that cannot run here (a live API key, the reader's own program) is preceded by
`<!-- no-run: <reason> -->`, and the reason must be given.
Pages added to docs/ are picked up by themselves.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\s*$")
NO_RUN = re.compile(r"^<!--\s*no-run:(.*?)-->\s*$")
EXIT = re.compile(r"#.*\bexit (\d+)\b")
RUN = {"python", "bash", "console"}
COPY_IGNORE = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", ".pytest_cache", ".hypothesis",
                                     "cassette-failures", "build", "dist")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    no_run: str | None  # the reason, when marked

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def commands(self) -> list[str]:
        """The `cassette ...` lines of a bash or console block."""
        lines = [line.removeprefix("$ ") if self.language == "console" else line for line in self.code.splitlines()]
        return [line for line in lines if line.startswith("cassette ")]


def blocks_of(page: Path) -> list[Block]:
    """The fenced blocks of `page` in a language that runs, with their no-run marker if any."""
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = next(j for j in range(index + 1, len(lines)) if lines[j].startswith("```"))
        before = next((lines[j] for j in range(index - 1, -1, -1) if lines[j].strip()), "")
        marker = NO_RUN.match(before)
        if opening.group(1) in RUN:
            found.append(Block(page, index + 1, opening.group(1), "\n".join(lines[index + 1:end]) + "\n",
                               marker.group(1).strip() if marker else None))
        index = end + 1
    return found


BLOCKS = {page: blocks_of(page) for page in PAGES}
MARKED = [block for blocks in BLOCKS.values() for block in blocks if block.no_run is not None]


def run_python(block: Block, namespace: dict[str, object]) -> None:
    try:
        exec(compile(block.code, block.where, "exec"), namespace)
    except Exception as exc:
        raise AssertionError(f"{block.where}: the python block raised {type(exc).__name__}: {exc}") from exc


def run_tests(page: Path, namespace: dict[str, object]) -> list[str]:
    called = []
    for name, value in list(namespace.items()):
        if name.startswith("test_") and inspect.isfunction(value) and not inspect.signature(value).parameters:
            try:
                value()
            except Exception as exc:
                raise AssertionError(f"{page.name}: {name}() failed: {type(exc).__name__}: {exc}") from exc
            called.append(name)
    return called


def run_command(block: Block, command: str, cwd: Path) -> None:
    wanted = EXIT.search(command)
    bin_dir = str(Path(sys.executable).parent)  # this environment's `cassette`
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    expected = int(wanted.group(1)) if wanted else 0
    assert done.returncode == expected, (f"{block.where}: `{command}` exited {done.returncode}, not {expected}\n"
                                         f"{done.stdout[-2000:]}{done.stderr[-2000:]}")


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_page_runs_as_written(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=COPY_IGNORE)
    monkeypatch.chdir(repo)
    monkeypatch.syspath_prepend(str(repo))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in BLOCKS[page]:
        if block.no_run is not None:
            continue
        if block.language == "python":
            run_python(block, namespace)
        else:
            for command in block.commands():
                run_command(block, command, repo)
    run_tests(page, namespace)


def test_blocks_marked_no_run_say_why() -> None:
    assert MARKED, "no page marks a block no-run: is the marker still recognised?"
    unexplained = [block.where for block in MARKED if not block.no_run.strip()]
    assert unexplained == [], "say why each cannot run: <!-- no-run: <reason> -->"


def test_blocks_are_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("text\n```python\nx = 1\n```\n<!-- no-run: needs a key -->\n\n```bash\ncassette serve a\n"
                    "echo no\n```\n```\ncassette plain\n```\n```console\n$ cassette play b  # exit 1\nout\n```\n")
    python, bash, console = blocks_of(page)
    assert (python.language, python.code, python.no_run, python.line) == ("python", "x = 1\n", None, 2)
    assert (bash.commands(), bash.no_run) == (["cassette serve a"], "needs a key")
    assert console.commands() == ["cassette play b  # exit 1"]
    assert EXIT.search(console.commands()[0]).group(1) == "1"  # type: ignore[union-attr]


def test_ci_runs_the_readme_test_command_with_the_pins() -> None:
    command = 'pip install -e ".[test]" -c constraints.txt && python -m pytest -q'
    assert command in (ROOT / "README.md").read_text(encoding="utf-8")
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    pins = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[^=\s]+", line) for line in pins)
    assert not any(line.lower().startswith("claude-cassette") for line in pins)
