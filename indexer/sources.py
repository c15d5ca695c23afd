"""Classify SOURCE arguments (URL, sitemap, file://, file, folder, JSONL) and open a reader for each."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from indexer.events import DocState, Event
from indexer.files import read_local
from indexer.options import CrawlOptions

MAX_SOURCE_CHARS = 2000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# check_source's rule as a regular expression (for the API's schema): something besides whitespace, no controls
SOURCE_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"


class InvalidSource(ValueError):
    """A SOURCE argument that cannot name any source: empty, too long, or with control characters."""


class UnusableSource(ValueError):
    """A SOURCE argument that names nothing here: a ~user that does not exist, a path the system refuses."""


def check_source(source: str) -> str:
    """`source` itself when it could name a source, else InvalidSource with the reason."""
    if not source.strip():
        raise InvalidSource("The source is empty.")
    if len(source) > MAX_SOURCE_CHARS:
        raise InvalidSource(f"The source is longer than {MAX_SOURCE_CHARS} characters.")
    if _CONTROL.search(source):
        raise InvalidSource(f"The source {source!r} contains control characters.")
    return source


@dataclass
class SourceSpec:
    """A normalised source: `key` is how it is stored and listed (`searchchat sources`)."""

    key: str
    kind: str  # web, sitemap, folder, file, jsonl
    path: Path | None = None


def classify(source: str) -> SourceSpec:
    """The SourceSpec of a SOURCE argument. Every refusal is a ValueError (InvalidSource, UnusableSource, ...)
    or a FileNotFoundError, with a message for people: never an OSError or RuntimeError from the system."""
    check_source(source)
    parts = urlsplit(source)
    if parts.scheme in ("http", "https"):
        from indexer.urls import normalize_url

        url = normalize_url(source)
        if url is None:
            raise ValueError(f"Not a crawlable URL: {source!r}")
        is_sitemap = parts.path.lower().endswith((".xml", ".xml.gz")) or "sitemap" in parts.path.lower()
        return SourceSpec(key=url, kind="sitemap" if is_sitemap else "web")
    if parts.scheme == "file":
        path = Path(check_source(unquote(parts.path)))
    elif parts.scheme and len(parts.scheme) > 1:
        raise ValueError(f"Unsupported source {source!r}: use a path, file:// URL or http(s) URL.")
    else:
        try:
            path = Path(source).expanduser()
        except RuntimeError:  # ~name of no user
            raise UnusableSource(f"No such user's home directory: {source.split('/', 1)[0]}") from None
    try:
        path = path.resolve()
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as exc:  # a name too long for the file system, a loop of links, ...
        raise UnusableSource(f"Not a usable path: {exc.strerror or exc} ({source[:80]!r})") from None
    if not exists:
        raise FileNotFoundError(f"No such file or folder: {source}")
    if is_dir:
        kind = "folder"
    elif path.suffix.lower() in (".jsonl", ".ndjson"):
        kind = "jsonl"
    else:
        kind = "file"
    return SourceSpec(key=str(path), kind=kind, path=path)


def read_source(spec: SourceSpec, known: dict[str, DocState], crawl_options: CrawlOptions) -> Iterator[Event]:
    """The events of one source: local files are read, web and sitemap sources crawled with crawl_options."""
    if spec.path is not None:
        return read_local(spec.path, spec.key, known)
    from indexer.crawl import crawl

    options = dataclasses.replace(crawl_options, sitemap=True) if spec.kind == "sitemap" else crawl_options
    return crawl([spec.key], spec.key, known, options)
