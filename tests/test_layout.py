"""The import graph, read from the code: no cycles, `recorder` independent of `replayer`, and each
layer of `replayer` importing only the layers below it (imports inside functions count too)."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from tests.helpers import ROOT

PACKAGES = ("recorder", "replayer")

# Lower layers never import higher ones; subpackages of one layer never import each other.
LAYERS: dict[str, int] = {
    "recorder": 0,
    "replayer": 1,  # the replay core: transport, client, matching, script, timing, chunking, faults
    "replayer.fuzzing": 2,
    "replayer.analysis": 3,
    "replayer.server": 3,
    "replayer.session": 3,
    "replayer.grading": 4,
    "replayer.cli": 5,
    "replayer.plugin": 5,
    "replayer.strategies": 5,
    "replayer.__init__": 5,
}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules `name` imports anywhere in its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t.split(".")[0] in PACKAGES and t != name)
    return {t if t in known else t.rpartition(".")[0] for t in found} - {name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def layer_of(module: str) -> tuple[str, int]:
    if module == "replayer":
        return "replayer.__init__", LAYERS["replayer.__init__"]
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return prefix, LAYERS[prefix]
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def test_the_graph_is_read_from_the_code() -> None:
    edges = graph()
    assert "replayer._transport" in edges["replayer._client"]
    assert "replayer.faults" in edges["replayer._transport"]  # `from . import faults`
    assert "replayer._client" in edges["replayer.fuzzing._generated"]  # imported inside a method
    assert "recorder._patch" in edges["replayer._replay"]


def test_no_import_cycles() -> None:
    try:
        TopologicalSorter(graph()).prepare()
    except CycleError as cycle:
        raise AssertionError(f"import cycle: {' -> '.join(cycle.args[1])}") from None


def test_recorder_never_imports_replayer() -> None:
    leaks = {name: sorted(t for t in targets if t.startswith("replayer"))
             for name, targets in graph().items() if name.startswith("recorder")}
    assert {name: t for name, t in leaks.items() if t} == {}


def test_each_layer_imports_only_downward() -> None:
    wrong = []
    for name, targets in graph().items():
        group, level = layer_of(name)
        for target in targets:
            target_group, target_level = layer_of(target)
            if target_level > level or (target_level == level and target_group != group):
                wrong.append(f"{name} ({group}) imports {target} ({target_group})")
    assert wrong == []
