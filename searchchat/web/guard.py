"""What a request may index: URLs on the configured schemes and hosts (public ones by default), folders under
the configured roots, nothing else."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import Request

from searchchat.settings import Settings
from searchchat.web.errors import ApiError


def _refused(detail: str) -> ApiError:
    return ApiError(403, "source_not_allowed", detail)


def public_address(address: str) -> bool:
    """Whether an IP address is on the public internet (not loopback, private, link-local, reserved, ...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(host: str) -> list[str]:
    """The addresses of a host name (an IP literal is its own); empty when it does not resolve."""
    try:
        return [str(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)]
    except (OSError, UnicodeError, ValueError):
        return []


def check_url(url: str, settings: Settings) -> str:
    """The URL when a crawl from the web app may start there, else 403 (422 when it is not a URL at all).
    crawl_hosts, when set, is the whole list of hosts allowed; when empty, any host whose addresses are all
    public is. The crawl itself stays on the start URL's host."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        raise ApiError(422, "invalid_url", "That is not a valid URL.") from None
    if not parts.scheme or not host:
        raise ApiError(422, "invalid_url", "Give a full URL, such as https://example.com/docs/.")
    if parts.scheme.lower() not in settings.crawl_schemes:
        allowed = ", ".join(settings.crawl_schemes) or "none"
        raise _refused(f"Crawls from the web app may use these schemes only: {allowed}.")
    if settings.crawl_hosts:
        if host not in settings.crawl_hosts:
            raise _refused(f"The host {host!r} is not one this server may crawl (SEARCHCHAT_CRAWL_HOSTS).")
        return url.strip()
    addresses = resolve(host)
    if not addresses:
        raise ApiError(422, "unknown_host", f"The host {host!r} could not be resolved.")
    if not all(public_address(a) for a in addresses):
        raise _refused(
            f"The host {host!r} has a loopback or private address; crawls from the web app reach public hosts "
            "only unless SEARCHCHAT_CRAWL_HOSTS names it."
        )
    return url.strip()


def check_folder(folder: str, settings: Settings) -> Path:
    """The folder, resolved, when it lies under one of settings.folder_roots; else 403 (404 when missing)."""
    if not settings.folder_roots:
        raise _refused("This server indexes no folders from the web app (SEARCHCHAT_FOLDER_ROOTS is unset).")
    try:
        path = Path(folder).expanduser().resolve()
        roots = [root.expanduser().resolve() for root in settings.folder_roots]
        inside = any(path == root or path.is_relative_to(root) for root in roots)
        is_dir = inside and path.is_dir()
    except (OSError, RuntimeError, ValueError):
        raise ApiError(422, "invalid_folder", "That is not a usable folder path.") from None
    if not inside:
        raise _refused("That folder is not under a folder this server indexes (SEARCHCHAT_FOLDER_ROOTS).")
    if not is_dir:
        raise ApiError(404, "unknown_folder", "There is no such folder.")
    return path


def same_origin(request: Request) -> None:
    """A dependency that refuses (403) a request sent by a page of another origin: a multipart upload is a
    "simple" request that any web site could make a visitor's browser send to a server on their machine,
    without a CORS preflight. Browsers say where such a request comes from in Origin (clients other than
    browsers send none); it must be this server (the Host asked for) or a name in settings.allowed_hosts (a
    reverse proxy's public name)."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    settings: Settings = request.app.state.settings
    trusted = {h.lower() for h in settings.allowed_hosts if h != "*"}
    try:
        parts = urlsplit(origin)
        netloc, host = parts.netloc.lower(), (parts.hostname or "").lower()
    except ValueError:
        netloc = host = ""
    if netloc and (netloc == request.headers.get("host", "").lower() or host in trusted):
        return
    raise ApiError(403, "cross_origin", "This endpoint takes requests from this server's own pages only.")
