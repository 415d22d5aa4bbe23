"""Where each interaction of a cassette was recorded: its file and its own index there.

Serving a folder merges its cassettes into one, renumbering interactions 0, 1, 2, ... across
files; a message about interaction 7 of the merge helps nobody, `tool_use.jsonl interaction 1` does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from weakref import WeakKeyDictionary

from recorder import Cassette, Interaction

_ORIGINS: WeakKeyDictionary[Cassette, tuple[tuple[str | None, int], ...]] = WeakKeyDictionary()


def merge(cassettes: Sequence[Cassette]) -> Cassette:
    """One cassette holding the interactions of all `cassettes`, in order, renumbered 0, 1, 2, ...

    `origin()` still names each interaction's own file and id.
    """
    if len(cassettes) == 1:
        return cassettes[0]
    interactions = [(c, i) for c in cassettes for i in c.interactions]
    renumbered = tuple(dataclasses.replace(i, id=n) for n, (_, i) in enumerate(interactions))
    header = dict(cassettes[0].header) if cassettes else {"cassette": 1}
    merged = Cassette(renumbered, header, ", ".join(c.path or "(in memory)" for c in cassettes))
    _ORIGINS[merged] = tuple(origin(c, i) for c, i in interactions)
    return merged


def origin(cassette: Cassette, interaction: Interaction) -> tuple[str | None, int]:
    """(file, id in that file) of one of `cassette`'s interactions."""
    origins = _ORIGINS.get(cassette)
    if origins is not None and 0 <= interaction.id < len(origins):
        return origins[interaction.id]
    return cassette.path, interaction.id


def label(cassette: Cassette, interaction: Interaction) -> str:
    """`cassettes/tool_use.jsonl interaction 1`: how a person finds it."""
    path, id = origin(cassette, interaction)
    return f"{path or 'the cassette'} interaction {id}"


def files(cassette: Cassette) -> str:
    """The cassette's file, or for a merge `N cassettes (a, b, ...)`."""
    origins = _ORIGINS.get(cassette)
    if origins is None:
        return cassette.path or "the cassette"
    paths = list(dict.fromkeys(p or "(in memory)" for p, _ in origins))
    shown = ", ".join(paths[:4]) + (", ..." if len(paths) > 4 else "")
    return f"{len(paths)} cassettes ({shown})"
