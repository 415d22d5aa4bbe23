"""Keep secrets off disk: header rules plus patterns applied to every serialised line."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

REDACTED = "REDACTED"

SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie", "set-cookie"})
# Anthropic keys look like sk-ant-api03-…, sk-ant-admin01-…, sk-ant-oat01-…; the whole token goes.
API_KEY = re.compile(r"sk-ant-[A-Za-z0-9_\-]*")
_SECRET_HEADER_NAME = re.compile(r"(^|-)(key|token|secret|password)$")


@dataclass(frozen=True)
class Redactor:
    """Decide what never reaches disk.

    Headers named in `headers` (or named `*-key`, `*-token`, `*-secret`, `*-password`) get their value
    replaced; every match of a pattern in `patterns` is replaced anywhere in a serialised line.
    Extend, don't replace, the defaults: `Redactor.default().extend(headers=["x-my-auth"])`.
    """

    headers: frozenset[str] = SECRET_HEADERS
    patterns: tuple[re.Pattern[str], ...] = (API_KEY,)
    replacement: str = REDACTED

    @classmethod
    def default(cls) -> Redactor:
        """The built-in rules."""
        return cls()

    def extend(self, *, headers: Iterable[str] = (), patterns: Iterable[str | re.Pattern[str]] = ()) -> Redactor:
        """A redactor with these rules added to this one's."""
        return Redactor(
            headers=self.headers | {name.lower() for name in headers},
            patterns=self.patterns + tuple(re.compile(p) if isinstance(p, str) else p for p in patterns),
            replacement=self.replacement,
        )

    def is_secret_header(self, name: str) -> bool:
        """Whether a header's value must not be stored."""
        name = name.lower()
        return name in self.headers or bool(_SECRET_HEADER_NAME.search(name))

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
        """`text` with every pattern match replaced."""
        for pattern in self.patterns:
            if pattern is API_KEY and "sk-ant-" not in text:
                continue  # the common case, answered without the regex engine
            text = pattern.sub(self.replacement, text)
        return text
