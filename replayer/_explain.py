"""Why a request matched nothing: the closest recordings, ranked by how much differs, and the lines that differ.

Bounded whatever the cassette size: every recorded request keeps a small fingerprint (a
bottom-k sketch of the lines of its canonical body, see Broder, "On the resemblance and
containment of documents", 1997), a miss compares fingerprints to pick a shortlist, and only
the shortlist is diffed line by line.
"""

from __future__ import annotations

import difflib
import heapq
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vcr.request import Request as VcrRequest

SKETCH = 64
"""Line hashes kept per fingerprint."""
SHORTLIST = 4
"""Recorded requests diffed in full on a miss."""
MAX_DIFF_LINES = 60
MAX_LINE = 240
# Beyond this many differing lines on each side, difflib (quadratic at worst) is not run: the
# whole differing region is shown as replaced, cut at MAX_DIFF_LINES.
_MAX_ALIGNED = 2000
# Keys that are the conversation itself: a difference there is a change in the application,
# not a volatile value to ignore.
CONTENT_KEYS = frozenset({"messages", "system", "tools", "tool_choice", "model"})


@dataclass(frozen=True)
class Advice:
    """How a miss message tells its reader what to change, in the terms of where they are.

    A Python test changes an argument, a `cassette serve` user a flag of the server.
    """

    ignore_keys: Callable[[Sequence[str]], str] = lambda keys: f"ignore_keys={list(keys)!r}"
    match_on: str = "match_on=[...]"
    start_over: str = "replay with repeat=True, or create a new client to start over"


PYTHON = Advice()


def parsed(body: bytes) -> Any:
    """The body as JSON, or None when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def lines_of(body: bytes) -> list[str]:
    """A canonical body as diffed: one JSON member per line, the outermost brackets apart; else its text lines.

    The compact canonical JSON is cut before each `,"`: outside a string that starts the next
    key or string element; inside one it can only be a string ending in a comma (any other
    quote in a string is escaped), and such a cut is undone. A run of `}` and `]` ending a
    piece closes objects and arrays (a value never ends in one). As fine as a pretty-print, at
    about the speed of `str.split`.
    """
    text = body.decode("utf-8", errors="replace")
    if not text.startswith(("{", "[")):
        return text.splitlines()
    first, *rest = text.split(',"')
    pieces = [first]
    for part in rest:
        # After a string that ends in a comma comes its closing quote, then : , } ] (or another cut).
        if part[:1] in ("", ":", ",", "}", "]") and _open_string(pieces[-1]):
            pieces[-1] += ',"' + part
        else:
            pieces.append('"' + part)
    opening = first[: len(first) - len(first.lstrip("{["))]
    pieces[0] = pieces[0][len(opening):]
    lines = [opening] if opening else []
    for piece in pieces:
        member = piece.rstrip("}]")
        lines.append(member)
        if len(member) < len(piece):
            lines.append(piece[len(member):])
    return lines


def _open_string(piece: str) -> bool:
    """Whether `piece` ends inside a JSON string (an odd number of unescaped quotes)."""
    plain = piece.replace("\\\\", "")
    return (plain.count('"') - plain.count('\\"')) % 2 == 1


def sketch(lines: Sequence[str]) -> frozenset[int]:
    """The SKETCH smallest line hashes: two bodies sharing many lines share many of them."""
    return frozenset(heapq.nsmallest(SKETCH, map(hash, set(lines))))


def resemblance(a: frozenset[int], b: frozenset[int]) -> float:
    """How alike the bodies behind sketches `a` and `b` look: the share of sketch hashes in common (0 to 1)."""
    return len(a & b) / max(len(a), len(b), 1)


@dataclass(frozen=True)
class Fingerprint:
    """What a miss compares first: method, path and a sketch of the body's lines."""

    method: str
    path: str
    sketch: frozenset[int]

    @classmethod
    def of(cls, request: VcrRequest) -> Fingerprint:
        return cls(request.method, request.path, sketch(lines_of(request.body)))

    def score(self, other: Fingerprint) -> tuple[int, float]:
        return (self.method == other.method) + (self.path == other.path), resemblance(self.sketch, other.sketch)


def shortlist(incoming: Fingerprint, recorded: Sequence[Fingerprint | None], n: int = SHORTLIST) -> list[int]:
    """Positions of the `n` recorded requests most like `incoming`, best first."""
    scored = ((fp.score(incoming), -position) for position, fp in enumerate(recorded) if fp is not None)
    return [-position for _, position in heapq.nlargest(n, scored)]


