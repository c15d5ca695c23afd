"""SIGKILL an indexing run at many moments, the commit included: the index loads, old or (after the atomic
switch) new, never a mix; the next run cleans up."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from indexer.store import IndexStore
from searchchat.retrieval.lexical import LexicalIndex
from tests.helpers import write_docs


def _env(home):
    return dict(os.environ, SEARCHCHAT_HOME=str(home), SEARCHCHAT_EMBEDDER="hash-64")


def _index(args, env):
    return subprocess.Popen(
        [sys.executable, "-m", "searchchat", "index", *args, "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


BIG = 10000  # JSONL documents: a run of about 3 s whose commit (FAISS, BM25, fsync) takes about 0.5 s
COMMIT_PHASES = ("commit:sqlite", "commit:faiss", "commit:bm25", "commit:fsync", "commit:rename", "switched")


def _started_commit(index_dir, err_file):
    """The final progress line comes once reading and embedding are done; vectors.faiss is the next file."""
    if "embedded" in err_file.read_text():
        return True
    return any((t / "vectors.faiss").exists() for t in (index_dir / "snapshots").glob(".tmp-*"))


def _phase(index_dir, old_version, err_file):
    """Where the killed run stood, from the files it left and everything it printed."""
    if (index_dir / "CURRENT").read_text().strip() != old_version:
        return "switched"
    snaps = index_dir / "snapshots"
    if any(p.name != old_version and not p.name.startswith(".") for p in snaps.iterdir()):
        return "commit:rename"
    tmp = next(iter(snaps.glob(".tmp-*")), None)
    if tmp is None:
        return "startup"
    for name, step in (("manifest.json", "fsync"), ("bm25", "bm25"), ("vectors.faiss", "faiss")):
        if (tmp / name).exists():
            return f"commit:{step}"
    return "commit:sqlite" if "embedded" in err_file.read_text() else "indexing"


def _counts(index_dir):
    store = IndexStore.open(index_dir)
    stats = store.stats()
    return stats.documents, stats.chunks, store.version


@pytest.fixture(scope="module")
def kill_setup(tmp_path_factory):
    """An old index, a big JSONL input, and one unkilled run of it: its counts, when its commit starts and how
    long the commit takes to the CURRENT switch."""
    base = tmp_path_factory.mktemp("kill")
    env = _env(base / "old")
    docs = write_docs(base / "docs")
    assert _index([str(docs)], env).wait(60) == 0
    big = base / "big.jsonl"
    with big.open("w") as fh:
        for i in range(BIG):
            text = f"Document {i} talks about topic {i % 97} and item {i % 13}. " * 6
            fh.write(json.dumps({"_id": f"b{i}", "title": f"Big {i}", "text": text}) + "\n")
    shutil.copytree(base / "old", base / "ref")
    old = _counts(base / "old" / "index")
    t0 = time.monotonic()
    ref = _run_logged(big, _env(base / "ref"), base / "ref.err")
    while ref.poll() is None and not _started_commit(base / "ref" / "index", base / "ref.err"):
        time.sleep(0.005)
    begin = time.monotonic() - t0
    while ref.poll() is None and (base / "ref" / "index" / "CURRENT").read_text().strip() == old[2]:
        time.sleep(0.005)
    switch = time.monotonic() - t0
    assert ref.wait(120) == 0, (base / "ref.err").read_text()
    return base, docs, big, (begin, switch - begin), old, _counts(base / "ref" / "index")


def _run_logged(source, env, err_path):
    """A run with its progress line on (COLUMNS keeps it whole) and stderr in a file, read after a kill."""
    with err_path.open("w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "searchchat", "index", str(source)],
            env=dict(env, COLUMNS="200"), stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip


# (anchor, share): a share of the unkilled run's time to its commit, from the start; or a share of its commit
# time, from the moment this run's commit starts
@pytest.mark.parametrize(
    "anchor, share",
    [("start", 0.15), ("start", 0.45), ("start", 0.8), ("commit", 0.0), ("commit", 0.25), ("commit", 0.5)],
)
def test_sigkill_anywhere_keeps_old_or_new_index(kill_setup, tmp_path, anchor, share):
    base, docs, big, (begin, commit), old, new = kill_setup
    shutil.copytree(base / "old", tmp_path / "run")
    env, index_dir, err = _env(tmp_path / "run"), tmp_path / "run" / "index", tmp_path / "err.txt"

    t0 = time.monotonic()
    proc = _run_logged(big, env, err)
    if anchor == "commit":
        while proc.poll() is None and not _started_commit(index_dir, err):
            time.sleep(0.002)
        time.sleep(commit * share)
    else:
        time.sleep(begin * share)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    code = proc.wait(10)
    # a run that ended before the kill (a machine faster than the reference run) must have ended well
    assert code in (-signal.SIGKILL, 0), err.read_text()
    phase = _phase(index_dir, old[2], err)
    if anchor == "commit":
        assert phase in COMMIT_PHASES, f"killed {time.monotonic() - t0:.2f} s in, in phase {phase}"

    after = IndexStore.open(index_dir)
    stats = after.stats()
    got = (stats.documents, stats.chunks, after.version)
    if phase == "switched":  # the atomic switch happened: the new index, whole
        assert got[:2] == new[:2] and got[2] != old[2]
    else:
        assert got == old
    assert after.vectors.ntotal == stats.chunks  # no orphan vectors
    ids = [c.chunk_id for c in after.all_chunks()]
    assert len(ids) == len(set(ids))
    assert sorted(int(i) for i in LexicalIndex(after.path).ids) == sorted(ids)  # BM25 rows are the chunks

    # the next run cleans up the killed run's leftovers and works
    again = _index([str(docs)], env)
    assert again.wait(60) == 0
    assert not list((index_dir / "snapshots").glob(".tmp-*"))
    assert _counts(index_dir)[:2] == got[:2]
    current = _counts(index_dir)[2]
    assert all(p.name <= current for p in (index_dir / "snapshots").iterdir())  # nothing left unpublished


def test_second_indexer_gets_a_clear_lock_message(tmp_path):
    from indexer.store import IndexWriter

    env = _env(tmp_path / "home")
    docs = write_docs(tmp_path / "docs")
    with IndexWriter(tmp_path / "home" / "index", "hash-64", 64):
        proc = _index([str(docs)], env)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "Another indexer" in err and "Traceback" not in err
