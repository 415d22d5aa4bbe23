"""vcrpy interoperability: import vcrpy cassettes of Anthropic calls, export ours for vcrpy.

Files are read and written with vcrpy's own persister and serializer
(`FilesystemPersister`, `vcr.serializers.yamlserializer`, which go through
`vcr.serialize`) and its request model (`vcr.request.Request`). Responses are the dicts
vcrpy's httpx/httpx2 stubs record and rebuild (vcr/stubs/httpx_stubs.py,
`_serialize_response` / `_deserialize_response`)::

    {"status": {"code": 200, "message": "OK"},
     "headers": {"content-type": ["text/event-stream"], ...},   # every value a list
     "body": {"string": "<the whole body, as it came off the transport>"}}

vcrpy keeps a stream as one body string: no chunking, no timing. So an import places every
event at t = 0 and says so in the header (`"timing": "none"`, `"imported": "vcrpy"`), and an
export writes the bytes our replay would send, joined into that one string.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import httpx2
import yaml

from recorder import (
    Body,
    Cassette,
    CassetteError,
    CassetteNotFoundError,
    End,
    Interaction,
    Payload,
    Redactor,
    Request,
    Response,
    header,
    redacted,
)
from recorder._cassette import regular_file
from recorder._import import _stream_interaction
from recorder._model import payload_fields

from ._script import Script

StrPath = str | os.PathLike[str]

# Stored bodies are decoded, so these no longer describe them (as in the recorder).
_ENCODING_HEADERS = ("content-encoding", "content-length", "transfer-encoding")


def import_vcr(path: StrPath) -> Cassette:
    """Read a vcrpy cassette (YAML) as a Cassette: one interaction per recorded request.

    Bodies are decoded (`content-encoding` undone) and streams split into events with
    `recorder.SSEDecoder`; secrets in headers and bodies are redacted when the cassette is
    saved. vcrpy records no timing, so none is invented: every `t` is 0.

    >>> recorder.save(import_vcr("tests/cassettes/test_chat.yaml"), "tests/cassettes/test_chat.jsonl")
    """
    from vcr.persisters.filesystem import CassetteNotFoundError as VcrNotFound
    from vcr.persisters.filesystem import FilesystemPersister
    from vcr.serializers import yamlserializer

    regular_file(path, "a vcrpy cassette (YAML)", missing="no such vcrpy cassette (or it is empty)")
    try:
        loaded = FilesystemPersister.load_cassette(path, yamlserializer)
    except VcrNotFound:
        raise CassetteNotFoundError("no such vcrpy cassette (or it is empty)", path=path) from None
    except (ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CassetteError(f"not a vcrpy cassette ({problem}); expected the YAML vcrpy writes, "
                            "with 'interactions' of 'request' and 'response'", path=path) from None
    requests, responses = loaded[0], loaded[1]
    interactions = []
    for id, (request, response) in enumerate(zip(requests, responses)):
        try:
            interactions.append(_interaction(id, request, response))
        except (KeyError, TypeError, AttributeError, ValueError, httpx2.DecodingError) as exc:
            raise CassetteError(f"interaction {id}: unreadable response ({type(exc).__name__}: {exc})",
                                path=path) from None
    return Cassette(tuple(interactions), header(imported="vcrpy", timing="none", source=str(path)))


def export_vcr(cassette: Cassette, path: StrPath) -> list[str]:
    """Write `cassette` as a vcrpy cassette (YAML) that vcrpy and pytest-recording replay.

    What is written is redacted like a recording (`recorder.redacted`). Returns notes on what
    vcrpy cannot hold: interactions without a request or a response are left out; a stream
    that broke is written as the bytes that arrived (vcrpy then ends it cleanly).

    >>> export_vcr(recorder.load("cassettes/text.jsonl"), "tests/cassettes/test_text.yaml")
    []
    """
    from vcr.persisters.filesystem import FilesystemPersister
    from vcr.request import Request as VcrRequest
    from vcr.serializers import yamlserializer

    requests, responses, notes = [], [], []
    for interaction in redacted(cassette):
        request, response = interaction.request, interaction.response
        if request is None:
            notes.append(f"interaction {interaction.id}: left out, it has no request (an imported capture) "
                         "and vcrpy answers by request")
            continue
        if response is None:
            notes.append(f"interaction {interaction.id}: left out, it ended ({interaction.outcome}) before any "
                         "response and vcrpy can only replay responses")
            continue
        end = interaction.end
        if end is not None and end.error is not None:
            notes.append(f"interaction {interaction.id}: the stream broke ({end.error.type}); vcrpy replays the "
                         f"{len(interaction.events)} events that arrived, then a clean end")
        script = Script.of(interaction)
        body = b"".join(item for _, item in script.steps if isinstance(item, bytes))
        headers = {name: value for name, value in request.headers.items()}
        requests.append(VcrRequest(request.method, request.url, request.body.text.encode(), headers))
        responses.append({
            "status": {"code": response.status, "message": httpx2.codes.get_reason_phrase(response.status)},
            "headers": {name: [value] for name, value in response.headers.items()},
            "body": {"string": body},
        })
    FilesystemPersister.save_cassette(Path(path), {"requests": requests, "responses": responses}, yamlserializer)
    return notes


def _interaction(id: int, vcr_request: Any, vcr_response: dict[str, Any]) -> Interaction:
    redactor = Redactor.default()
    body = _bytes(getattr(vcr_request, "body_bytes", vcr_request.body))
    request = Request(vcr_request.method, vcr_request.uri, redactor.headers_of(vcr_request.headers.items()),
                      Payload(**payload_fields(body.decode("utf-8", errors="replace"))))
    status, headers, content = _response_parts(vcr_response)
    stored = {k: v for k, v in redactor.headers_of(headers).items() if k not in _ENCODING_HEADERS}
    response = Response(0.0, status, stored)
    if response.is_stream:
        streamed = _stream_interaction(response, content, 0.0)
        return dataclasses.replace(streamed, id=id, request=request)
    payload = Payload(**payload_fields(content.decode("utf-8", errors="replace")))
    return Interaction(id, request, response, body=Body(0.0, payload), end=End(0.0, "complete"))


def _response_parts(vcr_response: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and decoded body, rebuilt as vcrpy's httpx stubs rebuild them."""
    if "status_code" in vcr_response:  # the httpx format of vcrpy before 8 (see `_deserialize_response`)
        status, headers, raw = vcr_response["status_code"], vcr_response["headers"], vcr_response["content"]
    else:
        status, headers, raw = vcr_response["status"]["code"], vcr_response["headers"], vcr_response["body"]["string"]
    pairs = [(name, str(value)) for name, values in dict(headers).items()
             for value in (values if isinstance(values, list) else [values])]
    # httpx2 undoes content-encoding (gzip, deflate, br) as it would for the app.
    decoded = httpx2.Response(int(status), headers=pairs, content=_bytes(raw))
    return decoded.status_code, pairs, decoded.content


def _bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        return _bytes(body.read())
    if isinstance(body, list | tuple):
        return b"".join(_bytes(part) for part in body)
    return bytes(body)
