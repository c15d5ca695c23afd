"""Classify SOURCE arguments (URL, sitemap, file://, file, folder, JSONL) and open a reader for each."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from indexer.events import DocState, Event
from indexer.files import read_local
from searchchat.settings import Settings


@dataclass
class SourceSpec:
    """A normalised source: `key` is how it is stored and listed (`searchchat sources`)."""

    key: str
    kind: str  # web, sitemap, folder, file, jsonl
    path: Path | None = None


def classify(source: str) -> SourceSpec:
    parts = urlsplit(source)
    if parts.scheme in ("http", "https"):
        from indexer.urls import normalize_url

        url = normalize_url(source)
        if url is None:
            raise ValueError(f"Not a crawlable URL: {source!r}")
        is_sitemap = parts.path.lower().endswith((".xml", ".xml.gz")) or "sitemap" in parts.path.lower()
        return SourceSpec(key=url, kind="sitemap" if is_sitemap else "web")
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
    elif parts.scheme and len(parts.scheme) > 1:
        raise ValueError(f"Unsupported source {source!r}: use a path, file:// URL or http(s) URL.")
    else:
        path = Path(source).expanduser()
    path = path.resolve()
    if not path.exists():
        raise FileNotFoundError(f"No such file or folder: {source}")
    if path.is_dir():
        kind = "folder"
    elif path.suffix.lower() in (".jsonl", ".ndjson"):
        kind = "jsonl"
    else:
        kind = "file"
    return SourceSpec(key=str(path), kind=kind, path=path)


def read_source(
    spec: SourceSpec, known: dict[str, DocState], settings: Settings, crawl_options: dict | None = None
) -> Iterator[Event]:
    if spec.path is not None:
        return read_local(spec.path, spec.key, known)
    from indexer.crawl import CrawlOptions, crawl

    options = CrawlOptions.from_settings(settings, **(crawl_options or {}))
    if spec.kind == "sitemap":
        options.sitemap = True
    return crawl([spec.key], spec.key, known, options)
