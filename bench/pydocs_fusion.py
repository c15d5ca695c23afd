"""Does hybrid retrieval keep up with its better leg on "how do I ..." questions over the crawled Python docs?

    python bench/crawl_pydocs.py --once --index /tmp/pydocs/index     # crawl and index the docs, kept
    python bench/pydocs_fusion.py /tmp/pydocs/index [--questions bench/data/pydocs_howto.tsv]

For each retrieval mode (dense, bm25, hybrid) and each question of bench/data/pydocs_howto.tsv (written for
searchchat, with the pages that answer it): page recall@10 (a page that answers it is among the pages of the
top 10 results) and page MRR@10. Results are chunks, at most `per_doc_cap` per page, as `searchchat search`
shows them."""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import urlparse

from indexer.embed import get_embedder
from indexer.store import IndexStore
from searchchat.retrieval.retriever import Retriever
from searchchat.settings import Settings

HERE = Path(__file__).resolve().parent
MODES = ("dense", "bm25", "hybrid")


def load(path: Path) -> list[tuple[str, set[str]]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            question, pages = line.split("\t")
            rows.append((question, {p.strip() for p in pages.split(",")}))
    return rows


def page_of(url: str) -> str:
    return urlparse(url).path.lstrip("/")


def rank(pages: list[str], good: set[str]) -> int | None:
    """The 1-based rank of the first page that answers, among the distinct pages in result order."""
    seen: list[str] = []
    for p in pages:
        if p not in seen:
            seen.append(p)
    return next((i for i, p in enumerate(seen, 1) if p in good), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("index", type=Path)
    ap.add_argument("--questions", type=Path, default=HERE / "data" / "pydocs_howto.tsv")
    ap.add_argument("-k", type=int, default=10)
    args = ap.parse_args()
    settings = Settings().with_overrides(index=args.index)
    retriever = Retriever(IndexStore.open(args.index), get_embedder(settings), settings)
    rows = load(args.questions)
    print(f"{len(rows)} questions, {args.index}; results {args.k} chunks, per_doc_cap {settings.per_doc_cap}")
    print(f"{'mode':8} {'recall@' + str(args.k):>10} {'MRR@' + str(args.k):>8}")
    for mode in MODES:
        ranks = []
        for question, good in rows:
            hits = retriever.search(question, k=args.k, mode=mode).hits
            ranks.append(rank([page_of(h.chunk.url) for h in hits], good))
        recall = sum(r is not None for r in ranks) / len(rows)
        mrr = sum(1 / r for r in ranks if r is not None) / len(rows)
        print(f"{mode:8} {recall:10.3f} {mrr:8.3f}")


if __name__ == "__main__":
    main()
