"""Helpers shared by the API routes: what a route gets from its app (the backend, the settings), input checks,
filters, the error responses documented, SSE responses that release their ticket."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sse_starlette import EventSourceResponse

from searchchat.retrieval.retriever import Filters
from searchchat.settings import Settings
from searchchat.web.backend import Backend
from searchchat.web.errors import ApiError, api_error_from
from searchchat.web.limiter import Ticket
from searchchat.web.models import ErrorOut, FiltersIn, valid_unicode

log = logging.getLogger("searchchat.web")
STATIC = Path(__file__).parent / "static"
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 409, 413, 414, 422, 500, 503)
}


async def backend_of(request: Request) -> Backend:
    """The app's Backend (create_app puts it in app.state), for a route to take as a dependency."""
    backend: Backend = request.app.state.backend
    return backend


async def settings_of(request: Request) -> Settings:
    """The app's Settings (the backend's own)."""
    settings: Settings = request.app.state.settings
    return settings


AppBackend = Annotated[Backend, Depends(backend_of)]
AppSettings = Annotated[Settings, Depends(settings_of)]


def check_question(settings: Settings, text: str, what: str = "question") -> str:
    """The question, stripped; a clear 422 when it is empty, too long or not valid Unicode (query strings and
    chat messages come here without the request models' own checks)."""
    try:
        valid_unicode(text)
    except ValueError as e:
        raise ApiError(422, f"invalid_{what}", f"The {what} {e}.") from None
    text = text.strip()
    if not text:
        raise ApiError(422, f"empty_{what}", f"The {what} is empty.")
    if len(text) > settings.max_question_chars:
        raise ApiError(
            422, f"{what}_too_long", f"The {what} is longer than {settings.max_question_chars} characters."
        )
    return text


def question_rules(settings: Settings) -> dict[str, Any]:
    """What check_question enforces, as JSON Schema: Python's `\\S` is exactly "not removed by str.strip()"."""
    return {"minLength": 1, "maxLength": settings.max_question_chars, "pattern": r"\S"}


def document_question_rules(spec: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The OpenAPI spec with check_question's rules on the fields it checks (/search `q`, /ask `question`)."""
    rules = question_rules(settings)
    spec["components"]["schemas"]["AskRequest"]["properties"]["question"].update(rules)
    for param in spec["paths"]["/search"]["get"]["parameters"]:
        if param["name"] == "q":
            param["schema"].update(rules)
    return spec


def to_filters(f: FiltersIn | None) -> Filters | None:
    if f is None or not (f.source or f.url_prefix or f.doctype):
        return None
    return Filters(source=f.source, url_prefix=f.url_prefix, doctype=f.doctype)


class TicketedSSE(EventSourceResponse):
    """An SSE response that gives its generation ticket back however the response ends (even unstarted)."""

    def __init__(self, content: Any, ticket: Ticket, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._ticket = ticket

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._ticket.release()


def error_event(exc: Exception) -> dict[str, str]:
    err = api_error_from(exc)
    if err is None:
        log.error("error while streaming an answer", exc_info=exc)
        err = ApiError(500, "internal_error", "Internal server error.")
    return {"error": err.code, "detail": err.message}