@dataclass(frozen=True)
class BodyDiff:
    """How two bodies' lines differ: differing line count and the hunks (with one line of context)."""

    changed: int
    hunks: tuple[tuple[tuple[str, str], ...], ...]

    def render(self) -> str:
        """Every hunk, `-` recorded and `+` this request, up to MAX_DIFF_LINES lines."""
        out: list[str] = []
        shown = 0
        for hunk in self.hunks:
            out.append("  @@")
            out.extend(f"  {sign}{_cut(line)}" for sign, line in hunk)
            shown += sum(1 for sign, _ in hunk if sign != " ")
        if shown < self.changed:
            out.append(f"  … and {self.changed - shown} more differing lines")
        return "\n".join(out)


def _cut(line: str) -> str:
    return line if len(line) <= MAX_LINE else f"{line[:MAX_LINE]}… ({len(line) - MAX_LINE} more characters)"


def diff_lines(recorded: Sequence[str], incoming: Sequence[str]) -> BodyDiff:
    """The differing lines of two bodies, bounded: the common head and tail are skipped first."""
    head = 0
    while head < min(len(recorded), len(incoming)) and recorded[head] == incoming[head]:
        head += 1
    tail = 0
    while (tail < min(len(recorded), len(incoming)) - head
           and recorded[len(recorded) - 1 - tail] == incoming[len(incoming) - 1 - tail]):
        tail += 1
    a, b = recorded[head : len(recorded) - tail], incoming[head : len(incoming) - tail]
    if not a and not b:
        return BodyDiff(0, ())
    if len(a) <= _MAX_ALIGNED and len(b) <= _MAX_ALIGNED:
        groups = difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(1)
        opcodes = [[(tag, i1 + head, i2 + head, j1 + head, j2 + head) for tag, i1, i2, j1, j2 in g] for g in groups]
    else:
        opcodes = [[("replace", head, head + len(a), head, head + len(b))]]
    hunks = []
    changed = kept = 0
    for group in opcodes:
        lines: list[tuple[str, str]] = []

        def keep(sign: str, source: Sequence[str], start: int, stop: int) -> None:
            # Past what render() shows, only the count matters: a 5 MB body may differ in every line.
            nonlocal kept
            room = max(0, MAX_DIFF_LINES - kept)
            lines.extend((sign, line) for line in source[start : min(stop, start + room)])
            kept += min(stop - start, room)

        if group[0][0] != "equal" and group[0][1] > 0:
            keep(" ", recorded, group[0][1] - 1, group[0][1])
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                keep(" ", recorded, i1, i2)
                continue
            keep("-", recorded, i1, i2)
            keep("+", incoming, j1, j2)
            changed += (i2 - i1) + (j2 - j1)
        last = group[-1]
        if last[0] != "equal" and last[2] < len(recorded):
            keep(" ", recorded, last[2], last[2] + 1)
        if lines:
            hunks.append(tuple(lines))
    return BodyDiff(changed, tuple(hunks))


def differing_keys(recorded: Any, incoming: Any, depth: int = 2) -> list[str]:
    """Dotted paths of the object keys whose values differ, at most `depth` levels down."""
    if not isinstance(recorded, dict) or not isinstance(incoming, dict):
        return []
    out = []
    for key in sorted(recorded.keys() | incoming.keys()):
        a, b = recorded.get(key, _MISSING), incoming.get(key, _MISSING)
        if a == b:
            continue
        inner = differing_keys(a, b, depth - 1) if depth > 1 and key not in CONTENT_KEYS else []
        if inner:
            out.extend(f"{key}.{path}" for path in inner)
        else:
            out.append(key)
    return out


_MISSING = object()


def advice_for(keys: Sequence[str], advice: Advice) -> str:
    """What to do about a body difference in `keys`: re-record for the conversation, ignore for the rest."""
    content = [k for k in keys if k.split(".")[0] in CONTENT_KEYS]
    volatile = [k for k in keys if k.split(".")[0] not in CONTENT_KEYS]
    parts = []
    if content:
        parts.append(f"The conversation differs ({', '.join(content)}): if the application changed, "
                     "re-record the cassette.")
    if volatile:
        parts.append(f"If {', '.join(volatile)} may change from run to run, ignore "
                     f"{'it' if len(volatile) == 1 else 'them'}: {advice.ignore_keys(volatile)}.")
    return " ".join(parts) or "Re-record the cassette if the application changed."
