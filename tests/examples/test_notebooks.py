"""Execute every notebook in notebooks/ with a real Jupyter kernel: they must run clean, fast, offline.

The same check as `pytest --nbmake notebooks/`, done with nbclient so a plain `pytest` covers it.
Notebooks are committed without outputs; this runs them in memory and writes nothing back.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbclient
import nbformat
import pytest

from tests.helpers import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
BUDGET = 60.0  # seconds per notebook; together they take well under a minute


def execute(path: Path, cwd: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}}).execute()
    return time.perf_counter() - started


def test_there_are_notebooks() -> None:
    assert [p.name for p in NOTEBOOKS] == ["01_record_and_replay.ipynb", "02_timing_analysis.ipynb",
                                           "03_faults.ipynb", "04_fuzzing.ipynb", "05_grading.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path) -> None:
    assert execute(path, path.parent) < BUDGET


def test_notebook_runs_from_the_repository_root() -> None:
    assert execute(NOTEBOOKS[0], ROOT) < BUDGET


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear the outputs"
