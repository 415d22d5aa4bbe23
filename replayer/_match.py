"""Which recorded interaction answers a request: vcrpy's request model and matchers, plus
a canonical JSON body that ignores volatile keys.

Matchers, by name (`match_on`):

- `method`, `path`, `query`, `host`, `scheme`, `port`, `uri`, `headers`: vcrpy's;
- `body` (default): the canonical JSON body, in which a string inside `messages` that holds
  JSON (a tool_result written with `json.dumps` in Python or `JSON.stringify` in Node) is
  compared by its JSON value, not its spacing;
- `exact_body`: the canonical JSON body with such strings compared as written.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import httpx2
from vcr import matchers as vcr_matchers
from vcr.request import Request as VcrRequest

from recorder import Cassette, Interaction, Redactor, Request

from . import _explain, _sources
from ._errors import InvalidRequestError, NoMatchError

Matcher = Callable[[VcrRequest, VcrRequest], Any]
"""A vcrpy-style matcher: raises AssertionError (or returns False) when two requests differ."""

DEFAULT_MATCH_ON: tuple[str, ...] = ("method", "path", "body")
MATCHERS: dict[str, Matcher] = {
    **{name: getattr(vcr_matchers, name)
       for name in ("method", "path", "query", "host", "scheme", "port", "uri", "body", "headers")},
    "exact_body": vcr_matchers.body,
}
# What each named matcher compares, as a hashable key: requests match when the keys are equal,
# so a request finds its recordings in a dict instead of comparing (and diffing) every one.
_KEYS: dict[str, Callable[[VcrRequest], Hashable]] = {
    "method": lambda r: r.method, "path": lambda r: r.path, "query": lambda r: tuple(r.query),
    "host": lambda r: r.host, "scheme": lambda r: r.scheme, "port": lambda r: r.port, "uri": lambda r: r.uri,
    "body": lambda r: r.body, "exact_body": lambda r: r.body,
    "headers": lambda r: tuple(sorted(r.headers.items())),
}
_BODY_MATCHERS = ("body", "exact_body")
_JSON = {"content-type": "application/json"}
JSON_STRING = "<JSON string>"
"""The key a JSON-valued string is wrapped in by the canonical body, so it never equals a real object."""


def canonical_body(text: str, ignore_keys: Iterable[str] = (), *, json_strings: bool = True) -> bytes:
    """The body as compared: JSON with `ignore_keys` (dotted paths) removed, else the text itself.

    With `json_strings`, a string in message content (a message's `content`, a block's `text`
    or `content`, the text blocks of a tool_result) that holds a JSON object or array is
    replaced by its value (wrapped under JSON_STRING), so spacing and key order do not count.
    """
    return _canonical(text, ignore_keys, json_strings)[0]


def _canonical(text: str, ignore_keys: Iterable[str], json_strings: bool) -> tuple[bytes, Any]:
    """The canonical body and the JSON value it encodes (None when not JSON)."""
    try:
        body = json.loads(text)
        for key in ignore_keys:
            _drop(body, key.split("."))
        if json_strings and isinstance(body, dict) and isinstance(body.get("messages"), list):
            for message in body["messages"]:
                if isinstance(message, dict):
                    _json_strings_in(message, "content")
        return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode(), body
    except (ValueError, RecursionError):  # not JSON, or nested too deep to be a real request
        return text.encode(), None


def _json_strings_in(node: dict[str, Any], key: str) -> None:
    """Replace node[key], or the text/content strings of the blocks it lists, by their JSON value."""
    value = node.get(key)
    if isinstance(value, str):
        if value.lstrip()[:1] in ("{", "["):
            try:
                node[key] = {JSON_STRING: json.loads(value)}
            except ValueError:
                pass
    elif isinstance(value, list):
        for block in value:
            if isinstance(block, dict):
                _json_strings_in(block, "text")
                _json_strings_in(block, "content")


def _drop(node: Any, path: list[str]) -> None:
    if not isinstance(node, dict) or path[0] not in node:
        return
    if len(path) == 1:
        del node[path[0]]
    else:
        _drop(node[path[0]], path[1:])


class _Catalog:
    """What a cassette's recorded requests look like to the matchers; shared by every fork of a Playback."""

    def __init__(self, cassette: Cassette, matchers: list[Matcher], names: list[str | None],
                 recorded: list[VcrRequest | None]) -> None:
        self.cassette = cassette
        self.matchers = matchers
        self.names = names
        self.recorded = recorded
        # Imported captures (no recorded request) answer anything.
        self.wildcards = [p for p, r in enumerate(recorded) if r is None]
        self.index: dict[tuple[Hashable, ...], list[int]] | None = None
        if all(name is not None for name in names):
            self.index = {}
            for position, request in enumerate(recorded):
                if request is not None:
                    self.index.setdefault(self.key(request), []).append(position)
        self._fingerprints: list[_explain.Fingerprint | None] | None = None
        self._lock = threading.Lock()

    def key(self, request: VcrRequest) -> tuple[Hashable, ...]:
        return tuple(_KEYS[name](request) for name in self.names)  # type: ignore[index]

    def matching(self, incoming: VcrRequest) -> list[int]:
        """Positions of the recorded requests `incoming` matches, in recorded order."""
        if self.index is not None:
            found = self.index.get(self.key(incoming), [])
            return sorted(found + self.wildcards) if self.wildcards else found
        return [p for p, r in enumerate(self.recorded)
                if r is None or vcr_matchers.requests_match(incoming, r, self.matchers)]

    @property
    def fingerprints(self) -> list[_explain.Fingerprint | None]:
        """Computed once, on the first miss (or by `Playback.prepare()`)."""
        with self._lock:
            if self._fingerprints is None:
                self._fingerprints = [None if r is None else _explain.Fingerprint.of(r) for r in self.recorded]
            return self._fingerprints

    def failures(self, incoming: VcrRequest, recorded: VcrRequest) -> list[tuple[str, str]]:
        """(matcher, how it differs) for each matcher other than the body's that fails."""
        out = []
        for matcher, name in zip(self.matchers, self.names):
            if name in _BODY_MATCHERS:
                continue
            if name is not None:
                a, b = _KEYS[name](recorded), _KEYS[name](incoming)
                if a != b:
                    out.append((name, f"recorded {a!r}, this request {b!r}"))
                continue
            _, failed = vcr_matchers.get_matchers_results(incoming, recorded, [matcher])
            out.extend((getattr(matcher, "__name__", repr(matcher)), str(message)) for _, message in failed)
        return out


