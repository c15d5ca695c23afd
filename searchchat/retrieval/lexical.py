"""BM25 search over a snapshot's chunks (indexer.bm25_index, loaded once by the store); and the CJK
measures the answer path uses (characters, numerals, share of the text)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from indexer.bm25 import analyze, stemmer
from indexer.bm25_index import LexicalIndex

if TYPE_CHECKING:
    from indexer.store import IndexStore

__all__ = ["LexicalIndex", "lexical_index", "tokenize"]


@functools.cache
def _shared_stemmer() -> Any:
    return stemmer()


def tokenize(text: str) -> list[str]:
    """One text's tokens as the index has them."""
    return analyze([text], _shared_stemmer())[0]


def lexical_index(store: IndexStore) -> LexicalIndex:
    """The BM25 index of an IndexStore snapshot, loaded once by the store."""
    return store.bm25
