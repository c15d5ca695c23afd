"""JSON errors for the web app: one error shape, safe JSON encoding, and handlers that never leak tracebacks."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from indexer.store import IndexError_, IndexLocked, IndexNotFound
from searchchat.generators.base import GeneratorError

log = logging.getLogger("searchchat.web")

NO_INDEX = "No index yet — run `searchchat index SOURCE...` to build one, then reload."


def safe_dumps(data: Any) -> str:
    """Compact JSON with <, > and & escaped as \\u sequences, so crawled text such as `<script>` can never be
    read as markup even if a client or proxy sniffs the body. Parsers decode it back unchanged."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class SafeJSONResponse(JSONResponse):
    """The app's default response class (see `safe_dumps`)."""

    def render(self, content: Any) -> bytes:
        # requests with unpaired surrogates are refused (models.valid_unicode); stored text that still has
        # one (an odd document) gets U+FFFD instead of a failed response
        return safe_dumps(content).encode("utf-8", errors="replace")


class ApiError(Exception):
    """An error the client can act on: HTTP status, a stable machine code and a human message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def api_error_from(exc: BaseException) -> ApiError | None:
    """The ApiError for a known failure from the index or the generator, else None."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, IndexNotFound):
        return ApiError(503, "no_index", NO_INDEX, {"Retry-After": "30"})
    if isinstance(exc, IndexLocked):
        return ApiError(409, "index_locked", str(exc))
    if isinstance(exc, IndexError_):
        return ApiError(503, "index_error", str(exc))
    if isinstance(exc, GeneratorError):
        return ApiError(503, "generator_unavailable", str(exc))
    return None


def error_body(
    path: str, status: int, code: str, message: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """OpenAI's error shape under /v1/, elsewhere {"error": code, "detail": message}."""
    if path.startswith("/v1/"):
        kind = "invalid_request_error" if status < 500 else "server_error"
        return {"error": {"message": message, "type": kind, "code": code, "param": None}}
    return {"error": code, "detail": message, **(extra or {})}


def error_response(request: Request, err: ApiError, extra: dict[str, Any] | None = None) -> SafeJSONResponse:
    body = error_body(request.url.path, err.status, err.code, err.message, extra)
    return SafeJSONResponse(body, status_code=err.status, headers=err.headers)


def _slug(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def _where(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install_handlers(app: FastAPI) -> None:
    """Every error becomes JSON: 4xx for bad input with the reason, 500 with no details (logged here)."""

    async def on_api_error(request: Request, exc: Exception) -> SafeJSONResponse:
        err = api_error_from(exc)
        assert err is not None
        return error_response(request, err)

    async def on_http(request: Request, exc: Exception) -> SafeJSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        err = ApiError(exc.status_code, _slug(exc.status_code), message, dict(exc.headers or {}))
        return error_response(request, err)

    async def on_validation(request: Request, exc: Exception) -> SafeJSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]  # fmt: skip
        if any(e["type"] == "json_invalid" for e in errors):
            return error_response(
                request, ApiError(400, "malformed_json", "The request body is not valid JSON.")
            )
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "missing" and tuple(first.get("loc", ())) == ("body",):
            message = "The request needs a JSON body."
        else:
            message = f"{_where(first.get('loc', ()))}: {first.get('msg', 'invalid input')}"
        return error_response(request, ApiError(422, "invalid_request", message), {"errors": errors})

    async def on_unexpected(request: Request, exc: Exception) -> SafeJSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(request, ApiError(500, "internal_error", "Internal server error."))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(IndexError_, on_api_error)
    app.add_exception_handler(GeneratorError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_unexpected)
