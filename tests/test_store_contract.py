"""The store contract, run against every backend (local snapshots, Milvus Lite): add, search, filter, remove,
incremental runs, and what a failed or killed run leaves."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from indexer.document import Chunk, Document
from indexer.pipeline import index_sources, remove_source
from indexer.store import (
    ChunkFilter,
    IndexLocked,
    IndexMismatch,
    IndexNotFound,
    open_handle,
    open_reader,
    open_writer,
    parse_store,
)
from searchchat.indexing import index_options
from searchchat.retrieval.retriever import Filters, Retriever
from tests.helpers import write_docs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lite_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Milvus Lite file for the module (a server per file and process); each test has its own index dir,
    so its own collections."""
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    return tmp_path_factory.mktemp("milvus") / "lite.db"


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Milvus server URI: Milvus Lite's gRPC server in a process of its own on a TCP port (`python -m
    milvus_lite server`), so the suite runs through the server path (`milvus://host:port`, any number of
    client processes) rather than the in-process .db one. Milvus Lite's engine, not Milvus standalone: the
    embedded `milvus` package (2.3.5, the last on PyPI) starts a real standalone, but Milvus 2.3 has no sparse
    vectors or BM25 functions, which the store's schema needs (docs/scaling.md)."""
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    data = tmp_path_factory.mktemp("milvus-server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    log = (data / "server.log").open("wb")
    cmd = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data / "data"), "--host", "127.0.0.1",
           "--port", str(port)]  # fmt: skip
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"the Milvus Lite server did not start:\n{(data / 'server.log').read_text()[-3000:]}"
                )
            time.sleep(0.2)
        yield f"milvus://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


@pytest.fixture(params=["local", "milvus", "milvus-server"])
def store(request: pytest.FixtureRequest) -> str:
    if request.param == "milvus":
        return f"milvus://{request.getfixturevalue('lite_db')}"
    if request.param == "milvus-server":
        return str(request.getfixturevalue("milvus_server"))
    return "local"


def _doc(
    i: int, source: str = "src", url: str | None = None, doctype: str = "text"
) -> tuple[Document, list[Chunk]]:
    url = url or f"file:///d{i}"
    doc = Document(
        doc_id=url, url=url, title=f"Doc {i}", source=source, content_hash=f"h{i}", doctype=doctype
    )
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    chunks = [
        Chunk(None, doc.doc_id, url, doc.title, "S", f"{words[i % 6]} text {i} part {j}", position=j)
        for j in range(2)
    ]
    return doc, chunks


def _write(store: str, index_dir: Path, docs: list[tuple[Document, list[Chunk]]], dim: int = 8) -> str:
    vecs = np.eye(dim, dtype=np.float32)
    with open_writer(store, index_dir, "fake", dim) as w:
        for n, (doc, chunks) in enumerate(docs):
            w.upsert_document(doc, chunks, vecs[[(2 * n + j) % dim for j in range(len(chunks))]])
            w.touch_source(doc.source, "folder", {"depth": 1})
        return w.commit()


def test_round_trip_and_lookups(store, tmp_path):
    _write(store, tmp_path / "ix", [_doc(0), _doc(1)])
    r = open_reader(store, tmp_path / "ix")
    stats = r.stats()
    assert (stats.documents, stats.chunks, stats.sources, stats.dim, stats.embedder) == (2, 4, 1, 8, "fake")
    (cid, score), *_ = r.search_dense(np.eye(8, dtype=np.float32)[3], 2)
    chunk = r.get_chunks([cid])[cid]
    assert (chunk.doc_id, chunk.text, round(score, 5)) == ("file:///d1", "bravo text 1 part 1", 1.0)
    assert r.chunk_meta([cid]) == {cid: ("file:///d1", "src", "text")}
    assert [c.position for c in r.document_chunks("file:///d1")] == [0, 1]
    assert [c.text for c in r.all_chunks()][0] == "alpha text 0 part 0"
    assert r.find_document("file:///d0").title == "Doc 0" and r.find_document("nope") is None
    assert r.document_keys({"file:///d0", "file:///zz"}) == {"file:///d0"}
    assert [(s["source"], s["kind"], s["documents"], s["chunks"]) for s in r.sources()] == [
        ("src", "folder", 2, 4)
    ]
    assert r.source_options("src") == ("folder", {"depth": 1}) and r.source_options("other") is None
    assert r.manifest["embedder"] == "fake" and r.dim == 8


