"""Shared by the COVID-QA benches: the cached COVID-QA index, the demo-corpus index and the question lists."""

from __future__ import annotations

from pathlib import Path

from indexer.embed import Embedder
from indexer.store import IndexStore, current_snapshot
from searchchat.evaluation.beir import BeirDataset, ensure_index
from searchchat.retrieval.retriever import Retriever
from searchchat.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
COVIDQA = Path("/work/shared/data/covidqa")


def covid_index(settings: Settings, embedder: Embedder, root: Path = COVIDQA) -> Path:
    """The same cached index `searchchat eval-qa <covidqa folder>` builds (settings.home/eval/<hash>)."""
    ds = BeirDataset(root, "qa", root / "corpus.jsonl", {}, {})
    return ensure_index(ds, settings, embedder, quiet=True)[0]


def demo_index(settings: Settings, embedder: Embedder) -> Path:
    """corpus/ indexed once into settings.home/bench/demo."""
    from indexer.pipeline import index_sources
    from searchchat.indexing import index_options

    index_dir = settings.home / "bench" / "demo"
    if current_snapshot(index_dir) is None:
        index_sources(
            [str(ROOT / "corpus")], index_options(settings.with_overrides(index=index_dir)), embedder=embedder
        )
    return index_dir


def retriever(index_dir: Path, embedder: Embedder, settings: Settings) -> Retriever:
    s = settings.with_overrides(index=index_dir)
    return Retriever(IndexStore.open(index_dir), embedder, s)


def questions(name: str) -> list[str]:
    """bench/data/<name>.txt, one question a line."""
    return [q.strip() for q in (DATA / f"{name}.txt").read_text(encoding="utf-8").splitlines() if q.strip()]
