"""SIGKILL `searchchat index` at many moments over a whole run, the commit included; the index stays intact.

    python bench/kill_test.py [--kills 20] [--docs 30000] [--out bench/results/kill_test.txt]

A small folder is indexed once (the old index). One unkilled run of a bigger JSONL file (hash-64 embedder)
from a copy of it gives the new counts and times the commit: it starts when the run prints its final
progress line (reading and embedding done) and ends when CURRENT names the new snapshot. Each killed run
starts from a fresh copy of the old index. Most kills are timed from the start of the run, spread over the
first 90% of the time before the commit; the rest (40%) wait for the commit to start and then sleep a share
of the measured commit time. A run that finishes before its kill is tried again with the kill 20% earlier.
The phase a kill hit is read afterwards from what the run printed and the files it left. Each index must
then load with exactly the old counts (or, after the atomic switch, exactly the new ones), one vector per
chunk, unique chunk ids and BM25 rows for the same chunks; a following normal run must succeed and clean up
(no .tmp-* directory, no snapshot newer than CURRENT).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from indexer.store import CURRENT, IndexStore  # noqa: E402
from searchchat.retrieval.lexical import LexicalIndex  # noqa: E402

DOCS = {
    f"topic{i}.md": f"# Topic {i}\n\n## Notes\n\nTopic {i} is about item {i} and its neighbours.\n"
    for i in range(8)
}


def write_corpus(path: Path, n: int) -> None:
    with path.open("w") as fh:
        for i in range(n):
            text = f"Document {i} talks about topic {i % 97} and item {i % 13}. " * 6
            fh.write(json.dumps({"_id": f"b{i}", "title": f"Big {i}", "text": text}) + "\n")


def start(home: Path, source: Path, work: Path, quiet: bool = False) -> subprocess.Popen:
    """`searchchat index SOURCE` with its output in work/out.txt and work/err.txt (read after a kill)."""
    env = dict(os.environ, SEARCHCHAT_HOME=str(home), SEARCHCHAT_EMBEDDER="hash-64", COLUMNS="200")
    args = [sys.executable, "-m", "searchchat", "index", str(source), *(["--quiet"] if quiet else [])]
    with (work / "out.txt").open("w") as out, (work / "err.txt").open("w") as err:
        return subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=err)


def commit_started(index_dir: Path, work: Path) -> bool:
    """The final progress line is printed once reading and embedding are done; vectors.faiss comes next."""
    if "embedded" in (work / "err.txt").read_text():
        return True
    return any((t / "vectors.faiss").exists() for t in (index_dir / "snapshots").glob(".tmp-*"))


def phase(index_dir: Path, old_version: str, work: Path) -> str:
    """Where a killed run stood, from the files it left and what it printed (all of it is there after death)."""
    if (index_dir / CURRENT).read_text().strip() != old_version:
        return "after-switch"
    snaps = index_dir / "snapshots"
    if any(p.name != old_version and not p.name.startswith(".") for p in snaps.iterdir()):
        return "commit:rename"  # the snapshot has its final name, CURRENT not switched yet
    tmp = next(iter(snaps.glob(".tmp-*")), None)
    if tmp is None:
        return "startup"
    for name, step in (("manifest.json", "fsync"), ("bm25", "bm25"), ("vectors.faiss", "faiss")):
        if (tmp / name).exists():
            return f"commit:{step}"
    return "commit:sqlite" if "embedded" in (work / "err.txt").read_text() else "indexing"


def counts(index_dir: Path) -> tuple[int, int, str]:
    store = IndexStore.open(index_dir)
    try:
        stats = store.stats()
        return stats.documents, stats.chunks, store.version
    finally:
        store.close()


def check(index_dir: Path, old: tuple[int, int, str], new: tuple[int, int], where: str) -> str:
    """'old' or 'new' when the index is intact, else what is wrong."""
    store = IndexStore.open(index_dir)
    try:
        stats = store.stats()
        ids = [c.chunk_id for c in store.all_chunks()]
        lexical = sorted(int(i) for i in LexicalIndex(store.path).ids)
        got = (stats.documents, stats.chunks, store.version)
        if store.vectors.ntotal != stats.chunks:
            return f"BROKEN: {store.vectors.ntotal} vectors for {stats.chunks} chunks"
    finally:
        store.close()
    if len(ids) != len(set(ids)) or lexical != sorted(ids):
        return "BROKEN: duplicate chunk ids or BM25 rows that are not the chunks"
    if got == old:
        result = "old"
    elif got[:2] == new and got[2] != old[2]:
        result = "new"
    else:
        return f"BROKEN: counts {got[:2]}, neither old {old[:2]} nor new {new}"
    if (result == "new") != (where == "after-switch"):
        return f"BROKEN: {result} index after a kill in {where}"
    return result


def follow_up(home: Path, docs: Path, work: Path, before: tuple[int, int, str]) -> str:
    """A normal run after the kill: it must succeed, remove .tmp-* leftovers and keep the counts."""
    proc = start(home, docs, work, quiet=True)
    if proc.wait(120) != 0:
        return f"BROKEN: next run exit {proc.returncode}: {(work / 'err.txt').read_text()[-300:]}"
    index_dir = home / "index"
    current = (index_dir / CURRENT).read_text().strip()
    if any(p.name > current or p.name.startswith(".tmp-") for p in (index_dir / "snapshots").iterdir()):
        return "BROKEN: next run left a .tmp-* or unpublished snapshot behind"
    if counts(index_dir)[:2] != before[:2]:
        return f"BROKEN: next run changed the counts to {counts(index_dir)[:2]}"
    return "ok"


def reference(base: Path, old_home: Path, big: Path) -> tuple[float, float, float, tuple[int, int]]:
    """One unkilled run: (commit start, commit end at the CURRENT switch, exit) in seconds, and its counts."""
    home, work = base / "ref" / "home", base / "ref"
    shutil.copytree(old_home, home)
    old_version = (home / "index" / CURRENT).read_text().strip()
    t0 = time.monotonic()
    proc = start(home, big, work)
    begin = end = 0.0
    while proc.poll() is None:
        now = time.monotonic() - t0
        if not begin and commit_started(home / "index", work):
            begin = now
        if not end and (home / "index" / CURRENT).read_text().strip() != old_version:
            end = now
        time.sleep(0.005)
    took = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"the reference run failed: {(work / 'err.txt').read_text()[-500:]}")
    return begin, end or took, took, counts(home / "index")[:2]


def kill_once(base: Path, i: int, old_home: Path, big: Path, plan: tuple[str, float]) -> tuple[float, str]:
    """Run from a copy of the old index, SIGKILL it as planned; returns (seconds into the run, phase)."""
    work = base / f"kill{i:02d}"
    home = work / "home"
    shutil.copytree(old_home, home)
    index_dir = home / "index"
    old_version = (index_dir / CURRENT).read_text().strip()
    anchor, delay = plan
    t0 = time.monotonic()
    proc = start(home, big, work)
    if anchor == "commit":
        while proc.poll() is None and not commit_started(index_dir, work):
            time.sleep(0.002)
    time.sleep(max(0.0, delay - (time.monotonic() - t0 if anchor == "start" else 0.0)))
    at = time.monotonic() - t0
    if proc.poll() is not None:
        return at, "finished"
    proc.send_signal(signal.SIGKILL)
    if proc.wait(30) == 0:  # it exited between the poll and the signal
        return at, "finished"
    return at, phase(index_dir, old_version, work)


def kill_plans(kills: int, commit_share: float, begin: float, end: float) -> list[tuple[str, float]]:
    """When to kill each run: spread over reading and embedding (from the start), then over the commit."""
    n_commit = max(1, math.ceil(kills * commit_share))
    n_before = kills - n_commit
    plans = [("start", 0.9 * begin * (j + 0.5) / n_before) for j in range(n_before)]
    plans += [("commit", (end - begin) * j / n_commit) for j in range(n_commit)]
    return plans


def kill_round(base: Path, i: int, plan: tuple[str, float], old_home: Path, big: Path, docs: Path,
               old: tuple, new: tuple) -> tuple[str, bool, str, str]:  # fmt: skip
    """Kill one run as planned (aiming earlier if it finishes first), check its index and a next run; returns
    (the table row, intact, the phase it died in, the index it left: old, new or a fault)."""
    for retry in range(3):  # a run faster than the reference can finish first: aim 20% earlier
        if retry:
            shutil.rmtree(base / f"kill{i:02d}")
            plan = (plan[0], plan[1] * 0.8)
        at, where = kill_once(base, i, old_home, big, plan)
        if where != "finished":
            break
    home = base / f"kill{i:02d}" / "home"
    result = check(home / "index", old, new, where) if where != "finished" else "not killed"
    ok = result in ("old", "new")
    after = follow_up(home, docs, base / f"kill{i:02d}", counts(home / "index")) if ok else "-"
    ok = ok and after == "ok"
    aim = f"{plan[1]:.2f} s from start" if plan[0] == "start" else f"commit start + {plan[1]:.2f} s"
    aim += f" (try {retry + 1})" if retry else ""
    return f"{i + 1:>2}  {aim:<30}  {at:>7.2f} s  {where:<14}  {result:<6}  {after}", ok, where, result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--docs", type=int, default=30000, help="documents in the big JSONL input")
    ap.add_argument("--commit-share", type=float, default=0.4, help="share of kills aimed at the commit")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "kill_test.txt")
    args = ap.parse_args()

    base = Path(tempfile.mkdtemp(prefix="sc-kill-"))
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    try:
        docs = base / "docs"
        docs.mkdir()
        for name, text in DOCS.items():
            (docs / name).write_text(text)
        old_home = base / "old" / "home"
        old_home.mkdir(parents=True)
        if start(old_home, docs, base / "old", quiet=True).wait(120) != 0:
            raise SystemExit(f"indexing the old corpus failed: {(base / 'old' / 'err.txt').read_text()}")
        old = counts(old_home / "index")
        big = base / "big.jsonl"
        write_corpus(big, args.docs)
        begin, end, took, new = reference(base, old_home, big)
        say(f"kill test: {args.kills} SIGKILLs of `searchchat index` ({args.docs} JSONL documents, hash-64)")
        say(
            f"old index: {old[0]} documents, {old[1]} chunks; a complete run: {new[0]} documents, {new[1]} chunks"
        )
        say(f"unkilled run: {took:.2f} s; commit from {begin:.2f} s to the CURRENT switch at {end:.2f} s "
            f"({end - begin:.2f} s)")  # fmt: skip
        say("")
        say(f"{'#':>2}  {'aimed at':<30}  {'killed at':>9}  {'phase':<14}  {'index':<6}  next run")
        intact = in_commit = kept_new = 0
        for i, plan in enumerate(kill_plans(args.kills, args.commit_share, begin, end)):
            line, ok, where, result = kill_round(base, i, plan, old_home, big, docs, old, new)
            intact += ok
            in_commit += where.startswith("commit") or where == "after-switch"
            kept_new += result == "new"
            say(line)
        say("")
        say(f"{intact} of {args.kills} intact ({in_commit} during commit, {kept_new} of them after the atomic "
            f"switch with the new index)")  # fmt: skip
    finally:
        shutil.rmtree(base, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