class Playback:
    """Hands out a cassette's interactions: the first unplayed one that matches, in recorded order.

    With `repeat`, once every match of a request has been played the last of them keeps
    answering (vcrpy's `allow_playback_repeats`); without, each recorded interaction answers once.
    `advice` phrases what a miss tells its reader to change (a Python argument by default).
    """

    def __init__(self, cassette: Cassette, *, match_on: Sequence[str | Matcher] = DEFAULT_MATCH_ON,
                 ignore_keys: Iterable[str] = (), redactor: Redactor | None = None, repeat: bool = False,
                 advice: _explain.Advice = _explain.PYTHON) -> None:
        self.cassette = cassette
        self.repeat = repeat
        self.advice = advice
        matchers = [_matcher(m) for m in match_on]
        names = [m if isinstance(m, str) else None for m in match_on]
        self.matchers = matchers
        self.ignore_keys = tuple(ignore_keys)
        self.json_strings = "exact_body" not in names
        self.redactor = redactor or Redactor.default()
        self._lock = threading.Lock()
        self._played: set[int] = set()
        recorded = [None if i.request is None else self._recorded_request(i.request) for i in cassette.interactions]
        self._catalog = _Catalog(cassette, matchers, names, recorded)

    def fork(self) -> Playback:
        """The same cassette and matching, from the beginning; the matching work done so far is shared."""
        twin = copy.copy(self)
        twin._lock = threading.Lock()
        twin._played = set()
        return twin

    def prepare(self) -> None:
        """Compute now what explaining a first miss would (fingerprints of every recorded request)."""
        self._catalog.fingerprints  # noqa: B018 - computed on access

    def reset(self) -> None:
        """Start again from the beginning of the cassette."""
        with self._lock:
            self._played.clear()

    def next_for(self, request: httpx2.Request, *, consume: bool = True) -> Interaction:
        """Take the interaction that answers `request`, or raise NoMatchError explaining the miss.

        With `consume=False` the interaction stays available for the next matching request.
        """
        catalog = self._catalog
        anything = len(catalog.wildcards) == len(catalog.recorded)  # nothing to read in the request
        incoming, value = (None, None) if anything else self._incoming(request)
        matching = catalog.wildcards if incoming is None else catalog.matching(incoming)
        interactions = self.cassette.interactions
        with self._lock:
            for position in matching:
                if position not in self._played:
                    if consume:
                        self._played.add(position)
                    return interactions[position]
            if self.repeat and matching:
                return interactions[matching[-1]]
            played = frozenset(self._played)
        if incoming is None:
            incoming, value = self._incoming(request)
        if matching:
            first = interactions[matching[0]]
            raise NoMatchError(
                f"{self._head(incoming)} It matches {_sources.label(self.cassette, first)}, but that was already "
                f"replayed; each recorded interaction answers once, in order. To start over, "
                f"{self.advice.start_over}.", closest=first)
        if (invalid := _not_a_json_object(request)) is not None:
            raise InvalidRequestError(invalid)
        message, closest = self._explain(incoming, value, played)
        raise NoMatchError(message, closest=closest)

    def _recorded_request(self, request: Request) -> VcrRequest:
        body = canonical_body(self.redactor.text(request.body.text), self.ignore_keys, json_strings=self.json_strings)
        return VcrRequest(request.method, request.url, body, {**request.headers, **_JSON})

    def _incoming(self, request: httpx2.Request) -> tuple[VcrRequest, Any]:
        """The request as the matchers see it, and its body's JSON value (None when not JSON)."""
        body, value = _canonical(self.redactor.text(request.content.decode("utf-8", errors="replace")),
                                 self.ignore_keys, self.json_strings)
        headers = self.redactor.headers_of(request.headers.multi_items())
        return VcrRequest(request.method, str(request.url), body, {**headers, **_JSON}), value

    def _head(self, incoming: VcrRequest) -> str:
        names = ", ".join(getattr(m, "__name__", repr(m)) if n is None else n
                          for m, n in zip(self.matchers, self._catalog.names))
        return (f"No recorded request in {_sources.files(self.cassette)} matches {incoming.method} {incoming.path} "
                f"(matching on {names}).")

    def _explain(self, incoming: VcrRequest, value: Any, played: frozenset[int]) -> tuple[str, Interaction | None]:
        """The miss message and the closest interaction: a shortlist by fingerprint, ranked by a full diff."""
        head = self._head(incoming)
        catalog = self._catalog
        lines = _explain.lines_of(incoming.body)
        fingerprint = _explain.Fingerprint(incoming.method, incoming.path, _explain.sketch(lines))
        positions = _explain.shortlist(fingerprint, catalog.fingerprints)
        if not positions:
            return f"{head} The cassette has no recorded requests to compare it with.", None
        compare_body = any(name in _BODY_MATCHERS for name in catalog.names)
        ranked = []
        for position in positions:
            recorded = catalog.recorded[position]
            assert recorded is not None
            failures = catalog.failures(incoming, recorded)
            body = _explain.diff_lines(_explain.lines_of(recorded.body), lines) if compare_body \
                else _explain.BodyDiff(0, ())
            ranked.append(((len(failures), body.changed, position in played, position), position, failures, body))
        ranked.sort(key=lambda r: r[0])
        _, position, failures, body = ranked[0]
        closest = self.cassette.interactions[position]
        assert closest.request is not None
        what = [f"- {name}: {message}" for name, message in failures]
        if body.changed:
            lines_differ = f"{body.changed} differing line{'s' if body.changed > 1 else ''}"
            what.append(f"- body ({lines_differ}; - recorded, + this request):\n{body.render()}")
        others = [f"{_sources.label(self.cassette, self.cassette.interactions[p])} ({c[1]} lines differ)"
                  for c, p, _, _ in ranked[1:3]]
        advice = []
        if body.changed:
            keys = _explain.differing_keys(_explain.parsed(catalog.recorded[position].body), value)  # type: ignore[union-attr]
            advice.append(_explain.advice_for(keys, self.advice))
        if failures:
            advice.append(f"To match on less, {self.advice.match_on}.")
        message = (f"{head}\nClosest: {_sources.label(self.cassette, closest)} ({closest.request.method} "
                   f"{closest.request.path}){' (already replayed)' if position in played else ''}, which differs in:\n"
                   + "\n".join(what)
                   + (f"\nNext closest: {'; '.join(others)}." if others else "")
                   + (f"\n{' '.join(advice)}" if advice else ""))
        return message, closest


def _not_a_json_object(request: httpx2.Request) -> str | None:
    """What the API says of a body it cannot read as a JSON object (None: it can, or it is empty or multipart)."""
    content = request.content
    if not content.strip() or request.headers.get("content-type", "").startswith("multipart/"):
        return None
    try:
        value = json.loads(content)
    except ValueError as exc:  # also bytes that are not UTF-8
        return f"The request body is not valid JSON: {exc}"
    except RecursionError:
        return "The request body is not valid JSON: nested too deeply"
    if not isinstance(value, dict):
        kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
        return f"The request body is not a JSON object: it is {kinds.get(type(value), 'a number')}"
    return None


def _matcher(m: str | Matcher) -> Matcher:
    if callable(m):
        return m
    try:
        return MATCHERS[m]
    except KeyError:
        raise ValueError(f"unknown matcher {m!r}; use one of {', '.join(MATCHERS)} or a function") from None
