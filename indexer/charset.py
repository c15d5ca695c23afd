"""Text from fetched bytes (charset by BOM, header, <meta>, detection, else windows-1252); binary sniffing."""

from __future__ import annotations

import codecs
import unicodedata

from bs4.dammit import EncodingDetector
from charset_normalizer import from_bytes

SNIFF_BYTES = 4096  # what binary sniffing looks at
DETECT_BYTES = 65536  # what detection looks at
META_BYTES = 8192  # where a <meta charset> must appear to count
MAX_CONTROL_SHARE = 0.05  # text has almost no C0 controls besides \t \n \f \r; random bytes have ~11 %
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
    """The encoding of undeclared bytes: UTF-8 when they are valid UTF-8; else windows-1252 (what browsers
    fall back to) unless charset-normalizer reads them as another script (Cyrillic, Greek, CJK, ...): its
    guesses between Latin code pages (cp1250, cp1257 for French) are not to be trusted. `cut`: the data is the
    start of a longer body, so it may end inside a character."""
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if cut and exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"  # a multi-byte character cut by the sample's end
    samples = [data]
    if cut:  # the sample must not end inside a character: cut it after a newline or ">" (bytes that no
        # multi-byte encoding uses inside a character) in its second half, else try both alignments
        end = max(data.rfind(b"\n"), data.rfind(b">")) + 1
        samples = [data[:end]] if end > len(data) // 2 else [data, data[:-1]]
    found = [m for m in (from_bytes(sample).best() for sample in samples) if m is not None]
    best = min(found, key=lambda m: (round(m.chaos, 2), -m.coherence)) if found else None
    guess = codec(best.encoding) if best is not None else None
    if best is None or guess is None or guess.startswith(("utf-16", "utf-32")):  # without a BOM: noise
        return "cp1252"
    if _latin(str(best)) and _decodes(data, "cp1252"):
        return "cp1252"
    return guess


def _latin(text: str) -> bool:
    """Whether every non-ASCII letter of text (modifier letters aside) is a Latin one."""
    letters = (c for c in set(text) if ord(c) > 127 and c.isalpha() and unicodedata.category(c) != "Lm")
    return all(unicodedata.name(c, "").startswith("LATIN") for c in letters)


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


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
