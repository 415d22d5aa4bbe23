"""The admin API of `cassette serve`, under /_cassette/ (as WireMock's is under /__admin/).

    POST   /_cassette/reset[?session=NAME]             every session (or one) starts from the beginning
    GET    /_cassette/requests[?limit=N&session=NAME]  the journal, newest first
    DELETE /_cassette/requests                         empty the journal
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from ._journal import Journal
from ._sessions import Sessions

PREFIX = "/_cassette/"
ENDPOINTS = ["POST /_cassette/reset[?session=NAME]", "GET /_cassette/requests[?limit=N&session=NAME]",
             "DELETE /_cassette/requests"]


def is_admin(path: str) -> bool:
    return path.startswith(PREFIX)


def answer(request: Request, sessions: Sessions, journal: Journal) -> JSONResponse:
    """The admin endpoint's answer to `request`; 404 (listing the endpoints) or 405 for anything else."""
    route = request.url.path.removeprefix(PREFIX).rstrip("/")
    session = request.query_params.get("session")
    if route == "reset":
        if request.method != "POST":
            return _error(405, "use POST /_cassette/reset")
        if session is not None and session not in sessions.names():
            return _error(404, f"no session {session!r}; sessions: {', '.join(sessions.names())}")
        return JSONResponse({"reset": sessions.reset(session)})
    if route == "requests":
        if request.method == "DELETE":
            journal.clear()
            return JSONResponse({"cleared": True})
        if request.method != "GET":
            return _error(405, "use GET (or DELETE) /_cassette/requests")
        limit = request.query_params.get("limit")
        if limit is not None and not (limit.isascii() and limit.isdigit()):  # isdigit alone takes "²", int() not
            return _error(400, f"limit must be a whole number >= 0 (0-9 digits), got {limit!r}")
        return JSONResponse(journal.to_json(limit=None if limit is None else int(limit), session=session))
    return _error(404, f"no admin endpoint {request.url.path}; endpoints: {'; '.join(ENDPOINTS)}")


def _error(status: int, message: str) -> JSONResponse:
    kind = {400: "invalid_request_error", 404: "not_found_error", 405: "invalid_request_error"}[status]
    return JSONResponse({"type": "error", "error": {"type": kind, "message": message}}, status_code=status)
