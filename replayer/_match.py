"""Which recorded interaction answers a request: vcrpy's request model and matchers, plus
a canonical JSON body that ignores volatile keys."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpx2
from vcr import matchers as vcr_matchers
from vcr.request import Request as VcrRequest

from recorder import Cassette, Interaction, Redactor, Request

from ._errors import NoMatchError

Matcher = Callable[[VcrRequest, VcrRequest], Any]
"""A vcrpy-style matcher: raises AssertionError (or returns False) when two requests differ."""

DEFAULT_MATCH_ON: tuple[str, ...] = ("method", "path", "body")
MATCHERS: dict[str, Matcher] = {
    name: getattr(vcr_matchers, name)
    for name in ("method", "path", "query", "host", "scheme", "port", "uri", "body", "headers")
}
_JSON = {"content-type": "application/json"}


def canonical_body(text: str, ignore_keys: Iterable[str] = ()) -> bytes:
    """The body as compared: JSON with `ignore_keys` (dotted paths) removed, else the text itself."""
    try:
        body = json.loads(text)
    except ValueError:
        return text.encode()
    for key in ignore_keys:
        _drop(body, key.split("."))
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _drop(node: Any, path: list[str]) -> None:
    if not isinstance(node, dict) or path[0] not in node:
        return
    if len(path) == 1:
        del node[path[0]]
    else:
        _drop(node[path[0]], path[1:])


class Playback:
    """Hands out a cassette's interactions: the first unplayed one that matches, in recorded order.

    With `repeat`, once every match of a request has been played the last of them keeps
    answering (vcrpy's `allow_playback_repeats`); without, each recorded interaction answers once.
    """

    def __init__(self, cassette: Cassette, *, match_on: Sequence[str | Matcher] = DEFAULT_MATCH_ON,
                 ignore_keys: Iterable[str] = (), redactor: Redactor | None = None, repeat: bool = False) -> None:
        self.cassette = cassette
        self.repeat = repeat
        self.matchers = [_matcher(m) for m in match_on]
        self.ignore_keys = tuple(ignore_keys)
        self.redactor = redactor or Redactor.default()
        self._lock = threading.Lock()
        self._played: set[int] = set()
        self._recorded = [(i, None if i.request is None else self._recorded_request(i.request))
                          for i in cassette.interactions]

    def reset(self) -> None:
        """Start again from the beginning of the cassette."""
        with self._lock:
            self._played.clear()

    def next_for(self, request: httpx2.Request, *, consume: bool = True) -> Interaction:
        """Take the interaction that answers `request`, or raise NoMatchError explaining the miss.

        With `consume=False` the interaction stays available for the next matching request.
        """
        incoming = self._incoming(request)
        with self._lock:
            last_played: Interaction | None = None
            for position, (interaction, recorded) in enumerate(self._recorded):
                if recorded is not None and not vcr_matchers.requests_match(incoming, recorded, self.matchers):
                    continue
                if position not in self._played:
                    if consume:
                        self._played.add(position)
                    return interaction
                last_played = interaction
            if self.repeat and last_played is not None:
                return last_played
            raise NoMatchError(self._explain(incoming))

    def _recorded_request(self, request: Request) -> VcrRequest:
        body = canonical_body(self.redactor.text(request.body.text), self.ignore_keys)
        return VcrRequest(request.method, request.url, body, {**request.headers, **_JSON})

    def _incoming(self, request: httpx2.Request) -> VcrRequest:
        body = canonical_body(self.redactor.text(request.content.decode("utf-8", errors="replace")), self.ignore_keys)
        headers = self.redactor.headers_of(request.headers.multi_items())
        return VcrRequest(request.method, str(request.url), body, {**headers, **_JSON})

    def _explain(self, incoming: VcrRequest) -> str:
        names = ", ".join(getattr(m, "__name__", repr(m)) for m in self.matchers)
        where = self.cassette.path or "the cassette"
        head = f"No recorded request in {where} matches {incoming.method} {incoming.path} (matching on {names})."
        candidates = []
        for position, (interaction, recorded) in enumerate(self._recorded):
            if recorded is None:
                continue
            _, failures = vcr_matchers.get_matchers_results(incoming, recorded, self.matchers)
            candidates.append((len(failures), position in self._played, position, interaction, failures))
        if not candidates:
            return f"{head} The cassette has no unplayed interactions left ({len(self._played)} already replayed)."
        count, played, _, closest, failures = min(candidates, key=lambda c: c[:3])
        assert closest.request is not None
        label = f"interaction {closest.id} ({closest.request.method} {closest.request.url})"
        if count == 0:
            return (f"{head} It matches {label}, but that was already replayed; each recorded interaction "
                    "answers once, in order. Record the repeated call too, replay with repeat=True, or create a new "
                    "client to start over.")
        details = "\n".join(f"- {name}: {message}" for name, message in failures)
        return (f"{head}\nClosest: {label}{' (already replayed)' if played else ''}, which differs in:\n{details}\n"
                "Re-record the cassette, or ignore volatile body keys with ignore_keys=[...].")


def _matcher(m: str | Matcher) -> Matcher:
    if callable(m):
        return m
    try:
        return MATCHERS[m]
    except KeyError:
        raise ValueError(f"unknown matcher {m!r}; use one of {', '.join(MATCHERS)} or a function") from None
