"""Retrieval: dense, lexical (BM25) and hybrid search over the index, fusion, filters and reranking."""
