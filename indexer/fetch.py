"""One polite HTTP GET: per-host spacing, retries with backoff and Retry-After, time, type and size limits."""

from __future__ import annotations

import asyncio
import email.utils
import mimetypes
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from indexer.charset import SNIFF_BYTES, binary_reason
from indexer.inflate import Decoder

MAX_RETRY_AFTER = 60.0  # seconds: longer Retry-After values are capped
REDIRECTS = (301, 302, 303, 307, 308)
KINDS = {
    "text/html": "html", "application/xhtml+xml": "html",
    "text/plain": "text", "text/markdown": "markdown", "text/x-markdown": "markdown",
    "application/pdf": "pdf",
}  # fmt: skip
TEXT_KINDS = ("html", "text", "markdown")  # kinds whose bodies must look like text
TRANSIENT = ("timeout", "connect_error", "network_error", "http_429")


class FetchError(Exception):
    """A URL could not be fetched; `reason` is the Skipped reason (timeout, too_large, binary_body, ...)."""

    def __init__(self, reason: str, detail: str = "", status: int | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail, self.status = reason, detail, status

    @property
    def transient(self) -> bool:
        """Worth trying again on a later run: the page may well still exist."""
        return self.reason in TRANSIENT or (self.status is not None and self.status >= 500)


@dataclass
class Response:
    """A final response: a redirect or 304 (no body) or a 2xx with its body read."""

    url: str
    status: int
    headers: httpx.Headers
    body: bytes = b""
    kind: str = ""  # html, text, markdown, pdf (or the raw media type when any type was accepted)
    charset: str | None = None


def content_kind(content_type: str | None, url: str) -> str | None:
    """html/text/markdown/pdf for a Content-Type (guessing from the URL's extension when it is missing or
    generic), None for anything else."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in ("", "application/octet-stream", "binary/octet-stream"):
        path = urlsplit(url).path.lower()
        media = (
            "text/markdown" if path.endswith((".md", ".markdown")) else mimetypes.guess_type(path)[0] or ""
        )
    return KINDS.get(media)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), capped at 60 s."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


@dataclass
class _Host:
    delay: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_end: float = 0.0  # loop time the latest request ended
    next_start: float = 0.0  # loop time before which no new request may start (spacing)
    not_before: float = 0.0  # loop time set by Retry-After on 429/503: the whole host waits


class Pacer:
    """Per-host politeness. With a delay > 0, one request at a time per host, each starting at least `delay`
    seconds after the previous one on that host ended, that is, got its answer (a body still arriving does
    not hold the host); with delay 0, no spacing. Retry-After pauses the whole host either way."""

    def __init__(self, default_delay: float) -> None:
        self.default_delay = default_delay
        self.hosts: dict[str, _Host] = {}

    def _host(self, host: str) -> _Host:
        if host not in self.hosts:
            self.hosts[host] = _Host(self.default_delay)
        return self.hosts[host]

    def set_delay(self, host: str, delay: float) -> None:
        h = self._host(host)
        h.delay = delay
        h.next_start = max(h.next_start, h.last_end + delay)

    def delay(self, host: str) -> float:
        return self._host(host).delay

    def pause(self, host: str, seconds: float) -> None:
        h = self._host(host)
        h.not_before = max(h.not_before, asyncio.get_running_loop().time() + seconds)

    @asynccontextmanager
    async def turn(self, host: str) -> AsyncIterator[Callable[[], None]]:
        """Wait for this host's turn; yields `end`, which ends the turn early (once the response headers are
        in, so a body that drips in does not hold up the host). Leaving the block ends it otherwise."""
        h = self._host(host)
        loop = asyncio.get_running_loop()
        locked, ended = h.delay > 0, False
        if locked:
            await h.lock.acquire()

        def end() -> None:  # spaced from the end: a request the network held back never shortens the next gap
            nonlocal ended
            if not ended:
                ended = True
                h.last_end = loop.time()
                h.next_start = max(h.next_start, h.last_end + h.delay)
                if locked:
                    h.lock.release()

        try:
            while (wait := max(h.next_start, h.not_before) - loop.time()) > 0:
                await asyncio.sleep(wait)
            yield end
        finally:
            end()


@dataclass
class _Transfer:
    """How far one exchange got, for an accurate timeout message."""

    answered: bool = False  # the status line and headers arrived
    received: int = 0  # body bytes, decoded


class Fetcher:
    """GETs a URL without following redirects, retrying 429/5xx and connection failures."""

    def __init__(self, client: httpx.AsyncClient, pacer: Pacer, timeout: float, max_retries: int,
                 backoff: float) -> None:  # fmt: skip
        self.client, self.pacer = client, pacer
        self.timeout, self.max_retries, self.backoff = timeout, max_retries, backoff
        self.requests = 0

    async def get(self, url: str, headers: dict[str, str] | None = None, max_bytes: int = 5_000_000,
                  accept: Callable[[str | None, str], str | None] = content_kind,
                  truncate: bool = False) -> Response:  # fmt: skip
        """The response to GET url. 2xx bodies are read when `accept(content_type, url)` names a kind and the
        body fits in max_bytes once decoded (or is cut there, with truncate); otherwise FetchError
        (content_type, too_large, binary_body, timeout, connect_error, http_<code> once retries are spent,
        ...). The host's turn ends when the headers arrive; the whole exchange must end within `timeout`."""
        host = urlsplit(url).netloc
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            async with self.pacer.turn(host) as end_turn:
                transfer = _Transfer()
                try:  # one deadline for the whole exchange: a page that trickles in forever is cut there too
                    async with asyncio.timeout(self.timeout):
                        resp = await self._exchange(url, headers or {}, max_bytes, accept, truncate, end_turn,
                                                    transfer)  # fmt: skip
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    error = FetchError("connect_error", f"{type(exc).__name__}: {exc}".rstrip(": "))
                except (httpx.TimeoutException, TimeoutError) as exc:
                    raise FetchError("timeout", self._timeout_detail(transfer)) from exc
                except (httpx.TransportError, httpx.DecodingError) as exc:
                    error = FetchError("network_error", f"{type(exc).__name__}: {exc}".rstrip(": "))
                else:
                    if resp.status != 429 and resp.status < 500:
                        return resp
                    error = FetchError(f"http_{resp.status}", f"HTTP {resp.status}", status=resp.status)
                    retry_after = parse_retry_after(resp.headers.get("retry-after"))
                    if retry_after is not None:
                        self.pacer.pause(host, retry_after)
            if attempt == self.max_retries:
                raise error
            await asyncio.sleep(retry_after if retry_after is not None else self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def _timeout_detail(self, transfer: _Transfer) -> str:
        if not transfer.answered:
            return f"no answer within {self.timeout:g} s"
        return f"body not complete within {self.timeout:g} s ({transfer.received} bytes read)"

    async def _exchange(self, url: str, headers: dict[str, str], max_bytes: int,
                        accept: Callable[[str | None, str], str | None], truncate: bool,
                        end_turn: Callable[[], None], transfer: _Transfer) -> Response:  # fmt: skip
        self.requests += 1
        async with self.client.stream("GET", url, headers=headers) as r:
            end_turn()  # the server answered: the host's next request need not wait for this body
            transfer.answered = True
            resp = Response(url=url, status=r.status_code, headers=r.headers)
            if not 200 <= r.status_code < 300:
                return resp
            ctype = r.headers.get("content-type")
            kind = accept(ctype, url)
            if kind is None:
                raise FetchError("content_type", (ctype or "no Content-Type").split(";")[0])
            length = r.headers.get("content-length", "")
            if length.isdigit() and int(length) > max_bytes and not truncate:
                raise FetchError("too_large", f"Content-Length {length} > {max_bytes} bytes")
            try:
                decoder = Decoder(r.headers.get("content-encoding"))
            except ValueError as exc:
                raise FetchError("content_encoding", str(exc)) from exc
            body = _Body(max_bytes, truncate, sniff=kind in TEXT_KINDS, transfer=transfer)
            async for raw in r.aiter_raw():
                if body.add(decoder.feed(raw)):
                    break
            else:
                body.add(decoder.flush())
            body.sniff_now()
            resp.body, resp.kind, resp.charset = bytes(body.data), kind, r.charset_encoding
            return resp


class _Body:
    """A body as it is decoded, piece by piece: the size limit holds for decoded bytes, and a text body that
    starts like binary data is refused early."""

    def __init__(self, max_bytes: int, truncate: bool, sniff: bool, transfer: _Transfer) -> None:
        self.max_bytes, self.truncate, self.sniff, self.transfer = max_bytes, truncate, sniff, transfer
        self.data = bytearray()

    def add(self, pieces: Iterable[bytes]) -> bool:
        """Append decoded pieces; True once the body is full (cut at max_bytes, with truncate)."""
        for piece in pieces:
            self.data += piece
            self.transfer.received = len(self.data)
            if len(self.data) >= SNIFF_BYTES:
                self.sniff_now()
            if len(self.data) > self.max_bytes:
                if not self.truncate:
                    raise FetchError("too_large", f"body over {self.max_bytes} bytes")
                del self.data[self.max_bytes :]
                return True
        return False

    def sniff_now(self) -> None:
        if self.sniff:
            self.sniff = False
            if reason := binary_reason(bytes(self.data[:SNIFF_BYTES])):
                raise FetchError("binary_body", reason)
