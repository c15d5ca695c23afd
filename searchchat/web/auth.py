"""Who may call the API: an optional key (`Authorization: Bearer KEY` or `X-API-Key: KEY`, compared in constant
time) and, while any endpoint is open without it, a Host allow-list against DNS rebinding."""

from __future__ import annotations

import hmac

from fastapi import Request

from searchchat.settings import Settings
from searchchat.web.errors import ApiError
from searchchat.web.middleware import LOOPBACK_HOSTS


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or None


def key_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def check(settings: Settings, request: Request) -> None:
    if not settings.api_key:
        return
    given = presented_key(request)
    if not key_matches(settings.api_key, given):
        message = "This endpoint needs the API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY`."
        if given is not None:
            message = "The API key is not valid."
        raise ApiError(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})


def require_for_changes(request: Request) -> None:
    """The dependency of endpoints that change state: the key is checked whenever one is set."""
    check(request.app.state.settings, request)


def require_for_reads(request: Request) -> None:
    """The dependency of every other API endpoint: the key is checked only with settings.api_key_all."""
    settings: Settings = request.app.state.settings
    if settings.api_key_all:
        check(settings, request)


def allowed_hosts(settings: Settings) -> list[str] | None:
    """The Host names to answer, or None to answer any: when every endpoint needs the key (a rebinding page
    has none), or settings.allowed_hosts has '*'. Loopback names and the bind address are always in."""
    if (settings.api_key and settings.api_key_all) or "*" in settings.allowed_hosts:
        return None
    return [*LOOPBACK_HOSTS, settings.host, *settings.allowed_hosts]
