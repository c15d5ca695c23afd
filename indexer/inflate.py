"""Content-Encoding decoding (gzip, deflate) in small pieces, so a size limit holds before a bomb inflates."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import httpx

PIECE = 64 * 1024  # most bytes one step of decoding returns
ACCEPT_ENCODING = "gzip, deflate"  # what the crawler asks for: the codings decoded here


class _Zlib:
    """One gzip (possibly several members) or deflate (zlib-wrapped, or raw as some servers send) stream."""

    def __init__(self, gzip: bool) -> None:
        self.gzip, self.started = gzip, False
        self.d = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self.d.decompress(data, PIECE)
            except zlib.error as exc:
                if self.gzip or self.started:
                    raise httpx.DecodingError(f"{'gzip' if self.gzip else 'deflate'}: {exc}") from exc
                self.d = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, without the zlib header
                self.started = True
                continue
            self.started = True
            if out:
                yield out
            if self.d.eof:
                data = self.d.unused_data
                if not (data and self.gzip):
                    return  # bytes after a deflate stream are ignored, as httpx does
                self.d = zlib.decompressobj(16 + zlib.MAX_WBITS)  # the next gzip member
                continue
            data = self.d.unconsumed_tail
            if not data and len(out) < PIECE:  # a full piece may leave output inside zlib: ask again
                return

    def flush(self) -> Iterator[bytes]:
        if out := self.d.flush():
            yield out


class Decoder:
    """Decodes a body as its Content-Encoding header says (codings applied in order, undone in reverse).
    `feed` and `flush` yield pieces of at most PIECE bytes; ValueError for a coding it does not know."""

    def __init__(self, content_encoding: str | None) -> None:
        codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
        self.stages: list[_Zlib] = []
        for coding in reversed([c for c in codings if c and c != "identity"]):
            if coding not in ("gzip", "x-gzip", "deflate"):
                raise ValueError(f"unsupported Content-Encoding {coding!r}")
            self.stages.append(_Zlib(gzip=coding != "deflate"))

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._through(0, data)

    def flush(self) -> Iterator[bytes]:
        for i, stage in enumerate(self.stages):
            for piece in stage.flush():
                yield from self._through(i + 1, piece)

    def _through(self, i: int, data: bytes) -> Iterator[bytes]:
        if i == len(self.stages):
            if data:
                yield data
            return
        for piece in self.stages[i].feed(data):
            yield from self._through(i + 1, piece)