def test_filters_apply_to_both_legs(store, tmp_path):
    docs = [
        _doc(0, source="a", url="file:///a_b/one", doctype="markdown"),
        _doc(6, source="a", url="file:///axb/two", doctype="text"),  # 'alpha' again; '_' must not match 'x'
        _doc(12, source="b", url="file:///c/three", doctype="html"),
    ]
    _write(store, tmp_path / "ix", docs)
    r = open_reader(store, tmp_path / "ix")
    cases = {
        ChunkFilter(sources=("a",)): {"file:///a_b/one", "file:///axb/two"},
        ChunkFilter(url_prefix="file:///a_b/"): {"file:///a_b/one"},
        ChunkFilter(doctype="HTML"): {"file:///c/three"},
        ChunkFilter(sources=("a",), doctype="text"): {"file:///axb/two"},
        ChunkFilter(sources=("nope",)): set(),
    }
    for where, urls in cases.items():
        meta = r.chunk_meta([int(i) for i in r.chunk_ids(where)])
        assert {m[0] for m in meta.values()} == urls, where
        dense = r.search_dense(np.ones(8, dtype=np.float32), 10, where)
        lexical = r.search_lexical("alpha text", 10, where)
        for hits in (dense, lexical):
            assert {m[0] for m in r.chunk_meta([c for c, _ in hits]).values()} <= urls, where
        assert len(dense) == 2 * len(urls)
    assert r.search_lexical("the of and", 10) == []  # stopwords only: nothing to match


def test_hybrid_search_and_per_document_cap(store, tmp_path, settings, fake_embedder):
    docs = write_docs(tmp_path / "docs")
    s = settings.with_overrides(store=store)
    index_sources([str(docs)], index_options(s), embedder=fake_embedder)
    retriever = Retriever(open_handle(store, s.index_dir), fake_embedder, s.with_overrides(per_doc_cap=1))
    for mode in ("dense", "bm25", "hybrid"):
        hits = retriever.search("BM25 saturation of term frequency", k=4, mode=mode).hits
        assert hits and hits[0].chunk.title == "BM25", mode
        assert len({h.chunk.doc_id for h in hits}) == len(hits)  # one chunk per document
    only = retriever.search("crawler", k=4, filters=Filters(source=str(docs))).hits
    assert only and all(h.source == str(docs.resolve()) for h in only)
    assert retriever.search("crawler", k=4, filters=Filters(doctype="pdf")).hits == []


def test_backends_rank_alike(lite_db, tmp_path, settings, fake_embedder):
    """The same corpus in both stores gives the same hits in every mode: the figures compare."""
    docs = write_docs(tmp_path / "docs")
    results = []
    for store in ("local", f"milvus://{lite_db}"):
        s = settings.with_overrides(store=store, index=tmp_path / f"ix-{len(results)}")
        index_sources([str(docs)], index_options(s), embedder=fake_embedder)
        retriever = Retriever(open_reader(store, s.index_dir), fake_embedder, s)
        results.append({
            (q, mode): [(h.chunk.doc_id, h.chunk.position) for h in retriever.search(q, k=5, mode=mode).hits]
            for q in ("BM25 scoring", "robots.txt rules for crawlers", "adversarial training")
            for mode in ("dense", "bm25", "hybrid")
        })  # fmt: skip
    assert results[0] == results[1]


def test_incremental_runs_and_removal(store, tmp_path, settings, fake_embedder):
    docs = write_docs(tmp_path / "docs")
    s = settings.with_overrides(store=store)
    first = index_sources([str(docs)], index_options(s), embedder=fake_embedder)
    again = index_sources([str(docs)], index_options(s), embedder=fake_embedder)
    assert again.documents_unchanged == first.documents_added == 4 and again.chunks_added == 0
    (docs / "bm25.md").write_text("# BM25\n\n## Scoring\n\nOkapi BM25 with saturation parameter k1 = 1.2.\n")
    os.utime(docs / "bm25.md", ns=(1, 1))
    (docs / "faiss.md").unlink()
    third = index_sources([str(docs)], index_options(s), embedder=fake_embedder)
    assert (third.documents_updated, third.documents_removed, third.documents_unchanged) == (1, 1, 2)
    r = open_reader(store, s.index_dir)
    assert {c.title for c in r.all_chunks()} == {"GANs", "BM25", "Robots"}
    assert r.stats().chunks == third.total_chunks == len(list(r.all_chunks()))
    assert remove_source(str(docs), s.index_dir, store) == (3, third.total_chunks)
    r = open_reader(store, s.index_dir)
    assert (r.sources(), r.stats().documents, r.search_lexical("BM25", 5)) == ([], 0, [])
    with pytest.raises(KeyError):
        remove_source(str(docs), s.index_dir, store)


