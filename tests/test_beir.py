"""`searchchat eval` end to end on a tiny synthetic BEIR dataset, with the model-free hash embedder."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from indexer.bm25 import BM25_DIR, needs_rebuild
from indexer.embed import HashEmbedder
from indexer.store import current_snapshot
from searchchat.evaluation.beir import cache_key, doc_ranking, ensure_index, load_dataset, run_eval
from searchchat.settings import Settings

CORPUS = [
    ("d1", "Aurora", "Aurora borealis lights appear near the arctic circle in winter nights."),
    ("d2", "Volcanoes", "Volcanic eruptions release ash and lava from magma chambers."),
    ("d3", "Glaciers", "Glaciers carve valleys as the ice moves slowly downhill."),
    ("d4", "Reefs", "Coral reefs host many fish and grow in warm shallow seas."),
    ("d5", "Night sky", "An aurora can sometimes be seen further south during strong storms."),
    ("d6", "Fish markets", "Markets sell fish caught by boats every morning."),
    ("d7", "Particles", "Physicists study the strong force between subatomic constituents."),
    ("d8", "Deserts", "Sand dunes move with the wind across dry deserts."),
]
QUERIES = {"q1": "aurora borealis arctic", "q2": "volcanic magma", "q3": "glaciers valleys",
           "q4": "coral reefs", "q5": "quantum chromodynamics", "q9": "train only query"}  # fmt: skip
# graded: q1 has a better (2) and a weaker (1) answer; q4 judges d6 as not relevant (0);
# q5's relevant document shares no word with it, so BM25 retrieves nothing relevant for it.
TEST_QRELS = [("q1", "d1", 2), ("q1", "d5", 1), ("q2", "d2", 1), ("q3", "d3", 1), ("q4", "d4", 1),
              ("q4", "d6", 0), ("q5", "d7", 1)]  # fmt: skip


def write_beir(root: Path, corpus: Sequence[tuple[str, str, str]] = CORPUS) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n"
                                               for i, t, x in corpus))  # fmt: skip
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items())
    )
    rows = "".join(f"{q}\t{d}\t{s}\n" for q, d, s in TEST_QRELS)
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    (root / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq9\td8\t1\n")
    return root


class CountingEmbedder(HashEmbedder):
    """Counts the texts embedded through `embed` (the indexer's path; queries go through embed_query)."""

    def __init__(self) -> None:
        super().__init__(64)
        self.indexed = 0

    def embed(self, texts: Sequence[str], batch_tokens: int = 2048,
              progress: Callable[[int], None] | None = None) -> np.ndarray:  # fmt: skip
        self.indexed += len(texts)
        return super().embed(texts, batch_tokens, progress)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write_beir(tmp_path / "tiny")


def test_load_dataset_keeps_grades_and_only_judged_queries(dataset: Path) -> None:
    ds = load_dataset(dataset, "test")
    assert list(ds.queries) == ["q1", "q2", "q3", "q4", "q5"]
    assert ds.qrels["q1"] == {"d1": 2, "d5": 1}
    assert ds.qrels["q4"] == {"d4": 1, "d6": 0}
    assert list(load_dataset(dataset, "train").queries) == ["q9"]


def test_eval_end_to_end_scores_each_mode(dataset: Path, settings: Settings) -> None:
    report = run_eval(dataset, "test", settings=settings)
    assert [r.mode for r in report.rows] == ["dense", "bm25", "hybrid"]
    assert (report.documents, report.chunks, report.reused_index) == (8, 8, False)
    bm25 = report.rows[1]
    # q1-q4 rank their best answer first (q1 in graded order), q5 finds nothing relevant: 4 of 5 queries
    assert (bm25.ndcg_10, bm25.recall_10, bm25.recall_100, bm25.mrr_10) == pytest.approx((0.8, 0.8, 0.8, 0.8))
    for row in report.rows:
        assert row.queries == 5
        assert 0.0 <= row.ndcg_10 <= 1.0 and 0.0 <= row.mrr_10 <= 1.0
        assert row.recall_10 <= row.recall_100 <= 1.0
        assert 0.0 < row.p50_ms <= row.p95_ms
    assert report.rows[2].ndcg_10 >= 0.8  # hybrid keeps BM25's exact matches on this lexical toy set
    assert json.loads(json.dumps(report.to_dict()))["rows"][1]["mode"] == "bm25"


def test_index_is_cached_by_content_hash(dataset: Path, settings: Settings) -> None:
    emb = CountingEmbedder()
    first = run_eval(dataset, "test", modes=["bm25"], settings=settings, embedder=emb)
    assert emb.indexed == 8 and not first.reused_index
    assert Path(first.index).parent == settings.home / "eval"
    again = run_eval(dataset, "test", modes=["dense"], settings=settings, embedder=emb)
    assert emb.indexed == 8 and again.reused_index and again.index == first.index
    # the same content elsewhere reuses the cache; changed content gets its own index
    copy = write_beir(dataset.parent / "copy")
    assert run_eval(copy, "test", modes=["bm25"], settings=settings, embedder=emb).index == first.index
    changed = write_beir(dataset.parent / "changed", CORPUS[:-1])
    other = run_eval(changed, "test", modes=["bm25"], settings=settings, embedder=emb)
    assert other.index != first.index and other.documents == 7 and emb.indexed == 15


def test_cache_key_depends_on_index_settings(dataset: Path, settings: Settings) -> None:
    corpus = dataset / "corpus.jsonl"
    emb = HashEmbedder(64)
    assert cache_key(corpus, settings, emb) == cache_key(corpus, settings, emb)
    assert cache_key(corpus, settings, emb) != cache_key(
        corpus, settings.with_overrides(chunk_tokens=128), emb
    )
    assert cache_key(corpus, settings, emb) != cache_key(corpus, settings, HashEmbedder(32))


def test_unfinished_build_and_old_bm25_are_redone(dataset: Path, settings: Settings) -> None:
    ds, emb = load_dataset(dataset), HashEmbedder(64)
    index_dir, reused = ensure_index(ds, settings, emb)
    snap = current_snapshot(index_dir)
    assert not reused and snap is not None and not needs_rebuild(snap)
    (snap / BM25_DIR / "searchchat.json").write_text('{"version": 0}')
    assert ensure_index(ds, settings, emb) == (index_dir, True)
    assert not needs_rebuild(snap)
    # a build that was killed before its first commit leaves no CURRENT: it is started again
    (index_dir / "CURRENT").unlink()
    (index_dir / "eval.json").unlink()
    assert ensure_index(ds, settings, emb) == (index_dir, False)
    assert current_snapshot(index_dir) is not None


def test_limit_runs_the_first_queries(dataset: Path, settings: Settings) -> None:
    report = run_eval(dataset, "test", modes=["bm25"], settings=settings, limit=2)
    assert report.rows[0].queries == 2 and report.rows[0].ndcg_10 == pytest.approx(1.0)


def test_doc_ranking_keeps_each_document_at_its_best_chunk() -> None:
    assert doc_ranking(["a", "b", "a", "c", "b"]) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: (r / "queries.jsonl").unlink(), "queries.jsonl is missing"),
        (lambda r: (r / "qrels" / "test.tsv").unlink(), "available: train"),
        (lambda r: (r / "qrels" / "test.tsv").write_text("q1\td1\n"), "expected query-id"),
        (lambda r: (r / "qrels" / "test.tsv").write_text("q404\td1\t1\n"), "not in queries.jsonl"),
        (lambda r: (r / "queries.jsonl").write_text("not json\n"), "expected a JSON object"),
        (lambda r: (r / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n"), "no judgments"),
    ],
)
def test_bad_datasets_are_clear_errors(dataset: Path, change: Callable[[Path], object], message: str) -> None:
    change(dataset)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load_dataset(dataset, "test")


