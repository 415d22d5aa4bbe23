"""Record Anthropic Messages API sessions, SSE event by event, into JSONL cassettes."""

from typing import TYPE_CHECKING

import lazy_loader as _lazy

from ._cassette import CassetteWriter, header, load, parse, redacted, save
from ._errors import (
    CassetteBusyError,
    CassetteClosedError,
    CassetteError,
    CassetteNotFoundError,
    CassetteVersionError,
)
from ._extras import MissingExtraError
from ._import import import_sse
from ._model import (
    FORMAT_VERSION,
    TRANSPORT_ERRORS,
    Body,
    Cassette,
    End,
    ErrorInfo,
    Event,
    Interaction,
    Outcome,
    Payload,
    Request,
    Response,
)
from ._redact import REDACTED, Redactor
from ._sse import SSEDecoder, SSEEvent, encode_event
from ._validate import Finding, findings, problems

if TYPE_CHECKING:
    from ._proxy import proxy
    from ._record import record
    from ._transport import AsyncRecordingTransport, Recorder, RecordingTransport

# Loaded on first use: recording needs httpx2, the proxy starlette and uvicorn (the `server`
# extra); reading, writing and checking cassettes (`cassette check`, `show`) need neither.
__getattr__ = _lazy.attach(__name__, submod_attrs={
    "_proxy": ["proxy"], "_record": ["record"], "_transport": ["AsyncRecordingTransport", "Recorder", "RecordingTransport"],
})[0]

__all__ = [
    "FORMAT_VERSION",
    "REDACTED",
    "TRANSPORT_ERRORS",
    "AsyncRecordingTransport",
    "Body",
    "Cassette",
    "CassetteBusyError",
    "CassetteClosedError",
    "CassetteError",
    "CassetteNotFoundError",
    "CassetteVersionError",
    "CassetteWriter",
    "End",
    "ErrorInfo",
    "Event",
    "Finding",
    "Interaction",
    "MissingExtraError",
    "Outcome",
    "Payload",
    "Recorder",
    "RecordingTransport",
    "Redactor",
    "Request",
    "Response",
    "SSEDecoder",
    "SSEEvent",
    "encode_event",
    "findings",
    "header",
    "import_sse",
    "load",
    "parse",
    "problems",
    "proxy",
    "record",
    "redacted",
    "save",
]
