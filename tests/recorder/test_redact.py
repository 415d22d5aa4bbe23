"""No secret reaches disk, on any write path."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recorder
from recorder import Cassette, End, ErrorInfo, Event, Interaction, Payload, Redactor, Request, Response

KEY = "sk-ant-api03-" + "A1b2C3d4" * 11 + "-xyz_AA"


def test_secret_headers_are_replaced_and_others_kept() -> None:
    headers = Redactor().headers_of([
        ("X-Api-Key", KEY), ("Authorization", "Bearer abc"), ("Cookie", "a=b"), ("Set-Cookie", "s=1"),
        ("anthropic-admin-key", "k"), ("x-auth-token", "t"), ("anthropic-ratelimit-tokens-limit", "1000"),
        ("content-type", "text/event-stream"),
    ])
    assert headers == {
        "x-api-key": "REDACTED", "authorization": "REDACTED", "cookie": "REDACTED", "set-cookie": "REDACTED",
        "anthropic-admin-key": "REDACTED", "x-auth-token": "REDACTED",
        "anthropic-ratelimit-tokens-limit": "1000", "content-type": "text/event-stream",
    }


def test_key_anywhere_in_text_is_replaced() -> None:
    assert Redactor().text(f'{{"prompt": "my key is {KEY}, ok"}}') == '{"prompt": "my key is REDACTED, ok"}'


def test_user_rules_extend_the_defaults() -> None:
    redactor = Redactor().extend(headers=["X-Tenant"], patterns=[r"acct_\d+"])
    assert redactor.headers_of({"x-tenant": "t", "x-api-key": "k"}) == {"x-tenant": "REDACTED", "x-api-key": "REDACTED"}
    assert redactor.text(f"acct_123 {KEY}") == "REDACTED REDACTED"


# No line breaks or NUL: a header value, an SSE field or a tail holds none (docs/cassette-format.md).
noise = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n\x00"), max_size=20)


@settings(max_examples=200)
@given(noise, noise, st.sampled_from(["headers", "body", "event", "raw", "error", "tail", "url"]))
def test_fuzzed_secrets_never_reach_disk(tmp_path_factory: pytest.TempPathFactory, before: str, after: str,
                                         where: str) -> None:
    secret = before + KEY + after
    request = Request("POST", f"https://x/v1/messages?k={secret}" if where == "url" else "https://x/v1/messages",
                      {"x-api-key": KEY, "x-note": secret if where == "headers" else "n"},
                      Payload({"messages": [secret if where == "body" else "hi"]}))
    events = (Event(0.1, "content_block_delta", Payload({"text": secret})) if where == "event" else
              Event(0.1, "x", Payload(raw=secret)) if where == "raw" else Event(0.1, "ping"),)
    end = End(0.2, "disconnected", ErrorInfo("httpx2.ReadError", secret) if where == "error" else None,
              secret if where == "tail" else None)
    cassette = Cassette((Interaction(0, request, Response(0.05, 200, {"set-cookie": secret}), events, None, end),))
    path = recorder.save(cassette, tmp_path_factory.mktemp("r") / "c.jsonl")
    on_disk = path.read_text(encoding="utf-8")
    assert KEY not in on_disk
    assert not re.search(r"sk-ant-[A-Za-z0-9]", on_disk)
    recorder.load(path)  # still a valid cassette


@pytest.mark.parametrize("encode", [
    lambda k: k.replace("-", "%2D", 1).replace("-", "\\u002d"),  # percent-encoded, then JSON-escaped
    lambda k: k.replace("-", "\\u002d", 1).replace("-", "%2D"),
    lambda k: k.replace("-", "%5Cu002d"),  # a JSON escape, percent-encoded
], ids=["percent-then-json", "json-then-percent", "json-inside-percent"])
def test_a_key_behind_both_json_and_percent_escapes_is_redacted(encode) -> None:  # type: ignore[no-untyped-def]
    line = '{"url": "http://x/?q=' + encode(KEY) + '"}'
    redacted = Redactor.default().text(line)
    decoded = unquote(unquote(redacted)).encode().decode("unicode_escape")  # every layer a reader could undo
    assert KEY[len("sk-ant-api03-"):][:16] not in decoded, redacted
