"""The links each crawled page had, kept between runs, so that a page answering 304 still leads on.

A conditional request is only sent when the cache holds the page's links for exactly the validators the
index has (etag/last-modified): a 304 then proves those links are still the page's links. Without such an
entry the page is fetched in full. The file is a hint, never the truth: losing it only costs bandwidth.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

VERSION = 1


@dataclass
class PageRecord:
    """What one fetch of a URL showed: its validators, the document id it gave, the links it had."""

    etag: str | None
    last_modified: str | None
    doc_id: str
    links: list[str] = field(default_factory=list)


class LinkCache:
    """url -> PageRecord for one source, stored as JSON at `path` (None: in memory only)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.pages: dict[str, PageRecord] = {}
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text())
                if data.get("version") == VERSION:
                    self.pages = {u: PageRecord(*rec) for u, rec in data["pages"].items()}
            except (OSError, ValueError, TypeError, KeyError):
                self.pages = {}  # a damaged cache only means full fetches

    @staticmethod
    def path_for(cache_dir: Path, source: str) -> Path:
        return cache_dir / f"{hashlib.sha256(source.encode()).hexdigest()[:24]}.json"

    def get(self, url: str) -> PageRecord | None:
        return self.pages.get(url)

    def put(self, url: str, record: PageRecord) -> None:
        self.pages[url] = record

    def save(self, keep: set[str]) -> None:
        """Write atomically, keeping only entries whose URL or document id is in `keep`."""
        if self.path is None:
            return
        pages = {
            u: [r.etag, r.last_modified, r.doc_id, r.links]
            for u, r in self.pages.items()
            if u in keep or r.doc_id in keep
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"version": VERSION, "pages": pages}, f)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
