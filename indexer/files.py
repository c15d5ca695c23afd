"""Local sources: files, folders, file:// URLs and JSON Lines collections, read into events."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from indexer.events import DocState, Done, Event, Fetched, Skipped, Unchanged
from indexer.parse import parse_html, parse_markdown, parse_pdf, parse_text
from searchchat.types import LINK_SCHEMES, Document, url_scheme

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


def parse_file(path: Path, source: str) -> Document:
    kind = PARSERS.get(path.suffix.lower(), "text")
    url = path.resolve().as_uri()
    if kind == "pdf":
        return parse_pdf(path.read_bytes(), url, source=source)
    text = path.read_text(encoding="utf-8", errors="replace")
    if kind == "html":
        return parse_html(text, url, source=source).document
    if kind == "markdown":
        return parse_markdown(text, url, source=source)
    return parse_text(text, url, source=source, title=path.stem.replace("_", " ").replace("-", " "))


def read_jsonl(path: Path, source: str) -> Iterator[Event]:
    """One document per line: BEIR-style {"_id","title","text"} or {"id","url","title","text"}."""
    base = path.resolve().as_uri()
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                doc_id = str(rec.get("_id", rec.get("id")))
                if doc_id == "None":
                    raise KeyError("_id or id")
                text = str(rec.get("text") or "")
            except (ValueError, KeyError, AttributeError) as exc:
                yield Skipped(f"{base}#L{lineno}", "parse_error", f"line {lineno}: {exc}")
                continue
            url = str(rec.get("url") or "")
            if url_scheme(url) not in LINK_SCHEMES:  # javascript:, data:, relative: the line's own place
                url = f"{base}#{doc_id}"
            doc = parse_text(text, url, doc_id=doc_id, source=source, title=str(rec.get("title") or doc_id))
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
        except (OSError, ValueError) as exc:
            yield Skipped(url, "read_error", str(exc))
            continue
        except Exception as exc:  # a broken PDF or odd encoding must not stop the run
            yield Skipped(url, "parse_error", f"{type(exc).__name__}: {exc}")
            continue
        doc.last_modified = stamp
        yield Fetched(doc)
    yield Done(complete=True)
