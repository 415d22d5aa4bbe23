"""Chunking: how the bytes of a replayed stream are cut into the reads the client sees.

A real connection hands the SDK whatever the network delivered: several events in one read,
half a line, half of a multi-byte character, a `\\r` in one read and its `\\n` in the next.
A `Chunking` re-cuts a Script's bytes that way (and can switch the line endings, since the
SSE spec allows `\\n`, `\\r\\n` and `\\r`), so the same events reach the SDK through different
reads. Pure: Script in, Script out.

>>> Chunking("size", size=1)          # byte by byte
>>> Chunking("utf8")                  # every multi-byte character cut after its first byte
>>> Chunking("crlf", newline="\\r\\n")  # CRLF framing, every \\r\\n cut in two
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._script import Script, Step

CutMode = Literal["events", "whole", "size", "lines", "utf8", "crlf", "random"]
Newline = Literal["\n", "\r\n", "\r"]
CUT_MODES: tuple[str, ...] = ("events", "whole", "size", "lines", "utf8", "crlf", "random")
_NEWLINE_NAMES = {"\n": "lf", "\r\n": "crlf", "\r": "cr"}


@dataclass(frozen=True, slots=True, repr=False)
class Chunking:
    """A way to cut a stream's bytes into chunks, with the line ending to frame events with.

    `cut` is one of:

    - `events`: one chunk per recorded event (as recorded; the default of replay);
    - `whole`: everything in one chunk (until a pause);
    - `size`: chunks of `size` bytes (`size=1`: byte by byte);
    - `lines`: per event, each line also cut in its middle and after its line ending;
    - `utf8`: per event, each multi-byte UTF-8 character also cut after its first byte;
    - `crlf`: per event, each `\\r\\n` also cut between `\\r` and `\\n` (use `newline="\\r\\n"`);
    - `random`: cuts at `points`, fractions of the stream in [0, 1), ignoring event boundaries.

    A chunk is delivered at the recorded time of its last byte: bytes never arrive early.
    """

    cut: CutMode = "events"
    size: int = 1
    points: tuple[float, ...] = ()
    newline: Newline = "\n"

    def __post_init__(self) -> None:
        if self.cut not in CUT_MODES:
            raise ValueError(f"unknown chunking {self.cut!r}; use one of {', '.join(CUT_MODES)}")
        if self.size < 1:
            raise ValueError(f"chunk size must be >= 1 byte, got {self.size}")
        if self.newline not in _NEWLINE_NAMES:
            raise ValueError(f"newline must be '\\n', '\\r\\n' or '\\r', got {self.newline!r}")
        if any(not 0 <= p < 1 for p in self.points):
            raise ValueError(f"cut points are fractions in [0, 1), got {self.points}")

    def __repr__(self) -> str:
        options = [repr(self.cut)]
        if self.cut == "size":
            options.append(f"size={self.size}")
        if self.points:
            options.append(f"points={self.points!r}")
        if self.newline != "\n":
            options.append(f"newline={self.newline!r}")
        return f"Chunking({', '.join(options)})"

    def __str__(self) -> str:
        what = {"size": f"size={self.size}", "random": "random@" + ",".join(f"{p:.3g}" for p in self.points)}
        framing = "" if self.newline == "\n" else f" ({_NEWLINE_NAMES[self.newline]})"
        return what.get(self.cut, self.cut) + framing

    def apply(self, script: Script) -> Script:
        """The same bytes (with `newline` line endings), cut this way; pauses and the ending are kept."""
        if self.cut == "events" and self.newline == "\n":
            return script
        steps: list[Step] = []
        run: list[tuple[float, bytes]] = []
        for t, item in script.steps:
            if isinstance(item, bytes):
                run.append((t, self._framed(item)))
            else:
                steps += self._recut(run)
                steps.append((t, item))
                run = []
        steps += self._recut(run)
        return Script(tuple(steps), script.end_t, script.error)

    def _framed(self, chunk: bytes) -> bytes:
        # Every LF in an encoded event ends a line (JSON payloads are compact), so this is a re-framing.
        return chunk if self.newline == "\n" else chunk.replace(b"\n", self.newline.encode())

    def _recut(self, run: list[tuple[float, bytes]]) -> list[Step]:
        """Cut one run of byte steps (between pauses) into new steps."""
        if not run:
            return []
        data = b"".join(chunk for _, chunk in run)
        ends: list[int] = []  # offset just past each original step, to date the new chunks
        offset = 0
        for _, chunk in run:
            offset += len(chunk)
            ends.append(offset)
        cuts = sorted(set(self._cuts(data, ends)) - {0, len(data)})
        out: list[Step] = []
        start, owner = 0, 0
        for end in [*cuts, len(data)]:
            while ends[owner] < end:
                owner += 1
            if end > start:
                out.append((run[owner][0], data[start:end]))
            start = end
        return out

    def _cuts(self, data: bytes, ends: list[int]) -> list[int]:
        cut = self.cut
        if cut == "whole":
            return []
        if cut == "size":
            return list(range(self.size, len(data), self.size))
        if cut == "random":
            return [int(p * len(data)) for p in self.points]
        cuts = list(ends)
        if cut == "utf8":
            cuts += [i + 1 for i, byte in enumerate(data) if byte >= 0xC0]  # lead bytes of multi-byte characters
        elif cut == "crlf":
            cuts += [i + 1 for i in range(len(data) - 1) if data[i] == 0x0D and data[i + 1] == 0x0A]
        elif cut == "lines":
            start = 0
            for line in data.splitlines(keepends=True):
                content = len(line.rstrip(b"\r\n"))
                cuts += [start + content // 2, start + len(line)]
                start += len(line)
        return cuts

