"""A llama.cpp generator (via the optional `xllamacpp` package) that runs a GGUF file directly on the CPU."""

from __future__ import annotations

import contextlib
import importlib
import os
import queue
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from searchchat.generators.base import Generator, GeneratorError, Prompt
from searchchat.settings import Settings

_END = object()


def _import_xllamacpp() -> Any:
    try:
        return importlib.import_module("xllamacpp")
    except ImportError as e:
        raise GeneratorError(
            "The llamacpp generator needs the xllamacpp package: pip install xllamacpp "
            "(or pip install 'searchchat[llamacpp]'), or choose another generator."
        ) from e


class LlamaCppGenerator(Generator):
    """Runs llama.cpp's embedded server in-process; streams chat completions through a callback."""

    name = "llamacpp"

    def __init__(self, gguf_path: Path | str, n_ctx: int = 4096, n_threads: int | None = None) -> None:
        xlc = _import_xllamacpp()
        path = Path(gguf_path)
        if not path.is_file():
            raise GeneratorError(f"GGUF file {path} not found.")
        threads = n_threads or os.cpu_count() or 1
        params = xlc.CommonParams()
        params.model.path = str(path)
        params.n_ctx = n_ctx
        params.n_parallel = 1
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.warmup = True
        params.verbosity = 0  # errors only
        # The embedded server also listens on a random 127.0.0.1 port; a secret key keeps other local
        # processes and web pages (it allows CORS) from using it. Calls from Python do not need the key.
        self._key = secrets.token_urlsafe(32)
        params.api_keys = [self._key]
        params.sampling.top_k = 1  # greedy unless a request sets a temperature and its own top_k
        try:
            self._server = xlc.Server(params)
        except Exception as e:
            raise GeneratorError(f"llama.cpp could not load {path}: {e}") from e
        self.path = path
        self.n_ctx = n_ctx
        self._http = httpx.Client(base_url=str(self._server.listening_address), timeout=30.0, trust_env=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> LlamaCppGenerator:
        _import_xllamacpp()  # fail fast, before joining the model
        from searchchat.generators.modelcache import gguf_location

        n_ctx = max(
            4096, settings.context_tokens + settings.max_new_tokens + 1024
        )  # + rules, history, question
        return cls(gguf_location(settings), n_ctx=n_ctx)

    def count_tokens(self, text: str) -> int:
        """Tokens in the model's own tokenizer, from the embedded server's /tokenize (an estimate if that fails)."""
        try:
            resp = self._http.post(
                "/tokenize", json={"content": text}, headers={"Authorization": f"Bearer {self._key}"}
            )
            resp.raise_for_status()
            return len(resp.json()["tokens"])
        except (httpx.HTTPError, ValueError, KeyError):
            return super().count_tokens(text)

    def stream(self, prompt: Prompt, max_new_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        request: dict[str, Any] = {
            "messages": prompt.messages,
            "max_tokens": max_new_tokens,
            "stream": True,
            "temperature": temperature,
            "top_k": 1 if temperature <= 0 else 40,
        }
        pieces: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()

        def on_chunk(chunk: Any) -> bool:
            pieces.put(chunk)
            return stop.is_set()  # True asks llama.cpp to stop generating

        def run() -> None:
            try:
                result = self._server.handle_chat_completions(request, on_chunk)
                if isinstance(result, dict) and result.get("error"):
                    pieces.put(result)
            except BaseException as e:  # surfaced in the consumer's thread
                pieces.put(e)
            finally:
                pieces.put(_END)

        thread = threading.Thread(target=run, name="searchchat-llamacpp", daemon=True)
        thread.start()
        try:
            while (item := pieces.get()) is not _END:
                if isinstance(item, BaseException):
                    raise GeneratorError(f"llama.cpp generation failed: {item}") from item
                text = _delta(item)
                if text:
                    yield text
        finally:
            stop.set()
            thread.join()


def _delta(chunk: Any) -> str:
    """The text of one streamed chunk (a dict or JSON text in OpenAI's chunk format)."""
    if isinstance(chunk, str | bytes):
        import json

        with contextlib.suppress(ValueError):
            chunk = json.loads(chunk)
    if not isinstance(chunk, dict):
        return ""
    if chunk.get("error"):
        raise GeneratorError(f"llama.cpp reported an error: {str(chunk['error'])[:300]}")
    choices = chunk.get("choices") or []
    if not choices:
        return ""
    return (choices[0].get("delta") or {}).get("content") or ""
