"""MiniLM through ONNX Runtime with int8 weights: exported from the loaded model once, cached on disk."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# How the int8 model is made; eval caches key their indexes by it (searchchat.evaluation.beir.cache_key).
ONNX_INT8_SCHEME = "onnxruntime dynamic qint8 per-channel MatMul weights, but the FFN output"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def available() -> bool:
    """Whether ONNX Runtime and the ONNX exporter's package are installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "searchchat" / "onnx"


def _fingerprint(source: str) -> str:
    """Names, sizes and times of the model folder's files: a model retrained in place gets a new export."""
    folder = Path(source)
    if not folder.is_dir():
        return ""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return ";".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)


def _export(bert: Any, tokenizer: Any, out: Path, keep_fp32: str) -> None:
    """Write `bert` (a transformers BertModel) as an int8 ONNX model to `out`, atomically."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    class Hidden(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = tokenizer(["an example", "a second, longer example"], padding=True, return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "hidden")}
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        with warnings.catch_warnings():  # the tracer's warnings about Python control flow: shapes are dynamic
            warnings.simplefilter("ignore")
            torch.onnx.export(Hidden(bert).eval(), tuple(sample[n] for n in INPUTS), str(fp32),
                              input_names=list(INPUTS), output_names=["hidden"], dynamic_axes=axes,
                              opset_version=17, dynamo=False)  # fmt: skip
        import onnx

        names = [n.name for n in onnx.load(str(fp32)).graph.node if n.op_type == "MatMul"]
        keep = [n for n in names if re.search(keep_fp32, n.replace("/", ".").replace(".MatMul", ""))]
        part = Path(tmp) / "int8.onnx"
        quantize_dynamic(fp32, part, weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=keep)
        os.replace(part, out)


class OnnxInt8Encoder:
    """Mean-pooled, normalised sentence vectors from an int8 ONNX copy of a sentence-transformers BERT model."""

    def __init__(self, st_model: Any, source: str, keep_fp32: str, threads: int | None = None) -> None:
        import onnxruntime as ort

        key = hashlib.sha256(
            f"{source}|{_fingerprint(source)}|{ONNX_INT8_SCHEME}|{keep_fp32}|{ort.__version__}".encode()
        ).hexdigest()[:16]
        path = cache_dir() / f"{key}.onnx"
        if not path.is_file():
            log.info("exporting %s to ONNX int8 at %s (once)", source, path)
            _export(st_model[0].auto_model, st_model.tokenizer, path, keep_fp32)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.path = path

    def encode_ids(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """One vector per row of padded token ids (with [CLS] and [SEP]; the mask marks the real tokens)."""
        feeds = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": np.zeros_like(input_ids),
        }
        hidden = self.session.run(None, feeds)[0]
        mask = attention_mask[..., None].astype(np.float32)
        vecs = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        vecs /= np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)
        return np.asarray(vecs, dtype=np.float32)
