"""Plain ASGI middleware: limits on the request target and body, a Host allow-list, security headers, HEAD."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from searchchat.web.errors import error_body, safe_dumps
from searchchat.web.models import MAX_BODY_BYTES

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int = MAX_BODY_BYTES) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


class BodyLimit:
    """Refuse bodies over MAX_BODY_BYTES (or the path's own limit in `paths`, such as uploads') with a JSON
    413, whether Content-Length says so or the stream does."""

    def __init__(
        self, app: ASGIApp, limit: int = MAX_BODY_BYTES, paths: dict[str, int] | None = None
    ) -> None:
        self.app, self.default, self.paths = app, limit, paths or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.paths.get(scope.get("path", ""), self.default)
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _send_json(
                    send, 413, b'{"error":"content_too_large","detail":"The request body is too large."}'
                )
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(
                        limit
                    )  # FastAPI re-raises HTTPExceptions from body reading: a JSON 413
            return message

        await self.app(scope, limited, send)


async def _send_error(send: Send, scope: Scope, status: int, code: str, message: str) -> None:
    body = error_body(scope.get("path", ""), status, code, message)
    await _send_json(send, status, safe_dumps(body).encode())


async def _send_json(send: Send, status: int, body: bytes) -> None:
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers + HEADERS})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """CSP (no inline script, same-origin only), nosniff, no framing, no referrer to crawled sites."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    h for h in HEADERS if h[0] not in present
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


class HeadAsGet:
    """HEAD is answered as GET without the body (uptime probes, link checkers): the routes declare GET only, and
    a GET never changes state, so the status and headers are the GET's own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


class TargetLimit:
    """A JSON 414 for a request target (path and query string, as sent) over `limit` bytes (models.
    max_target_bytes), before any routing or parsing. (uvicorn's own head-size limit, server.MAX_HEAD_BYTES,
    is above it.)"""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "replace")
            if len(raw) + 1 + len(scope.get("query_string", b"")) > self.limit:
                message = f"The request URL is longer than {self.limit} bytes."
                await _send_error(send, scope, 414, "uri_too_long", message)
                return
        await self.app(scope, receive, send)


def host_name(header: str) -> str:
    """The name in a Host header: lower-cased, without its port, the brackets of an IPv6 address or a final dot."""
    header = header.strip().lower()
    if header.startswith("["):  # [IPv6]:port
        end = header.find("]")
        return header[1:end] if end > 0 else header
    name, colon, port = header.partition(":")
    if colon and header.count(":") == 1 and port.isdigit():
        header = name
    return header.rstrip(".")


class HostCheck:
    """Answer only requests whose Host header names this server (a 400 otherwise): a page on another site that
    rebinds its DNS name to 127.0.0.1 then reaches the API under its own name, and is refused."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(host_name(h) for h in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [v for k, v in scope.get("headers", []) if k == b"host"]
            name = host_name(headers[0].decode("latin-1")) if len(headers) == 1 else ""
            if name not in self.allowed:
                message = (
                    "This server does not answer for that Host. Add the name to SEARCHCHAT_ALLOWED_HOSTS "
                    "(or set SEARCHCHAT_API_KEY with SEARCHCHAT_API_KEY_ALL)."
                )
                await _send_error(send, scope, 400, "invalid_host", message)
                return
        await self.app(scope, receive, send)