def test_a_run_is_invisible_until_commit_and_a_failed_one_leaves_nothing(store, tmp_path):
    first = _write(store, tmp_path / "ix", [_doc(0), _doc(1)])
    vecs = np.eye(8, dtype=np.float32)
    with open_writer(store, tmp_path / "ix", "fake", 8) as w:
        w.upsert_document(*_doc(2), vecs[:2])
        w.delete_document("file:///d0")
        w.upsert_document(*_doc(1), vecs[2:4])  # replaced: its old chunks must stay visible until commit
        reader = open_reader(store, tmp_path / "ix")
        assert reader.version == first and reader.stats().documents == 2
        assert {c.doc_id for c in reader.all_chunks()} == {"file:///d0", "file:///d1"}
        assert len(reader.search_lexical("text", 10)) == 4
        assert w.counts() == (2, 4)  # the run sees its own changes
        # no commit: the run fails
    r = open_reader(store, tmp_path / "ix")
    assert r.version == first and (r.stats().documents, r.stats().chunks) == (2, 4)
    assert sorted(c.text for c in r.all_chunks())[0] == "alpha text 0 part 0"
    second = _write(store, tmp_path / "ix", [_doc(3)])
    r = open_reader(store, tmp_path / "ix")
    assert r.version == second != first and (r.stats().documents, r.stats().chunks) == (3, 6)


