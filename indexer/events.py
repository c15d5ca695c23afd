"""What a source reader reports to the indexing pipeline, one event per document or skip."""

from __future__ import annotations

from dataclasses import dataclass

from indexer.document import Document


@dataclass
class DocState:
    """What the index already knows about a document: used for conditional requests and change checks."""

    doc_id: str
    url: str
    content_hash: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class Fetched:
    """A document was read (new or possibly changed); the pipeline compares hashes and re-embeds if needed."""

    document: Document


@dataclass
class Unchanged:
    """The source says the document did not change (HTTP 304, same file mtime and size)."""

    doc_id: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class Skipped:
    """A URL or file was not indexed. reason: robots, scope, duplicate, noindex, too_large, content_type,
    redirect_loop, too_many_redirects, timeout, binary_body, max_seconds, http_404, connect_error, ..."""

    url: str
    reason: str
    detail: str = ""


@dataclass
class Gone:
    """A previously indexed document disappeared (404/410): remove it."""

    doc_id: str
    reason: str = "gone"


@dataclass
class Done:
    """The reader finished. complete=False (e.g. --max-pages reached) keeps unseen documents; `reason` says
    why a crawl stopped early (max_pages, max_seconds), empty otherwise."""

    complete: bool = True
    reason: str = ""


Event = Fetched | Unchanged | Skipped | Gone | Done
