"""`searchchat index --ray`: the Ray Data pipeline builds the same index as the plain one, incrementally too."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from indexer.chunk import embed_text
from indexer.embed import HashEmbedder
from indexer.pipeline import index_sources
from indexer.ray_tasks import plan_shards
from indexer.sources import classify
from indexer.store import IndexStore
from searchchat.cli import _register, app
from searchchat.indexing import index_options
from tests.crawl_site import Site, clean_site  # noqa: F401
from tests.helpers import write_docs

_register()

ROOT = Path(__file__).resolve().parents[1]

FAST = {"delay": 0.0, "max_retries": 1, "timeout": 0.8, "max_bytes": 100_000}
COUNTS = ("pages_fetched", "documents_added", "documents_updated", "documents_unchanged", "documents_removed",
          "skipped", "chunks_added", "chunks_removed", "total_documents", "total_chunks")  # fmt: skip


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray with 2 CPUs for the module: index_sources_ray uses a session that is already up."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _corpus(folder: Path) -> Path:
    write_docs(folder)
    lines = [{"_id": f"d{i}", "title": f"Doc {i}", "text": f"Record {i} about topic {i % 3}. " * (3 + i)}
             for i in range(9)]  # fmt: skip
    (folder / "records.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\nnot json\n")
    return folder


def _index(store: IndexStore) -> dict[tuple[str, str], float]:
    """(doc_id, chunk text) of every chunk, with the score of its own hash vector against the stored one."""
    hasher = HashEmbedder(64)
    chunks = list(store.all_chunks())
    out = {}
    for c in chunks:
        [(cid, score)] = store.search_dense(hasher.embed_batch([embed_text(c)])[0], 1)
        assert store.get_chunks([cid])[cid].text == c.text
        out[(c.doc_id, c.text)] = score
    return out


def _hits(store: IndexStore, query: str) -> list[tuple[float, str, str]]:
    hits = store.search_dense(HashEmbedder(64).embed_query(query), 5) + store.search_lexical(query, 5)
    chunks = store.get_chunks([cid for cid, _ in hits])
    # ties in any order (a crawl's fetch order varies from run to run, and with it the chunk ids)
    return sorted(
        (-round(score, 4), chunks[cid].doc_id, chunks[cid].text) for cid, score in hits if score > 0
    )


def _same(plain_dir: Path, ray_dir: Path) -> None:
    a, b = IndexStore.open(plain_dir), IndexStore.open(ray_dir)
    ia, ib = _index(a), _index(b)
    assert ia.keys() == ib.keys()
    assert all(abs(ib[k] - 1.0) < 1e-5 and abs(ia[k] - 1.0) < 1e-5 for k in ia)  # each vector is its chunk's
    for query in ("robots.txt disallow", "topic 2 record", "saturation k1"):
        assert _hits(a, query) == _hits(b, query)


def test_ray_index_matches_plain_then_incremental(ray_session, tmp_path, settings):
    from indexer.ray_pipeline import index_sources_ray

    docs = _corpus(tmp_path / "docs")
    plain = index_options(settings)
    rayed = dataclasses.replace(plain, index_dir=tmp_path / "ray-index")
    s1, r1 = index_sources([str(docs)], plain), index_sources_ray([str(docs)], rayed, workers=2)
    assert {k: getattr(r1, k) for k in COUNTS} == {k: getattr(s1, k) for k in COUNTS}
    assert r1.documents_added == 13 and r1.skipped == {"parse_error": 1}
    _same(plain.index_dir, rayed.index_dir)

    (docs / "bm25.md").write_text("# BM25\n\n## Scoring\n\nOkapi BM25 with saturation parameter k1 = 1.2.\n")
    os.utime(docs / "bm25.md", ns=(1, 1))
    (docs / "faiss.md").unlink()
    s2, r2 = index_sources([str(docs)], plain), index_sources_ray([str(docs)], rayed, workers=2)
    assert {k: getattr(r2, k) for k in COUNTS} == {k: getattr(s2, k) for k in COUNTS}
    assert (r2.documents_updated, r2.documents_removed, r2.documents_unchanged) == (1, 1, 11)
    _same(plain.index_dir, rayed.index_dir)


def test_cli_ray_json_summary(ray_session, tmp_path):
    docs = write_docs(tmp_path / "docs")
    env = {"SEARCHCHAT_EMBEDDER": "hash-64"}
    result = CliRunner().invoke(app, ["index", str(docs), "--ray", "--ray-workers", "2", "--json"], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["documents_added"], summary["total_documents"]) == (4, 4)
    assert summary["docs_per_s"] > 0


def test_clear_error_without_ray(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    docs = write_docs(tmp_path / "docs")
    result = CliRunner().invoke(app, ["index", str(docs), "--ray"], env={"SEARCHCHAT_EMBEDDER": "hash-64"})
    assert result.exit_code == 1
    assert "needs Ray Data: pip install 'searchchat[ray]'" in result.output


def test_shards_cut_jsonl_and_files_and_group_hosts(tmp_path):
    docs = _corpus(tmp_path / "docs")
    specs = [classify(str(docs)), classify("https://a.example/x"), classify("https://b.example/"),
             classify("https://a.example/y")]  # fmt: skip
    shards = plan_shards(specs, 2)
    lines = [s.lines for s in shards if s.lines]
    assert lines == [(1, 6), (6, 11)]  # 10 lines in two contiguous ranges
    names = [f.name for s in shards if s.specs == [0] for f in s.files]  # the files' order is kept
    assert names == ["bm25.md", "faiss.md", "gan.md", "records.jsonl", "records.jsonl", "robots.md"]
    assert [s.specs for s in shards if s.specs != [0]] == [[1, 3], [2]]  # one shard per host


def test_ray_crawl_is_incremental_and_matches_plain(ray_session, clean_site: Site, settings, tmp_path):  # noqa: F811
    from indexer.ray_pipeline import index_sources_ray

    start = clean_site.url("/index.html")
    plain = index_options(settings, **FAST)
    rayed = dataclasses.replace(plain, index_dir=tmp_path / "ray-index")
    s1, r1 = index_sources([start], plain), index_sources_ray([start], rayed, workers=2)
    assert {k: getattr(r1, k) for k in COUNTS} == {k: getattr(s1, k) for k in COUNTS}
    _same(plain.index_dir, rayed.index_dir)

    clean_site.set_html("/a.html", "A changed", '<p>Lighthouses guide ships.</p><a href="b.html">b</a>')
    del clean_site.pages["/b.html"]
    s2, r2 = index_sources([start], plain), index_sources_ray([start], rayed, workers=2)
    assert {k: getattr(r2, k) for k in COUNTS} == {k: getattr(s2, k) for k in COUNTS}
    assert (r2.documents_updated, r2.documents_removed, r2.documents_added) == (1, 1, 0)
    _same(plain.index_dir, rayed.index_dir)


# -- a real cluster, started apart from the test process as on a head node, joined with --ray-address --------


@dataclass
class Cluster:
    gcs: str  # host:port of the head's GCS, what `ray start --address` and a driver on a node use
    client: str  # ray://host:port of its Ray Client server, what a driver off the cluster uses
    env: dict[str, str]  # what a driver needs: token authentication on, with the cluster's token


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Cluster]:
    """`ray start --head --num-cpus 2` in a process of its own, as an operator starts a head node, with
    token authentication (Ray's default where a token exists) on a token of the test's own. Its environment
    has no PYTHONPATH and its working directory is not the checkout: its workers find indexer only as the
    driver ships it or as installed. Teardown stops the processes this fixture started, by id (SIGTERM,
    then SIGKILL), rather than `ray stop`, which stops every Ray of the user on the machine (another test
    session's included)."""
    pytest.importorskip("ray.data")
    psutil = pytest.importorskip("psutil")
    ray_bin = Path(sys.executable).with_name("ray")
    if not ray_bin.exists():
        ray_bin = Path(shutil.which("ray") or "ray")
    temp = Path(tempfile.mkdtemp(prefix="sc-ray-", dir="/tmp"))  # Ray's socket paths must stay short
    gcs, client, agent = _free_port(), _free_port(), _free_port()
    drop = ("RAY_ADDRESS", "RAY_AUTH_TOKEN_PATH", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("SEARCHCHAT_")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16), RAY_USAGE_STATS_ENABLED="0")
    cmd = [str(ray_bin), "start", "--head", "--block", "--num-cpus", "2", "--node-ip-address", "127.0.0.1",
           "--port", str(gcs), "--ray-client-server-port", str(client), "--dashboard-agent-listen-port",
           str(agent), "--include-dashboard", "false", "--object-store-memory", str(200 * 2**20),
           "--temp-dir", str(temp), "--disable-usage-stats"]  # fmt: skip
    log = (temp / "head.log").open("wb")
    head = subprocess.Popen(
        cmd, cwd=temp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 90
        while not (_listening(gcs) and _listening(client)):
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start --head did not come up:\n{(temp / 'head.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield Cluster(f"127.0.0.1:{gcs}", f"ray://127.0.0.1:{client}", env)
    finally:
        procs = [psutil.Process(head.pid), *psutil.Process(head.pid).children(recursive=True)]
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=5)  # the GCS server can take longer on SIGTERM
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=10)
        head.wait(timeout=10)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def _driver(cluster: Cluster, home: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """A driver process, as a user runs one: this checkout's code, the hash embedder, the cluster's token."""
    env = {
        **cluster.env,
        "PYTHONPATH": str(ROOT),
        "SEARCHCHAT_HOME": str(home),
        "SEARCHCHAT_EMBEDDER": "hash-64",
    }
    return subprocess.run(
        [sys.executable, *args], cwd=home, env=env, capture_output=True, text=True, timeout=240
    )


@pytest.mark.parametrize("kind", ["gcs", "client"])
def test_index_joined_to_a_running_cluster_equals_the_plain_index(ray_cluster, kind, tmp_path, settings):
    """`searchchat index --ray-address` at the head's GCS (a driver on a node) and at its Ray Client server
    (a driver anywhere): the same documents, chunk ids, chunk texts, vectors and hits as the plain pipeline."""
    docs = _corpus(tmp_path / "docs")
    plain = index_options(settings)
    s1 = index_sources([str(docs)], plain)
    address = ray_cluster.gcs if kind == "gcs" else ray_cluster.client
    joined = tmp_path / "joined"
    done = _driver(ray_cluster, tmp_path / "home", ["-m", "searchchat", "index", str(docs), "--index", str(joined),
                   "--ray-address", address, "--ray-workers", "2", "--json"])  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads(done.stdout)
    assert {k: summary[k] for k in COUNTS} == {k: getattr(s1, k) for k in COUNTS}
    assert summary["documents_added"] == 13
    a, b = IndexStore.open(plain.index_dir), IndexStore.open(joined)
    assert {c.chunk_id: (c.doc_id, c.text) for c in a.all_chunks()} == {
        c.chunk_id: (c.doc_id, c.text) for c in b.all_chunks()
    }
    _same(plain.index_dir, joined)


PROBE = """
import sys
from indexer.ray_pipeline import ray_session
with ray_session(sys.argv[1], 2) as ray:
    def where():
        import indexer
        return indexer.__file__
    print(ray.get(ray.remote(where).remote()))
"""


def test_a_joined_clusters_workers_run_the_drivers_indexer(ray_cluster, tmp_path):
    """Joined at an address, the workers import the indexer package the driver ships (runtime_env
    py_modules), not whatever a node has installed: tasks and actors run the driver's code."""
    done = _driver(ray_cluster, tmp_path / "home", ["-c", PROBE, ray_cluster.gcs])
    assert done.returncode == 0, done.stderr[-4000:]
    worker_file = Path(done.stdout.strip().splitlines()[-1])
    assert "py_modules_files" in worker_file.parts  # Ray's copy of what the driver shipped
    assert worker_file.read_bytes() == (ROOT / "indexer" / "__init__.py").read_bytes()
