"""The interactions a session can answer: the cassette's, then each one recorded during the session."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import httpx2

from recorder import Cassette, Interaction

from .._errors import NoMatchError
from .._match import Matcher, Playback


class Pool:
    """The cassette's Playback, then one Playback per interaction recorded in this session.

    Stands in for `ReplayTransport.playback`, so faults, pacing and ordering treat a fresh
    recording exactly like one loaded from the file.
    """

    def __init__(self, base: Playback, match_on: Sequence[str | Matcher], ignore_keys: Iterable[str]) -> None:
        self.base = base
        self.match_on = match_on
        self.ignore_keys = tuple(ignore_keys)
        self.fresh: list[Playback] = []

    def next_for(self, request: httpx2.Request, *, consume: bool = True) -> Interaction:
        try:
            return self.base.next_for(request, consume=consume)
        except NoMatchError as miss:
            for playback in self.fresh:
                try:
                    return playback.next_for(request, consume=consume)
                except NoMatchError:
                    continue
            raise miss from None

    def can_answer(self, request: httpx2.Request) -> bool:
        try:
            self.next_for(request, consume=False)
        except NoMatchError:
            return False
        return True

    def reset(self) -> None:
        for playback in (self.base, *self.fresh):
            playback.reset()

    def add(self, interaction: Interaction) -> None:
        cassette = Cassette((interaction,), path=self.base.cassette.path)
        self.fresh.append(Playback(cassette, match_on=self.match_on, ignore_keys=self.ignore_keys))
