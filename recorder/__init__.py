"""Record Anthropic Messages API sessions, SSE event by event, into JSONL cassettes."""

from ._cassette import CassetteWriter, header, load, parse, redacted, save
from ._errors import (
    CassetteBusyError,
    CassetteClosedError,
    CassetteError,
    CassetteNotFoundError,
    CassetteVersionError,
)
from ._import import import_sse
from ._model import (
    FORMAT_VERSION,
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
from ._proxy import proxy
from ._record import record
from ._redact import REDACTED, Redactor
from ._sse import SSEDecoder, SSEEvent, encode_event
from ._transport import AsyncRecordingTransport, Recorder, RecordingTransport
from ._validate import problems

__all__ = [
    "FORMAT_VERSION",
    "REDACTED",
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
    "Interaction",
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
