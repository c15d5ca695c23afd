"""The embedder's precision: the setting, the per-machine choice from the CPU's flags (faked), and int8 vectors
that stay close to fp32's (one integration test loads the packaged MiniLM)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from indexer import onnx_int8, precision
from indexer.embed import SentenceTransformerEmbedder
from indexer.precision import resolve_precision
from searchchat.indexing import index_options
from searchchat.settings import Settings

WITH_BF16 = "flags : fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni"
WITH_AMX = "flags : fpu sse2 avx2 avx512f amx_bf16 amx_tile"
FP32_ONLY = "flags : fpu sse2 avx2 avx512f avx512bw avx512vl"


@pytest.mark.parametrize(
    ("flags", "requested", "used"),
    [
        (WITH_BF16, "auto", "bf16"),
        (WITH_AMX, "auto", "bf16"),
        (FP32_ONLY, "auto", "int8"),
        ("", "auto", "int8"),  # flags unreadable: treated as a CPU without bf16
        (FP32_ONLY, "bf16", "fp32"),  # emulated bf16 is slower than fp32: never used
        (WITH_BF16, "bf16", "bf16"),
        (WITH_BF16, "int8", "int8"),
        (WITH_BF16, "fp32", "fp32"),
        (FP32_ONLY, "fp32", "fp32"),
    ],
)
def test_each_machine_gets_its_precision(
    monkeypatch: pytest.MonkeyPatch, flags: str, requested: str, used: str
) -> None:
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    monkeypatch.setattr(precision, "INT8_PASSED", True)
    monkeypatch.setattr(onnx_int8, "available", lambda: False)  # torch's int8 where onnxruntime is missing
    assert resolve_precision(requested) == used


def test_auto_prefers_onnx_int8_where_onnxruntime_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "INT8_PASSED", True)
    monkeypatch.setattr(onnx_int8, "available", lambda: True)
    monkeypatch.setattr(precision, "cpu_flags", lambda: FP32_ONLY)
    assert resolve_precision("auto") == "onnx-int8"
    monkeypatch.setattr(precision, "ONNX_INT8_PASSED", False)
    assert resolve_precision("auto") == "int8"
    monkeypatch.setattr(precision, "cpu_flags", lambda: WITH_BF16)
    assert resolve_precision("auto") == "bf16"  # native bf16 stays the first choice
    monkeypatch.setattr(onnx_int8, "available", lambda: False)
    with pytest.raises(ValueError, match="pip install onnxruntime onnx"):
        resolve_precision("onnx-int8")


def test_auto_falls_back_to_fp32_where_int8_did_not_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cpu_flags", lambda: FP32_ONLY)
    monkeypatch.setattr(precision, "ONNX_INT8_PASSED", False)
    monkeypatch.setattr(precision, "INT8_PASSED", False)
    assert resolve_precision("auto") == "fp32"


def test_an_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown embedder precision 'fp16'"):
        resolve_precision("fp16")


def test_the_choice_is_logged_once(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(precision, "cpu_flags", lambda: FP32_ONLY)
    precision.log_choice.cache_clear()
    with caplog.at_level(logging.INFO, logger="indexer.precision"):
        precision.log_choice("auto", "int8")
        precision.log_choice("auto", "int8")
    assert [r.getMessage() for r in caplog.records] == [
        "embedder precision: int8 (asked auto; no native bf16 on this CPU)"
    ]
    precision.log_choice.cache_clear()


def test_the_setting_is_typed_and_reaches_the_index_options(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().embed_precision == "auto"
    monkeypatch.setenv("SEARCHCHAT_EMBED_PRECISION", "int8")
    settings = Settings()
    assert settings.embed_precision == "int8"
    assert index_options(settings).embed_precision == "int8"
    with pytest.raises(ValidationError):
        Settings(embed_precision="fp16")


@pytest.mark.integration
def test_int8_vectors_stay_close_to_fp32() -> None:
    texts = [
        "Vitamin D deficiency increases the risk of hip fractures in older women.",
        "The boundary layer thickens downstream of the leading edge in supersonic flow.",
        "Insulin resistance precedes type 2 diabetes by several years.",
        "Mutations in BRCA1 disrupt DNA repair in breast epithelial cells.",
    ]
    fp32 = SentenceTransformerEmbedder(precision="fp32")
    int8 = SentenceTransformerEmbedder(precision="int8")
    assert int8.precision == "int8" and int8.name == fp32.name
    kinds = [type(m).__module__ for m in int8.model.modules()]
    assert kinds.count("torch.ao.nn.quantized.dynamic.modules.linear") == 31  # 6 FFN outputs stay fp32
    cosines = np.sum(fp32.embed(texts) * int8.embed(texts), axis=1)
    assert cosines.min() > 0.98 and cosines.max() < 0.9999, cosines


@pytest.mark.integration
def test_onnx_int8_vectors_stay_close_to_fp32_and_the_export_is_cached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    texts = ["Vitamin D deficiency increases the risk of hip fractures in older women.",
             "The boundary layer thickens downstream of the leading edge in supersonic flow.",
             "短句也能编码。"]  # fmt: skip
    fp32 = SentenceTransformerEmbedder(precision="fp32")
    onnx = SentenceTransformerEmbedder(precision="onnx-int8")
    assert onnx.precision == "onnx-int8" and onnx.onnx is not None
    exported = list((tmp_path / "searchchat" / "onnx").glob("*.onnx"))
    assert len(exported) == 1 and exported[0] == onnx.onnx.path
    stamp = exported[0].stat().st_mtime_ns
    again = SentenceTransformerEmbedder(precision="onnx-int8")  # a second start reuses the export
    assert again.onnx is not None and again.onnx.path.stat().st_mtime_ns == stamp
    vecs = onnx.embed(texts)
    assert vecs.shape == (3, fp32.dim) and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(fp32.embed(texts) * vecs, axis=1)
    assert cosines.min() > 0.99 and cosines.max() < 0.99999, cosines


def test_no_bf16_makes_a_bf16_machine_act_as_an_fp32_only_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cpu_flags", lambda: WITH_BF16)
    monkeypatch.setattr(precision, "INT8_PASSED", True)
    monkeypatch.setattr(onnx_int8, "available", lambda: False)
    assert resolve_precision("auto") == "bf16"
    monkeypatch.setenv("SEARCHCHAT_NO_BF16", "1")
    assert resolve_precision("auto") == "int8"


def test_a_model_changed_in_place_gets_a_new_onnx_export(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"weights one")
    before = onnx_int8._fingerprint(str(tmp_path))
    assert before and onnx_int8._fingerprint(str(tmp_path)) == before
    (tmp_path / "model.safetensors").write_bytes(b"weights, retrained")
    assert onnx_int8._fingerprint(str(tmp_path)) != before
    assert onnx_int8._fingerprint(str(tmp_path / "missing")) == ""
