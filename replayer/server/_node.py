"""Run small JavaScript programs with the official TypeScript SDK (`@anthropic-ai/sdk`) against a server.

The SDK comes from npm, pinned by the package.json and package-lock.json in `PROJECT`
(tests/typescript/ of the checkout); `install()` runs `npm ci` there once, and again only when
the lock file changes. A program is an ES module that can `import Anthropic from
'@anthropic-ai/sdk'`, finds its server in `process.env.ANTHROPIC_BASE_URL` (which the SDK reads
too) and its input as JSON in `process.env.CASSETTE_INPUT`, and prints one JSON value as its
last line of output; `run_js` returns that value.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[2] / "tests" / "typescript"


class NodeError(RuntimeError):
    """node or npm is missing, `npm ci` failed, or a program failed or printed no JSON."""


def pinned_version(project: Path = PROJECT, package: str = "@anthropic-ai/sdk") -> str:
    """The version of `package` that `project`'s package-lock.json pins."""
    return json.loads((project / "package-lock.json").read_text())["packages"][f"node_modules/{package}"]["version"]


def installed(project: Path = PROJECT) -> bool:
    """Whether `project`'s node_modules holds exactly what its package-lock.json pins."""
    hidden = project / "node_modules" / ".package-lock.json"  # npm's record of what it installed
    if not hidden.exists():
        return False
    wanted = json.loads((project / "package-lock.json").read_text())["packages"]
    have = json.loads(hidden.read_text())["packages"]
    return {k: v.get("version") for k, v in wanted.items() if k} == {k: v.get("version") for k, v in have.items()}


def install(project: Path = PROJECT) -> Path:
    """`npm ci` in `project` unless its node_modules is already what the lock file pins; returns `project`."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise NodeError(f"{tool} is not on PATH: install Node.js 20 or newer")
    if not installed(project):
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=project, capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise NodeError(f"npm ci in {project} failed:\n{done.stderr.strip()}")
    return project


def run_js(program: str, base_url: str, input: Any = None, *, timeout: float = 60,
           project: Path = PROJECT, env: dict[str, str] | None = None) -> Any:
    """Run the ES module `program` with node against `base_url`; return the JSON value it printed last.

    >>> run_js("console.log(JSON.stringify(process.env.ANTHROPIC_BASE_URL))", "http://127.0.0.1:9")
    'http://127.0.0.1:9'
    """
    environment = {**os.environ, **(env or {}), "ANTHROPIC_BASE_URL": base_url,
                   "ANTHROPIC_API_KEY": "placeholder", "CASSETTE_INPUT": json.dumps(input)}
    # stdin with --input-type=module: bare imports resolve from `project`'s node_modules (the cwd).
    done = subprocess.run(["node", "--input-type=module"], input=program, cwd=project, env=environment,
                          capture_output=True, text=True, timeout=timeout, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise NodeError(f"node exited with status {done.returncode}:\n{done.stderr.strip() or done.stdout.strip()}")
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        raise NodeError(f"the program's last line is not JSON: {lines[-1][:200]!r}") from None
