"""Local sources: files, folders, file:// URLs and JSON Lines collections, read into events."""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from indexer.document import LINK_SCHEMES, Document, url_scheme
from indexer.events import DocState, Done, Event, Fetched, Skipped, Unchanged
from indexer.parse import parse_html, parse_markdown, parse_pdf, parse_text

PARSERS = {
    ".md": "markdown", ".markdown": "markdown", ".mdx": "markdown",
    ".html": "html", ".htm": "html", ".xhtml": "html",
    ".txt": "text", ".text": "text", ".rst": "text",
    ".pdf": "pdf", ".jsonl": "jsonl", ".ndjson": "jsonl",
}  # fmt: skip
MAX_FILE_BYTES = 50_000_000


def file_stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_mtime_ns}:{st.st_size}"


def list_files(root: Path) -> list[Path]:
    """Indexable files under root (or root itself), hidden files and folders excluded, in a stable order."""
    if root.is_file():
        return [root]
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and Path(name).suffix.lower() in PARSERS:
                out.append(Path(dirpath) / name)
    return out


class SkipFile(Exception):
    """A file that is not indexed: the reason and detail of its Skipped event."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def parse_file(path: Path, source: str) -> Document:
    """A file as a Document; SkipFile for one with nothing to index (no bytes, a PDF without a text layer)."""
    kind = PARSERS.get(path.suffix.lower(), "text")
    url = path.resolve().as_uri()
    data = path.read_bytes()
    if not data:
        raise SkipFile("empty", "an empty file (0 bytes)")
    if kind == "pdf":
        from pypdf.errors import PyPdfError

        try:
            doc = parse_pdf(data, url, source=source)
        except PyPdfError as exc:
            raise SkipFile("parse_error", f"not a readable PDF ({type(exc).__name__}: {exc})") from exc
        if not doc.text:
            raise SkipFile("empty", "a PDF without a text layer (scanned pages? run OCR on it first)")
        return doc
    if kind == "html":
        try:
            html: str | bytes = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            html = data  # not UTF-8: the page's own <meta charset> decides, as for a crawled page
        return parse_html(html, url, source=source).document
    text = data.decode("utf-8-sig", errors="replace")
    if kind == "markdown":
        return parse_markdown(text, url, source=source)
    return parse_text(text, url, source=source, title=path.stem.replace("_", " ").replace("-", " "))


_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false"}
_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON escapes allow lone ones; SQLite cannot store them


def _record(raw: bytes) -> dict[str, Any] | str:
    """One JSONL line as an object, or why it is not one."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
    try:
        rec = json.loads(line)
    except ValueError as exc:
        return f"not JSON ({exc})"
    if not isinstance(rec, dict):
        return f"expected a JSON object, got {_JSON_TYPES.get(type(rec), 'null')}"
    return rec


def _field(rec: dict[str, Any], *keys: str) -> str:
    """The first of keys that has a string or number value, as valid Unicode text; "" if none has."""
    for key in keys:
        value = rec.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return _SURROGATE.sub("\ufffd", str(value))
    return ""


def read_jsonl(path: Path, source: str, lines: tuple[int, int] | None = None) -> Iterator[Event]:
    """One document per line: BEIR-style {"_id","title","text"} or {"id","url","title","text"}. A line that
    is not such an object, or has no text, is skipped with its number and why; the other lines are read.
    `lines` (first, end): only those line numbers (from 1, end excluded), for one shard of a parallel read."""
    base = path.resolve().as_uri()
    try:
        fh = path.open("rb")
    except OSError as exc:
        yield Skipped(base, "read_error", str(exc))
        return
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            if lines is not None and not lines[0] <= lineno < lines[1]:
                continue
            if not raw.strip():
                continue
            where = f"{base}#L{lineno}"
            rec = _record(raw)
            if isinstance(rec, str):
                yield Skipped(where, "parse_error", f"line {lineno}: {rec}")
                continue
            doc_id, text = _field(rec, "_id", "id"), _field(rec, "text")
            if not doc_id:
                yield Skipped(where, "parse_error", f'line {lineno}: no "_id" or "id" (a string or number)')
                continue
            if not text.strip():
                yield Skipped(where, "empty", f'line {lineno}: no "text" to index (id {doc_id})')
                continue
            url = _field(rec, "url")
            if url_scheme(url) not in LINK_SCHEMES:  # javascript:, data:, relative: the line's own place
                url = f"{base}#{doc_id}"
            doc = parse_text(text, url, doc_id=doc_id, source=source, title=_field(rec, "title") or doc_id)
            doc.doctype = "jsonl"
            yield Fetched(doc)


def read_local(path: Path, source: str, known: dict[str, DocState]) -> Iterator[Event]:
    """Events for a local file or folder: unchanged files (same mtime and size) are not even read."""
    if not path.exists():
        yield Skipped(str(path), "not_found", f"{path} does not exist")
        yield Done(complete=False)
        return
    for file in list_files(path):
        suffix = file.suffix.lower()
        if suffix not in PARSERS and file != path:
            continue
        if suffix in (".jsonl", ".ndjson"):
            yield from read_jsonl(file, source)
            continue
        url = file.resolve().as_uri()
        try:
            stamp = file_stamp(file)
            if file.stat().st_size > MAX_FILE_BYTES:
                yield Skipped(url, "too_large")
                continue
            state = known.get(url)
            if state is not None and state.last_modified == stamp:
                yield Unchanged(url)
                continue
            doc = parse_file(file, source)
        except SkipFile as exc:
            yield Skipped(url, exc.reason, exc.detail)
            continue
        except (OSError, ValueError) as exc:
            yield Skipped(url, "read_error", str(exc))
            continue
        except Exception as exc:  # a broken PDF or odd encoding must not stop the run
            yield Skipped(url, "parse_error", f"{type(exc).__name__}: {exc}")
            continue
        doc.last_modified = stamp
        yield Fetched(doc)
    yield Done(complete=True)
