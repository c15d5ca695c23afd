"""SIGKILL an indexing run at many moments: the previous index always loads, with the same counts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from indexer.store import IndexStore
from tests.helpers import write_docs


def _env(home):
    env = dict(os.environ, SEARCHCHAT_HOME=str(home), SEARCHCHAT_EMBEDDER="hash-64")
    return env


def _index(args, env):
    return subprocess.Popen(
        [sys.executable, "-m", "searchchat", "index", *args, "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.parametrize("kill_after", [0.4, 1.2, 2.5])
def test_sigkill_mid_run_keeps_old_index(tmp_path, kill_after):
    env = _env(tmp_path / "home")
    docs = write_docs(tmp_path / "docs")
    first = _index([str(docs)], env)
    assert first.wait(60) == 0, first.stderr.read() if first.stderr else ""
    index_dir = tmp_path / "home" / "index"
    before = IndexStore.open(index_dir)
    counts = (before.stats().documents, before.stats().chunks, before.version)

    big = tmp_path / "big.jsonl"
    with big.open("w") as fh:
        for i in range(30000):
            text = f"Document {i} talks about topic {i % 97} and item {i % 13}. " * 6
            fh.write(json.dumps({"_id": f"b{i}", "title": f"Big {i}", "text": text}) + "\n")
    proc = _index([str(big)], env)
    time.sleep(kill_after)
    assert proc.poll() is None, "the run finished before it could be killed; make the input bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)

    after = IndexStore.open(index_dir)
    stats = after.stats()
    assert (stats.documents, stats.chunks, after.version) == counts
    assert after.vectors.ntotal == stats.chunks  # no orphan vectors
    ids = [c.chunk_id for c in after.all_chunks()]
    assert len(ids) == len(set(ids))

    # the next run cleans up the killed run's leftovers and works
    again = _index([str(docs)], env)
    assert again.wait(60) == 0
    assert not list((index_dir / "snapshots").glob(".tmp-*"))
    assert IndexStore.open(index_dir).stats().documents == counts[0]


def test_second_indexer_gets_a_clear_lock_message(tmp_path):
    from indexer.store import IndexWriter

    env = _env(tmp_path / "home")
    docs = write_docs(tmp_path / "docs")
    with IndexWriter(tmp_path / "home" / "index", "hash-64", 64):
        proc = _index([str(docs)], env)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "Another indexer" in err and "Traceback" not in err
