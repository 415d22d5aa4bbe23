"""Keep secrets off disk: header rules plus patterns applied to every serialised line."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

REDACTED = "REDACTED"

SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie", "set-cookie"})
# Anthropic keys look like sk-ant-api03-…, sk-ant-admin01-…, sk-ant-oat01-…; the whole token goes.
API_KEY = re.compile(r"sk-ant-[A-Za-z0-9_\-]*")
# A header is secret when a word of its name (lower-cased, `_` read as `-`, split at `-`) ends in one
# of these: `x-api-key`, `apikey`, `x_auth_token`, `client_secret`, `xauth`, `set-cookie`. Whole
# words only, so `anthropic-ratelimit-tokens-limit` (tokens) and `www-authenticate` stay; `session`
# is not one (`x-cassette-session` chooses a playback, and a session cookie is a `cookie`).
_SECRET_WORD_ENDS = ("key", "token", "secret", "password", "passwd", "auth", "authorization", "cookie",
                     "credential", "credentials")
# Runs of text holding JSON `\uXXXX` escapes (also escaped again, `\\uXXXX`, as in a tool's partial
# JSON) or URL `%XX` escapes: a key can hide in either (`sk\u002dant\u002d…` is valid JSON for the
# same string), so such runs are also checked decoded.
# Possessive runs that start an escape at its first backslash: linear time on any input.
_ESCAPE = re.compile(r"(?<!\\)\\++u([0-9A-Fa-f]{4})")
_JSON_RUN = re.compile(r'(?:[^"\\\s]|(?<!\\)\\++u[0-9A-Fa-f]{4})++')
_PERCENT_RUN = re.compile(r"[A-Za-z0-9_.~+\-%]++")
# Base64 of `sk-ant-` has, for each of the three places it can start in a 3-byte group, characters
# that depend on it alone (the same in base64url): a run of base64 holding one of them decodes to a key.
BASE64_KEY_MARKERS = ("c2stYW50L", "NrLWFudC", "zay1hbnQt")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_\-]++=*+")
# How much of a delta stream is kept to find a secret that starts before the current delta
# (secrets longer than this that are split across deltas are cut at this length).
_TAIL = 256
_OPEN_MATCH = 4096
_DEFAULT_PATTERNS = (API_KEY,)
# What the end of a delta can be that the next delta completes into a key (built-in rules): the
# start of one, of a JSON escape, or of a base64 marker.
KEY_STARTS = ("s", "sk", "sk-", "sk-a", "sk-an", "sk-ant", "\\",
              *(marker[:size] for marker in BASE64_KEY_MARKERS for size in range(1, len(marker))))
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_PARTIAL_ESCAPE = re.compile(r"(?:%[0-9A-Fa-f]?|\\+(?:u[0-9A-Fa-f]{0,3})?)?\Z")  # empty at the end if none


@dataclass(frozen=True)
class Redactor:
    """Decide what never reaches disk.

    Headers named in `headers`, or with a word of their name ending in `key`, `token`, `secret`,
    `password`, `passwd`, `auth`, `authorization`, `cookie` or `credential(s)` (see `is_secret_header`),
    get their value replaced; every match of a pattern in `patterns` is replaced anywhere in a serialised
    line, also where the text is JSON-escaped (`\\u002d`) or percent-encoded (`%2D`); a base64 run that
    encodes an API key (it holds one of BASE64_KEY_MARKERS) is replaced whole.
    Extend, don't replace, the defaults: `Redactor.default().extend(headers=["x-my-auth"])`.
    """

    headers: frozenset[str] = SECRET_HEADERS
    patterns: tuple[re.Pattern[str], ...] = _DEFAULT_PATTERNS
    replacement: str = REDACTED

    @classmethod
    def default(cls) -> Redactor:
        """The built-in rules."""
        return cls()

    def extend(self, *, headers: Iterable[str] = (), patterns: Iterable[str | re.Pattern[str]] = ()) -> Redactor:
        """A redactor with these rules added to this one's."""
        return Redactor(
            headers=self.headers | {_spelled(name) for name in headers},
            patterns=self.patterns + tuple(re.compile(p) if isinstance(p, str) else p for p in patterns),
            replacement=self.replacement,
        )

    def is_secret_header(self, name: str) -> bool:
        """Whether a header's value must not be stored: its name, lower-cased with `_` read as `-`, is
        one of `headers` or has a word (between dashes) ending in a secret word (`apikey`, `x_auth_token`)."""
        name = _spelled(name)
        return name in self.headers or _secret_name(name)

    def headers_of(self, headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> dict[str, str]:
        """Lower-cased headers with secret values replaced; repeated headers are joined with ', '."""
        items = headers.items() if isinstance(headers, Mapping) else headers
        result: dict[str, str] = {}
        for name, value in items:
            name = name.lower()
            value = self.replacement if self.is_secret_header(name) else value
            result[name] = f"{result[name]}, {value}" if name in result else value
        return result

    def text(self, text: str) -> str:
        """`text` (typically one JSON line) with every pattern match replaced, escaped forms included."""
        text = self._plain(text)
        if "\\u" in text:
            text = _JSON_RUN.sub(self._json_escaped, text)
        if "%" in text:
            text = _PERCENT_RUN.sub(self._percent_escaped, text)
        if holds_base64_key(text):
            text = _BASE64_RUN.sub(self._base64, text)
        return text

    @property
    def builtin(self) -> bool:
        """Whether these are the built-in patterns, which the recording hot path checks without the regex engine."""
        return self.patterns is _DEFAULT_PATTERNS

    def is_clean(self, text: str) -> bool:
        """Whether `text` certainly needs no redaction (a quick test, for the recording hot path)."""
        if not self.builtin:
            return self.text(text) == text
        return holds_no_key(text)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where patterns match in `text`, also through `\\uXXXX` and `%XX` escapes (nested up to three deep),
        and the base64 runs that encode a key: sorted, merged, non-empty ranges."""
        found = self._matches(text)
        views: list[tuple[str, list[int] | None]] = [(text, None)]  # decoded text, where its characters came from
        for _ in range(3):
            deeper = []
            for view, origin in views:
                for escape, sign in ((_ESCAPE, "\\u"), (_PERCENT, "%")):
                    if sign in view:
                        decoded, starts = _decoded(view, escape)
                        if origin is not None:
                            starts = [origin[i] for i in starts]
                        found += [(starts[start], starts[end]) for start, end in self._matches(decoded)]
                        deeper.append((decoded, starts))
            views = deeper
        if holds_base64_key(text):
            found += [m.span() for m in _BASE64_RUN.finditer(text) if holds_base64_key(m.group())]
        merged: list[tuple[int, int]] = []
        for start, end in sorted(found):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def _matches(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for p in self.patterns if p is not API_KEY or "sk-ant-" in text
                for m in p.finditer(text) if m.end() > m.start()]

    def _plain(self, text: str) -> str:
        for pattern in self.patterns:
            if pattern is API_KEY and "sk-ant-" not in text:
                continue  # the common case, answered without the regex engine
            text = pattern.sub(self.replacement, text)
        return text

    def _json_escaped(self, match: re.Match[str]) -> str:
        run = match.group()
        if "\\u" not in run:
            return run
        decoded = _decoded(run, _ESCAPE)[0]
        redacted = self._plain(decoded)
        if "%" in redacted:  # a percent-encoded key behind JSON escapes (`sk%2Dant\u002d...`)
            redacted = _PERCENT_RUN.sub(self._percent_escaped, redacted)
        # Re-escaped (ASCII only) so the JSON line stays valid whatever the escapes decoded to.
        return run if redacted == decoded else json.dumps(redacted)[1:-1]

    def _base64(self, match: re.Match[str]) -> str:
        """A base64 run that encodes a key, replaced whole (its other bytes are not worth a re-encoding)."""
        return self.replacement if holds_base64_key(match.group()) else match.group()

    def _percent_escaped(self, match: re.Match[str]) -> str:
        run = decoded = match.group()
        if "%" not in run:
            return run
        for _ in range(3):  # double (or triple) encoding hides nothing either
            decoded, previous = unquote(decoded), decoded
            if decoded == previous:
                break
        redacted = self._plain(decoded)
        if "\\u" in redacted:  # JSON escapes behind percent-encoding (`sk%5Cu002dant...`)
            redacted = _JSON_RUN.sub(self._json_escaped, redacted)
        return run if redacted == decoded else quote(redacted, safe="-_.~")


def holds_no_key(text: str) -> bool:
    """Whether `text` certainly holds no key of the built-in rule in any form (plain, escaped, base64),
    told without the regex engine: the recording hot path's test."""
    return "sk-ant-" not in text and not _escaped(text) and not holds_base64_key(text)


def holds_base64_key(text: str) -> bool:
    """Whether `text` may hold a base64-encoded key (one of the three alignments of its prefix)."""
    return "c2stYW50L" in text or "NrLWFudC" in text or "zay1hbnQt" in text  # BASE64_KEY_MARKERS, inlined


def _spelled(name: str) -> str:
    return name.lower().replace("_", "-")


@functools.lru_cache(maxsize=1024)
def _secret_name(name: str) -> bool:
    return any(word.endswith(_SECRET_WORD_ENDS) for word in name.split("-"))


def _decoded(text: str, escape: re.Pattern[str]) -> tuple[str, list[int]]:
    """`text` with every match of `escape` replaced by the character its hex group numbers, and where each
    character (and the end) came from."""
    out: list[str] = []
    starts: list[int] = []
    position = 0
    for match in escape.finditer(text):
        out.append(text[position:match.start()])
        starts.extend(range(position, match.start()))
        out.append(chr(int(match.group(1), 16)))
        starts.append(match.start())
        position = match.end()
    out.append(text[position:])
    starts.extend(range(position, len(text) + 1))
    return "".join(out), starts


def _escaped(text: str) -> bool:
    """Whether `text` may hold a JSON `\\u` or URL `%` escape (which can spell a key across deltas)."""
    return "\\u" in text or "%" in text


class DeltaJoiner:
    """Redacts secrets split across the deltas of one content block (`text_delta`, `input_json_delta`...).

    Each delta is stored as it arrives; a pattern match in the concatenation of a block's deltas
    has every character that falls in the current delta replaced, so joining the stored deltas
    never rebuilds the secret. Characters of a match that were stored earlier are those that did
    not yet match on their own (for API keys at most `sk-ant`, none of the key's secret part).
    """

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.tails: dict[tuple[object, ...], str] = {}
        self._quick = redactor.builtin

    def piece(self, stream: tuple[object, ...], text: str) -> str:
        """What to store of `text`, the next delta of `stream` (e.g. interaction id, block index, field)."""
        tail = self.tails.get(stream)
        if tail is None and self.needs_no_tail(text):
            return text
        joined = (tail or "") + text
        spans = self.redactor.spans(joined)
        keep = max(0, len(joined) - _TAIL)
        # A match may go on in the next delta when it reaches the end, or an escape cut short there.
        if spans and spans[-1][1] >= _PARTIAL_ESCAPE.search(joined).start():  # type: ignore[union-attr]
            keep = min(keep, max(spans[-1][0], len(joined) - _OPEN_MATCH))
        elif self._quick and not joined.endswith(KEY_STARTS) and not _escaped(joined[-_TAIL:]):
            keep = len(joined)  # nothing at the end can begin a key
        if keep < len(joined):
            self.tails[stream] = joined[keep:]  # as it arrived: what the next delta may complete
        else:
            self.tails.pop(stream, None)
        own = self.redactor.text(text)
        if own != text:
            # The delta's own keys (in any form) go first: a match running on from the tail could take
            # the `sk` of an escaped key (`sk%2Dant%2D...`), which the line's redaction then misses.
            text = own
            joined = (tail or "") + text
            spans = self.redactor.spans(joined)
        offset = len(joined) - len(text)
        if not spans or spans[-1][1] <= offset:
            return text
        out, position = [], offset
        for start, end in spans:
            if end > offset:
                start = max(start, offset)
                out += [joined[position:start], self.redactor.replacement]
                position = end
        out.append(joined[position:])
        return "".join(out)

    def needs_no_tail(self, text: str) -> bool:
        """Whether `text`, after no pending tail, can neither hold a secret nor begin one the next delta ends.

        Answered without the regex engine for the built-in rules: the common case on the hot path.
        """
        return self._quick and holds_no_key(text) and not text.endswith(KEY_STARTS)

    def forget(self, *prefix: object) -> None:
        """The streams starting with `prefix` are over (a content block stopped, an interaction ended)."""
        size = len(prefix)
        for stream in list(self.tails):  # a snapshot: other threads may record meanwhile
            if stream[:size] == prefix:
                self.tails.pop(stream, None)
