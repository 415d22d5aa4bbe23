"""Where the record-through proxy forwards to: the default upstream and the check of a given one.

Apart from `_proxy` so that the CLI can show `--upstream` without the `server` extra (and
without loading httpx2 for `--help`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx2

DEFAULT_UPSTREAM = "https://api.anthropic.com"


def upstream_url(upstream: str) -> httpx2.URL:
    """Parse and check an upstream base URL (http or https, with a host)."""
    import httpx2

    url = httpx2.URL(upstream)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"the upstream must be an http(s) URL like {DEFAULT_UPSTREAM}, got {upstream!r}")
    return url
