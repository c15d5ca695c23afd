"""The snapshot store: write, reopen, search; atomic publish; the writer lock; live reload for readers."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.document import Chunk, Document
from indexer.pipeline import index_sources
from indexer.store import IndexLocked, IndexMismatch, IndexNotFound, IndexStore, IndexWriter, StoreHandle
from searchchat.indexing import index_options
from searchchat.retrieval.retriever import Retriever
from tests.helpers import write_docs


def _doc(i: int) -> tuple[Document, list[Chunk]]:
    doc = Document(doc_id=f"d{i}", url=f"file:///d{i}", title=f"Doc {i}", source="src", content_hash=f"h{i}")
    chunks = [Chunk(None, doc.doc_id, doc.url, doc.title, "S", f"text {i} {j}", position=j) for j in range(2)]
    return doc, chunks


def test_round_trip_write_reopen_search(tmp_path):
    vecs = np.eye(4, dtype=np.float32)
    with IndexWriter(tmp_path / "ix", "fake", 4) as w:
        for i in range(2):
            doc, chunks = _doc(i)
            w.upsert_document(doc, chunks, vecs[2 * i : 2 * i + 2])
        w.touch_source("src", "folder")
        w.commit()
    store = IndexStore.open(tmp_path / "ix")
    stats = store.stats()
    assert (stats.documents, stats.chunks, stats.sources, stats.dim) == (2, 4, 1, 4)
    (cid, score), *_ = store.dense_search(vecs[3], 2)
    chunk = store.get_chunks([cid])[cid]
    assert (chunk.doc_id, chunk.text, round(score, 5)) == ("d1", "text 1 1", 1.0)
    assert store.sources() == [
        {"source": "src", "kind": "folder", "last_indexed": store.sources()[0]["last_indexed"],
         "documents": 2, "chunks": 4}
    ]  # fmt: skip


def test_upsert_replaces_and_delete_removes_vectors(tmp_path):
    vecs = np.eye(4, dtype=np.float32)
    with IndexWriter(tmp_path, "fake", 4) as w:
        doc, chunks = _doc(0)
        w.upsert_document(doc, chunks, vecs[:2])
        doc, chunks = _doc(0)
        assert w.upsert_document(doc, chunks, vecs[2:]) == 2  # the two old chunks went
        w.commit()
    store = IndexStore.open(tmp_path)
    assert store.vectors.ntotal == 2 and store.stats().chunks == 2
    with IndexWriter(tmp_path, "fake", 4) as w:
        assert w.delete_document("d0") == 2
        w.commit()
    assert IndexStore.open(tmp_path).vectors.ntotal == 0


def test_uncommitted_run_leaves_previous_snapshot(tmp_path):
    vecs = np.eye(4, dtype=np.float32)
    with IndexWriter(tmp_path, "fake", 4) as w:
        w.upsert_document(*_doc(0), vecs[:2])
        first = w.commit()
    with IndexWriter(tmp_path, "fake", 4) as w:
        w.upsert_document(*_doc(1), vecs[2:])
        # no commit: the run fails
    store = IndexStore.open(tmp_path)
    assert store.version == first and store.stats().documents == 1
    assert not list((tmp_path / "snapshots").glob(".tmp-*"))


def test_snapshot_renamed_but_never_published_is_removed_by_the_next_run(tmp_path, monkeypatch):
    """A commit that dies between renaming its snapshot and switching CURRENT leaves a finished snapshot that
    no reader ever saw; the next writer removes it, so its garbage collection keeps the published ones."""
    import indexer.store.writer as store_mod

    vecs = np.eye(4, dtype=np.float32)
    published = []
    for i in range(2):
        with IndexWriter(tmp_path, "fake", 4) as w:
            w.upsert_document(*_doc(i), vecs[2 * i : 2 * i + 2])
            published.append(w.commit())

    def dies_at_the_switch(src, dst):
        raise KeyboardInterrupt("killed")  # as SIGKILL would, right before CURRENT moves

    with monkeypatch.context() as m:
        m.setattr(store_mod.os, "replace", dies_at_the_switch)
        with pytest.raises(KeyboardInterrupt), IndexWriter(tmp_path, "fake", 4) as w:
            w.commit()
    orphan = {p.name for p in (tmp_path / "snapshots").iterdir()} - set(published)
    assert len(orphan) == 1 and IndexStore.open(tmp_path).version == published[1]

    with IndexWriter(tmp_path, "fake", 4) as w:
        latest = w.commit()
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == [published[1], latest]


def test_snapshot_names_sort_as_their_commits_even_across_a_second(monkeypatch):
    """The name's seconds and nanoseconds come from one clock reading: read twice, a commit at x.999999999 s
    and the next at x+1.000000001 s could both be named second x, the later one first."""
    import time

    from indexer.store.writer import snapshot_name

    before, after = 1_700_000_000_999_999_999, 1_700_000_001_000_000_001
    assert snapshot_name(before) < snapshot_name(after)
    assert snapshot_name(before).endswith("-999999999") and snapshot_name(after).endswith("-000000001")
    assert snapshot_name(after).split("-")[1] == time.strftime("%H%M%S", time.localtime(1_700_000_001))


def test_lock_keeps_two_writers_apart(tmp_path):
    with IndexWriter(tmp_path, "fake", 4), pytest.raises(IndexLocked, match="Another indexer"):
        IndexWriter(tmp_path, "fake", 4).open()


def test_embedder_mismatch_is_refused(tmp_path):
    with IndexWriter(tmp_path, "fake", 4) as w:
        w.commit()
    with pytest.raises(IndexMismatch, match="built with embedder"):
        IndexWriter(tmp_path, "other", 8).open()
    IndexWriter(tmp_path, "fake", 4).open()  # and the lock was released by the failed open


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexNotFound, match="searchchat index"):
        IndexStore.open(tmp_path / "nothing")


def test_reader_picks_up_new_snapshot(tmp_path, settings, fake_embedder):
    docs = write_docs(tmp_path / "docs")
    index_sources([str(docs)], index_options(settings), embedder=fake_embedder)
    handle = StoreHandle(settings.index_dir)
    retriever = Retriever(handle, fake_embedder, settings)
    before = handle.get().version
    assert retriever.search("robots.txt disallow", k=1).hits[0].chunk.title == "Robots"
    (docs / "new.md").write_text("# Sitemaps\n\nA sitemap.xml lists the URLs of a site for crawlers.\n")
    index_sources([str(docs)], index_options(settings), embedder=fake_embedder)
    assert handle.get().version != before
    assert retriever.search("sitemap.xml URLs", k=1).hits[0].chunk.title == "Sitemaps"
