"""Crawl a real local site through the whole pipeline, change one page and delete another, crawl again."""

from __future__ import annotations

from indexer.pipeline import index_sources
from indexer.store import IndexStore
from searchchat.indexing import index_options
from tests.crawl_site import Site, clean_site, crawl_site  # noqa: F401

FAST = {"delay": 0.0, "max_retries": 1, "timeout": 0.8, "max_bytes": 100_000}


def _docs(settings) -> dict[str, str]:
    store = IndexStore.open(settings.index_dir)
    return {c.doc_id: c.text for c in store.all_chunks()}


def test_incremental_recrawl_changes_one_page_and_deletes_another(clean_site: Site, settings, fake_embedder):  # noqa: F811
    start = clean_site.url("/index.html")
    first = index_sources([start], index_options(settings, **FAST), embedder=fake_embedder)
    assert first.documents_added >= 4 and first.documents_removed == 0
    before = _docs(settings)
    assert clean_site.url("/a.html") in before and clean_site.url("/b.html") in before

    clean_site.set_html("/a.html", "A changed", '<p>Lighthouses guide ships.</p><a href="b.html">b</a>')
    del clean_site.pages["/b.html"]
    n_requests = len(clean_site.requests)
    second = index_sources([start], index_options(settings, **FAST), embedder=fake_embedder)

    assert second.documents_updated == 1 and second.documents_removed == 1
    assert second.documents_unchanged >= 2 and second.documents_added == 0
    after = _docs(settings)
    assert "Lighthouses guide ships." in after[clean_site.url("/a.html")]
    assert clean_site.url("/b.html") not in after
    # unchanged pages were asked for conditionally and answered 304, so they were not re-embedded
    recrawl = clean_site.requests[n_requests:]
    assert any("If-None-Match" in r.headers or "If-Modified-Since" in r.headers for r in recrawl)
    assert second.chunks_added == len([d for d in after if d == clean_site.url("/a.html")])
    store = IndexStore.open(settings.index_dir)
    assert store.stats().chunks == store.vectors.ntotal


def test_trap_site_summary_reports_skips_and_keeps_unseen(crawl_site: Site, settings, fake_embedder):  # noqa: F811
    start = crawl_site.url("/index.html")
    summary = index_sources([start], index_options(settings, **FAST), embedder=fake_embedder)
    skipped = summary.skipped
    assert skipped.get("robots", 0) >= 1
    assert skipped.get("redirect_loop", 0) == 1 and skipped.get("too_large", 0) >= 1
    assert skipped.get("content_type", 0) >= 1 and skipped.get("noindex", 0) == 1
    assert not crawl_site.requests_for("/private/secret.html")
    assert not crawl_site.requests_for("/hidden.html")
    docs = _docs(settings)
    assert crawl_site.url("/canonical-target.html") in docs  # the canonical URL is the document id


def test_a_chunking_change_refetches_and_rechunks_unchanged_pages(clean_site: Site, settings, fake_embedder):  # noqa: F811
    start = clean_site.url("/index.html")
    first = index_sources([start], index_options(settings, **FAST), embedder=fake_embedder)
    n_requests = len(clean_site.requests)
    smaller = settings.model_copy(update={"chunk_tokens": 8, "chunk_overlap": 2})
    second = index_sources([start], index_options(smaller, **FAST), embedder=fake_embedder)
    assert second.documents_updated == first.documents_added and second.documents_unchanged == 0
    recrawl = clean_site.requests[n_requests:]
    assert recrawl and not any(
        "If-None-Match" in r.headers or "If-Modified-Since" in r.headers for r in recrawl
    )