def test_bad_arguments(dataset: Path, settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No dataset folder"):
        load_dataset(tmp_path / "nothing")
    with pytest.raises(ValueError, match="unknown mode"):
        run_eval(dataset, modes=["sparse"], settings=settings)
    with pytest.raises(ValueError, match="at least 10"):
        run_eval(dataset, k=5, settings=settings)


# -- the CLI -----------------------------------------------------------------------------------------
@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from searchchat.cli import _register, app

    monkeypatch.setenv("SEARCHCHAT_EMBEDDER", "hash-64")
    _register()
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_cli_eval_json(cli, dataset: Path) -> None:  # type: ignore[no-untyped-def]
    res = cli("eval", str(dataset), "--mode", "bm25", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [r["mode"] for r in data["rows"]] == ["bm25"]
    assert data["rows"][0]["ndcg_10"] == pytest.approx(0.8)
    assert data["split"] == "test" and data["documents"] == 8


def test_cli_eval_table_prints_all_modes(cli, dataset: Path) -> None:  # type: ignore[no-untyped-def]
    res = cli("eval", str(dataset), "--quiet", "--fusion", "rrf")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    for mode in ("dense", "bm25", "hybrid"):
        assert any(line.strip("│ ").startswith(mode) for line in lines), res.stdout
    assert "nDCG@10" in res.stdout and "p95 ms" in res.stdout


def test_cli_eval_errors(cli, dataset: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = cli("eval", str(tmp_path / "missing"))
    assert res.exit_code == 1 and "No dataset folder" in res.output
    res = cli("eval", str(dataset), "--split", "dev")
    assert res.exit_code == 1 and "available: test, train" in res.output
    assert cli("eval", str(dataset), "--mode", "sparse").exit_code == 2
    assert cli("eval", str(dataset), "--fusion", "max").exit_code == 2


def test_a_blank_judged_query_finds_nothing_and_counts(dataset: Path, settings: Settings) -> None:
    queries = dataset / "queries.jsonl"
    queries.write_text(queries.read_text().replace('"volcanic magma"', '"  "'))
    bm25 = run_eval(dataset, "test", modes=["bm25"], settings=settings).rows[0]
    assert bm25.queries == 5  # still scored, as a query with nothing found: q1, q3, q4 of 5
    assert bm25.ndcg_10 == pytest.approx(0.6)
