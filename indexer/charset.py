"""Text from fetched bytes (charset by BOM, header, <meta>, detection, else windows-1252); binary sniffing."""

from __future__ import annotations

import codecs

from bs4.dammit import EncodingDetector
from charset_normalizer import from_bytes
from charset_normalizer.md import mess_ratio

SNIFF_BYTES = 4096  # what binary sniffing looks at
DETECT_BYTES = 65536  # what detection looks at
META_BYTES = 8192  # where a <meta charset> must appear to count
MAX_CONTROL_SHARE = 0.05  # text has almost no C0 controls besides \t \n \f \r; random bytes have ~11 %
MAX_LATIN_MESS = 0.2  # windows-1252 is kept while charset-normalizer's mess ratio of that reading stays below
# UTF-32 LE comes before UTF-16 LE, whose BOM is its prefix
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)  # fmt: skip
_CONTROLS = frozenset(range(32)) - {9, 10, 12, 13}
# Labels browsers read as windows-1252 (WHATWG Encoding): Latin-1 and ASCII
_ALIASES = {"iso8859-1": "cp1252", "ascii": "cp1252"}


def codec(label: str | None) -> str | None:
    """Python's codec name for a charset label as a browser reads it, None for an unknown label."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None
    return _ALIASES.get(name, name)


def bom_codec(data: bytes) -> str | None:
    return next((name for bom, name in _BOMS if data.startswith(bom)), None)


def binary_reason(sample: bytes) -> str | None:
    """Why the start of a body said to be text looks binary (NUL bytes, control characters), or None."""
    if bom_codec(sample) or not sample:
        return None
    if b"\x00" in sample:
        return f"NUL bytes in the first {len(sample)} bytes"
    controls = sum(1 for b in sample if b in _CONTROLS)
    if controls > MAX_CONTROL_SHARE * len(sample):
        return f"{controls / len(sample):.0%} control characters in the first {len(sample)} bytes"
    return None


def detect(data: bytes, cut: bool = False) -> str:
    """The encoding of undeclared bytes: UTF-8 when they are valid UTF-8, windows-1252 when they read
    cleanly as it (what browsers fall back to; charset-normalizer often says cp1250 or cp1257 for Western
    text), else charset-normalizer's guess (Cyrillic, CJK, ...), else windows-1252. `cut`: the data is the
    start of a longer body, so it may end inside a UTF-8 character."""
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if cut and exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"  # a multi-byte character cut by the sample's end
    try:
        latin = data.decode("cp1252")
    except UnicodeDecodeError:
        latin = None
    if latin is not None and mess_ratio(latin, MAX_LATIN_MESS) < MAX_LATIN_MESS:
        return "cp1252"
    best = from_bytes(data).best()
    return (codec(best.encoding) or "cp1252") if best is not None else "cp1252"


def choose_encoding(body: bytes, header_charset: str | None, html: bool) -> str:
    """The codec for a body: a BOM, then the Content-Type charset, then (HTML) a <meta charset> or
    http-equiv declaration, then detection."""
    if bom := bom_codec(body):
        return bom
    if declared := codec(header_charset):
        return declared
    if html:
        meta = codec(EncodingDetector.find_declared_encoding(body[:META_BYTES], is_html=True))
        if meta is not None:  # a UTF-16 label in the bytes themselves can only be wrong: they read as ASCII
            return "utf-8" if meta.startswith(("utf-16", "utf-32")) else meta
    sample = body[:DETECT_BYTES]
    return detect(sample, cut=len(sample) < len(body))


def decode_body(body: bytes, header_charset: str | None, html: bool = False) -> str:
    """A body as text (see choose_encoding); a BOM is dropped, undecodable bytes become U+FFFD."""
    encoding = choose_encoding(body, header_charset, html)
    if encoding == "utf-8":
        encoding = "utf-8-sig"
    text = body.decode(encoding, errors="replace")
    return text[1:] if text.startswith("\ufeff") else text
