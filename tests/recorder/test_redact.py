"""No secret reaches disk, on any write path."""

from __future__ import annotations

import re
from pathlib import Path
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


# --- which header names are secret (issue 12's follow-up: spellings real gateways use) -------------

SECRET_NAMES = ["apikey", "api_key", "x_api_key", "X-Api-Key", "X-API-KEY", "anthropic-api-key", "x-goog-api-key",
                "proxy-authorization", "x-authorization", "cookie", "set-cookie", "x-auth-token", "x_auth_token",
                "x-auth", "auth", "xauth", "ocp-apim-subscription-key", "x-amz-security-token", "private-token",
                "accesstoken", "client_secret", "x-db-password", "passwd", "x-credentials"]
KEPT_NAMES = ["anthropic-version", "anthropic-beta", "x-cassette-session", "anthropic-ratelimit-tokens-limit",
              "anthropic-ratelimit-output-tokens-reset", "anthropic-ratelimit-input-tokens-remaining",
              "x-stainless-read-timeout", "x-stainless-retry-count", "content-type", "request-id", "retry-after",
              "keep-alive", "www-authenticate", "user-agent", "x-should-retry", "anthropic-organization-id",
              "cache-control", "x-stainless-helper-method", "accept-encoding", "x-ratelimit-remaining-tokens"]


def secret_value(name: str) -> str:
    return f"v{abs(hash(name)) % 10**6}-" + "Zq9" * 6


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_header_spellings_are_redacted(name: str) -> None:
    redactor = Redactor()
    assert redactor.is_secret_header(name)
    assert redactor.headers_of([(name, secret_value(name))]) == {name.lower(): "REDACTED"}


@pytest.mark.parametrize("name", KEPT_NAMES)
def test_headers_that_matching_and_replay_need_are_kept(name: str) -> None:
    assert not Redactor().is_secret_header(name)
    assert Redactor().headers_of([(name, "1000")]) == {name: "1000"}


def test_user_header_rules_match_any_spelling() -> None:
    redactor = Redactor().extend(headers=["X_Tenant"])
    assert redactor.headers_of({"x-tenant": "t", "X_TENANT": "u"}) == {"x-tenant": "REDACTED", "x_tenant": "REDACTED"}


def test_every_secret_spelling_is_redacted_on_record_through_the_transport_and_the_proxy(tmp_path: Path) -> None:
    import httpx2

    from replayer import Chunk, Reply, ScriptedUpstream

    wire = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    sent = {name: secret_value(name) for name in SECRET_NAMES if name.lower() not in ("cookie", "set-cookie")}
    back = (("content-type", "text/event-stream"), ("set-cookie", secret_value("set-cookie")),
            ("x_auth_token", secret_value("back")), ("anthropic-ratelimit-tokens-limit", "1000"))
    written = []
    for how in ("transport", "proxy"):
        out = tmp_path / f"{how}.jsonl"
        with ScriptedUpstream([Reply(headers=back, chunks=(Chunk(wire),))]) as upstream:
            headers = {**sent, "cookie": secret_value("cookie"), "x-cassette-session": "s1"}
            if how == "transport":
                with httpx2.Client(transport=recorder.RecordingTransport(out, httpx2.HTTPTransport())) as client:
                    client.post(f"{upstream.base_url}/v1/messages", headers=headers, content=b"{}")
            else:
                with recorder.proxy(out, upstream=upstream.base_url) as url, httpx2.Client() as client:
                    client.post(f"{url}/v1/messages", headers=headers, content=b"{}")
            assert upstream.requests[0].headers["x_api_key"] == sent["x_api_key"]  # forwarded as sent
        written.append(out)
    captured = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nset-cookie: " + \
        secret_value("set-cookie").encode() + b"\r\napikey: " + secret_value("apikey").encode() + b"\r\n\r\n" + wire
    written.append(recorder.save(recorder.import_sse(captured), tmp_path / "imported.jsonl"))
    for out in written:
        text = out.read_text()
        leaked = [name for name in [*SECRET_NAMES, "back"] if secret_value(name) in text]
        assert leaked == [], (out.name, leaked)
        assert "Zq9Zq9" not in text
        interaction = recorder.load(out)[0]
        kept = interaction.response.headers.get("anthropic-ratelimit-tokens-limit", "1000")  # type: ignore[union-attr]
        assert kept == "1000"
        if interaction.request is not None:
            assert interaction.request.headers["x-cassette-session"] == "s1"
            assert interaction.request.headers["x_api_key"] == "REDACTED"


# --- base64 ---------------------------------------------------------------------------------------


def test_the_base64_markers_are_what_sk_ant_encodes_to_in_each_alignment() -> None:
    import base64

    from recorder._redact import BASE64_KEY_MARKERS, holds_base64_key

    prefix = b"sk-" + b"ant-"
    for align, marker in enumerate(BASE64_KEY_MARKERS):
        for before in (b"\x00" * align, b"\xff" * align, b"Q" * align):
            for after in (b"", b"\x00\x00", b"\xff\xff\xff", b"api03"):
                for encode in (base64.b64encode, base64.urlsafe_b64encode):
                    encoded = encode(before + prefix + after).decode()
                    assert marker in encoded and holds_base64_key(encoded)


@pytest.mark.parametrize("prefix", ["", "u", "us", "user:", "Bearer "])
@pytest.mark.parametrize("urlsafe", [False, True])
def test_a_base64_encoded_key_is_redacted_in_any_alignment(prefix: str, urlsafe: bool) -> None:
    import base64

    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    encoded = encode((prefix + KEY).encode()).decode()
    line = f'{{"note": "Basic {encoded}", "data": "{encoded}", "url": "http://x/?s={encoded.rstrip("=")}&b=1"}}'
    assert Redactor().text(line) == '{"note": "Basic REDACTED", "data": "REDACTED", "url": "http://x/?s=REDACTED&b=1"}'
    assert not Redactor().is_clean(encoded)


def test_base64_without_a_key_is_kept() -> None:
    import base64

    image = base64.b64encode(bytes(range(256)) * 40).decode()
    text = f'{{"data": "{image}", "note": "sk-an t", "b": "{base64.b64encode(b"sk-an").decode()}"}}'
    assert Redactor().text(text) == text and Redactor().is_clean(text)
