"""The numeric precision MiniLM encodes in on this CPU: fp32, bf16, or int8 (torch or ONNX Runtime)."""

from __future__ import annotations

import functools
import logging
import os
import re
import warnings
from typing import Any, Literal

from indexer import onnx_int8

log = logging.getLogger(__name__)

Precision = Literal["auto", "fp32", "bf16", "int8", "onnx-int8"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "int8", "onnx-int8")

# "auto" picks int8 where bf16 is missing only while int8 keeps nDCG@10 within 0.005 of fp32 (issue 20);
# measured on SciFact and Cranfield in bench/results/embed_int8.txt.
INT8_PASSED = True
# The same rule for MiniLM through ONNX Runtime with int8 weights (indexer.onnx_int8), which "auto" prefers to
# torch's int8 where onnxruntime is installed.
ONNX_INT8_PASSED = True
# How MiniLM's int8 weights are made; eval caches key their indexes by it (searchchat.evaluation.beir.cache_key).
INT8_SCHEME = "qint8 per-channel weights, nn.Linear but the FFN output"
# BERT's FFN output projections (encoder.layer.N.output.dense, not attention.output.dense) stay fp32: their
# inputs have outlier activations, and quantising them too took the cosine to fp32 from 0.99 to 0.98 mean.
MINILM_FP32_LAYERS = r"layer\.\d+\.output\.dense$"


def cpu_flags() -> str:
    """The CPU's feature flags (/proc/cpuinfo), or '' where they cannot be read."""
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 arithmetic (AVX512-BF16 or AMX), where bf16 is a clear win.

    Measured on this project's CPUs without them (AVX-512 F/BW/VL only): oneDNN emulates bf16 and MiniLM
    encodes about 2x slower than in fp32, so there we never use bf16.
    """
    if os.environ.get("SEARCHCHAT_NO_BF16") == "1":  # act as an fp32-only machine would (benchmarks, tests)
        return False
    flags = cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(requested: str) -> str:
    """The precision actually used for `requested`: 'auto' is bf16 where the CPU has it natively, else int8
    through ONNX Runtime where it is installed, else torch's int8 (while each passes), else fp32; an explicit
    'bf16' falls back to fp32 where bf16 would be emulated."""
    if requested not in PRECISIONS:
        raise ValueError(f"Unknown embedder precision {requested!r}; one of {', '.join(PRECISIONS)}")
    bf16 = cpu_supports_bf16()
    if requested == "auto":
        if bf16:
            return "bf16"
        if ONNX_INT8_PASSED and onnx_int8.available():
            return "onnx-int8"
        return "int8" if INT8_PASSED else "fp32"
    if requested == "onnx-int8" and not onnx_int8.available():
        raise ValueError(
            "Embedder precision onnx-int8 needs onnxruntime and onnx: pip install onnxruntime onnx"
        )
    if requested == "bf16" and not bf16:
        return "fp32"
    return requested


@functools.lru_cache(maxsize=8)
def log_choice(requested: str, used: str) -> None:
    """Say once per process which precision the embedder runs in, and why."""
    why = "native bf16 (avx512_bf16/AMX)" if cpu_supports_bf16() else "no native bf16 on this CPU"
    log.info("embedder precision: %s (asked %s; %s)", used, requested, why)


def quantize_int8(model: Any, keep_fp32: str | None = None) -> Any:
    """`model` with its nn.Linear layers dynamically quantised in place, but those whose names match `keep_fp32`: int8
    weights with one scale per output channel (per-tensor scales cost MiniLM twice the cosine error, 0.95
    against 0.98 mean to fp32), and activations quantised per batch.

    torch's eager dynamic quantisation is deprecated in favour of torchao but still ships; its warnings are
    silenced here so that they do not surface on every start.
    """
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        linear = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
        spec = {n: per_channel_dynamic_qconfig for n in linear if not (keep_fp32 and re.search(keep_fp32, n))}
        return quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)  # no second fp32 copy