KILLED_RUN = """
import os, signal, sys
import numpy as np
sys.path.insert(0, {root!r})
from tests.test_store_contract import _doc, _write
from indexer.store import open_writer
store, index_dir = {store!r}, {index_dir!r}
if sys.argv[1] == "commit":
    _write(store, index_dir, [_doc(0), _doc(1)])
    sys.exit(0)
w = open_writer(store, index_dir, "fake", 8)
w.open()
w.upsert_document(*_doc(1), np.eye(8, dtype=np.float32)[:2])
w.upsert_document(*_doc(2), np.eye(8, dtype=np.float32)[2:4])
w.delete_document("file:///d0")
if hasattr(w, "pending"):  # Milvus: what the run wrote reaches Milvus, and its disk, before the kill
    w.pending.send()
    for coll in (w.chunks, w.documents):
        w.mc.flush(coll)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_run_leaves_the_committed_index(store, tmp_path):
    """SIGKILL in the middle of a run: readers see the last commit, and the next run starts from it."""
    if store.startswith(
        "milvus:///"
    ):  # a file of its own: Milvus Lite serves a file from one process at a time
        store = f"milvus://{tmp_path / 'killed.db'}"
    script = KILLED_RUN.format(root=str(ROOT), store=store, index_dir=str(tmp_path / "ix"))
    for step, code in (("commit", 0), ("kill", -signal.SIGKILL)):
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), step], cwd=ROOT, timeout=120)
        assert done.returncode == code
    r = open_reader(store, tmp_path / "ix")
    assert (r.stats().documents, r.stats().chunks) == (2, 4)
    assert {c.doc_id for c in r.all_chunks()} == {"file:///d0", "file:///d1"}
    _write(store, tmp_path / "ix", [_doc(3)])
    r = open_reader(store, tmp_path / "ix")
    assert {c.doc_id for c in r.all_chunks()} == {"file:///d0", "file:///d1", "file:///d3"}
    assert len(r.search_lexical("text", 20)) == 6 == len(r.search_dense(np.ones(8, dtype=np.float32), 20))


def test_a_cut_short_milvus_lite_index_file_is_rebuilt(tmp_path):
    """Milvus Lite writes its index files in place, and a run killed mid-write leaves one cut short: the next reader
    rebuilds the index from the stored vectors instead of failing on every open."""
    pytest.importorskip("milvus_lite")
    store = f"milvus://{tmp_path / 'cut.db'}"
    script = KILLED_RUN.format(root=str(ROOT), store=store, index_dir=str(tmp_path / "ix"))
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), "commit"], cwd=ROOT, timeout=120)
    assert done.returncode == 0
    cut = sorted((tmp_path / "cut.db").rglob("*.idx"))
    assert cut
    for f in cut:
        f.write_bytes(f.read_bytes()[:10])
    r = open_reader(store, tmp_path / "ix")
    assert (r.stats().documents, r.stats().chunks) == (2, 4)
    (cid, score), *_ = r.search_dense(np.eye(8, dtype=np.float32)[3], 2)
    assert r.chunk_meta([cid])[cid][0] == "file:///d1" and score == pytest.approx(1.0)


def test_clear_errors(store, tmp_path):
    with pytest.raises(IndexNotFound):
        open_reader(store, tmp_path / "ix")
    _write(store, tmp_path / "ix", [_doc(0)])
    with pytest.raises(IndexMismatch), open_writer(store, tmp_path / "ix", "other", 8):
        pass
    with open_writer(store, tmp_path / "ix", "fake", 8), pytest.raises(IndexLocked):
        open_writer(store, tmp_path / "ix", "fake", 8).__enter__()


def test_store_names():
    assert parse_store("local").kind == "local"
    lite = parse_store("milvus:///tmp/x/lite.db")
    assert (lite.kind, lite.uri, lite.prefix) == ("milvus", "/tmp/x/lite.db", "searchchat")
    server = parse_store("milvus://db.example:19530?collection=docs")
    assert (server.uri, server.prefix) == ("http://db.example:19530", "docs")
    for bad in ("faiss", "milvus:///tmp/x/lite", "milvus://h:1?collection=1x"):
        with pytest.raises(ValueError):
            parse_store(bad)


def test_a_milvus_server_older_than_2_5_is_refused_clearly():
    """Milvus 2.3 (the embedded `milvus` package's) takes the collections but refuses the sparse field's index:
    say so up front, in words."""
    from indexer.milvus.schema import UnsupportedServer, check_server

    with pytest.raises(UnsupportedServer, match=r"is v2\.3\.5-lite; .* needs Milvus 2\.5 or later"):
        check_server("http://h:19530", "v2.3.5-lite")
    with pytest.raises(UnsupportedServer):
        check_server("http://h:19530", "2.4.23")
    for fine in ("v2.5.4", "v2.6.0-rc1", "3.0.0", "milvus_lite-3.2.2", "unknown"):
        check_server("http://h:19530", fine)


@pytest.mark.parametrize("server", [False, True], ids=["lite", "server"])
def test_a_milvus_run_that_fails_to_open_reports_its_own_error_and_frees_the_index(
    server, tmp_path, monkeypatch, request
):
    """The error that stopped open() is the one raised, even when the roll-back after it fails too (on
    Milvus 2.3 it did: 'collection not loaded' hid 'create index on 104 field is not supported'); and the
    index is not left locked."""
    from indexer.milvus import schema as ms
    from indexer.milvus.writer import MilvusWriter

    store = request.getfixturevalue("milvus_server") if server else f"milvus://{tmp_path / 'lite.db'}"

    def refuse(*args, **kwargs):
        raise RuntimeError("create index refused")

    def fail_too(self):
        raise RuntimeError("collection not loaded")

    with monkeypatch.context() as patch:
        patch.setattr(ms, "create_collections", refuse)
        patch.setattr(MilvusWriter, "_roll_back", fail_too)
        with pytest.raises(RuntimeError, match="create index refused"):
            open_writer(store, tmp_path / "ix", "fake", 8).__enter__()
    _write(store, tmp_path / "ix", [_doc(0)])  # not locked: the next run opens and commits
    assert open_reader(store, tmp_path / "ix").stats().documents == 1


def test_milvus_without_its_client_is_a_clear_error(tmp_path, monkeypatch):
    """The Milvus store is optional: without pymilvus, a message that says what to install."""
    from indexer.milvus.schema import StoreUnavailable

    monkeypatch.setitem(sys.modules, "pymilvus", None)
    with pytest.raises(StoreUnavailable, match=r"pip install 'searchchat\[milvus\]'"):
        open_reader(f"milvus://{tmp_path / 'absent.db'}", tmp_path / "ix")


def test_the_web_app_on_each_store(store, tmp_path, settings, fake_embedder):
    """The app over either store: health, stats, search with a filter, an answer, removing a source."""
    from fastapi.testclient import TestClient

    from tests.web_helpers import TEST_HOST, make_app

    docs = write_docs(tmp_path / "docs")
    s = settings.with_overrides(store=store, api_key="k", allowed_hosts=[TEST_HOST])
    index_sources([str(docs)], index_options(s), embedder=fake_embedder)
    with TestClient(make_app(s), headers={"Authorization": "Bearer k"}) as c:
        assert c.get("/healthz").json()["index"] is True
        assert c.get("/api/stats").json()["documents"] == 4
        hits = c.get("/search", params={"q": "robots.txt rules", "k": 3, "type": "markdown"}).json()["hits"]
        assert hits and hits[0]["title"] == "Robots"
        answer = c.post("/ask", json={"question": "What does robots.txt tell a crawler?", "k": 3}).json()
        assert answer["sources"]
        done = c.delete("/api/sources", params={"source": str(docs)})
        assert done.json()["documents_removed"] == 4 and c.get("/api/stats").json()["documents"] == 0
