"""The local generator: a transformers causal LM on the CPU (the packaged default model unless configured)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

from searchchat.generators.base import Generator, GeneratorError, Prompt
from searchchat.generators.prefix import PrefixCache, cache_kwarg
from searchchat.settings import Settings

log = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16", "int8")
# int8: every nn.Linear dynamically quantised (int8 weights per output channel, activations per batch), but the
# MLP's down projections, which stay fp32: quantised too, they changed the answers (bench/generation_speed.py).
INT8_KEEP_FP32 = r"mlp\.down_proj$"


def default_dtype() -> str:
    """bfloat16 where the CPU computes it natively (AVX512-BF16 or AMX), else int8 (INT8_KEEP_FP32), unless
    SEARCHCHAT_LOCAL_DTYPE says otherwise.

    On an AVX-512 CPU without native bf16, bf16 weights made the prefill of a 1,500-token RAG prompt 2.2x slower
    than fp32, with the same decode speed; int8 reached the first token of a 625-token prompt in about half
    fp32's time, with the same answer (bench/generation_speed.py).
    """
    if env := os.environ.get("SEARCHCHAT_LOCAL_DTYPE"):
        return env
    from indexer.precision import cpu_supports_bf16

    return "bfloat16" if cpu_supports_bf16() else "int8"


class LocalGenerator(Generator):
    """Streams with `TextIteratorStreamer` from a generation thread; stops that thread when the consumer stops."""

    name = "local"

    def __init__(self, model: Any, tokenizer: Any, label: str = "", prefix_cache: bool = True) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.label = label
        self.prefix = PrefixCache(model) if prefix_cache else None
        if not getattr(tokenizer, "chat_template", None):
            raise GeneratorError(
                f"Model {label or model} has no chat template; use an instruction-tuned model."
            )

    @classmethod
    def from_settings(cls, settings: Settings, dtype: str | None = None) -> LocalGenerator:
        from searchchat.generators.modelcache import transformers_location

        return cls.load(transformers_location(settings), dtype=dtype)

    @classmethod
    def load(cls, location: str, dtype: str | None = None, gguf_file: str | None = None) -> LocalGenerator:
        """Load a transformers directory or hub id (or a GGUF file in directory `location`, dequantised)."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        dtype = dtype or default_dtype()
        if dtype not in DTYPES:
            raise GeneratorError(
                f"Unknown dtype {dtype!r} (SEARCHCHAT_LOCAL_DTYPE): use one of {', '.join(DTYPES)}."
            )
        torch_dtype = getattr(torch, "float32" if dtype == "int8" else dtype)
        extra = {"gguf_file": gguf_file} if gguf_file else {}
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start
        try:
            tokenizer = AutoTokenizer.from_pretrained(location, **extra)
            model = AutoModelForCausalLM.from_pretrained(location, dtype=torch_dtype, **extra)
        except (OSError, ValueError) as e:  # ValueError: a directory without a usable tokenizer
            hint = (
                "" if os.path.exists(location) else " (a Hugging Face id needs network access the first time"
            )
            hint += ", and HF_HUB_OFFLINE unset)" if hint else ""
            raise GeneratorError(f"Could not load model {location!r}{hint}: {e}") from e
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        model.eval()
        if dtype == "int8":
            from indexer.precision import quantize_int8

            model = quantize_int8(model, keep_fp32=INT8_KEEP_FP32)
        log.info("local generator %s in %s", location, dtype)
        return cls(model, tokenizer, label=location)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def render(self, prompt: Prompt) -> str:
        text: str = self.tokenizer.apply_chat_template(
            prompt.messages, tokenize=False, add_generation_prompt=True
        )
        return text

    def _cached_prefix(self, prompt: Prompt, input_ids: list[int]) -> Any | None:
        """A copy of the prefilled key/value cache of the prompt's fixed messages, when there is one to use."""
        if self.prefix is None or not 0 < prompt.fixed < len(prompt.messages):
            return None
        text = self.tokenizer.apply_chat_template(prompt.messages[: prompt.fixed], tokenize=False)
        return self.prefix.for_input(input_ids, self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _stop_ids(self) -> list[int]:
        """The model's end-of-sequence ids, plus ChatML's end-of-turn token where the vocabulary has one."""
        eos = self.model.generation_config.eos_token_id
        ids = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        im_end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(im_end, int) and im_end != self.tokenizer.unk_token_id:
            ids.add(im_end)
        return sorted(ids)

    def _generation_config(self, max_new_tokens: int, temperature: float) -> Any:
        from transformers import GenerationConfig

        stop = self._stop_ids()
        pad = self.model.generation_config.pad_token_id
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "eos_token_id": stop or None,
            "pad_token_id": pad if pad is not None else (stop[0] if stop else None),
        }
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=0.9)
        else:
            kwargs.update(do_sample=False)
        return GenerationConfig(**kwargs)

    def stream(self, prompt: Prompt, max_new_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        inputs = self.tokenizer(self.render(prompt), return_tensors="pt", add_special_tokens=False)
        past = self._cached_prefix(prompt, inputs["input_ids"][0].tolist())
        extra = {cache_kwarg(self.model): past} if past is not None else {}
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        stop = threading.Event()
        errors: list[BaseException] = []

        class _StopFlag(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool)

        def run() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(
                        **inputs,
                        generation_config=self._generation_config(max_new_tokens, temperature),
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([_StopFlag()]),
                        **extra,
                    )
            except BaseException as e:  # surfaced in the consumer's thread below
                errors.append(e)
                streamer.end()

        thread = threading.Thread(target=run, name="searchchat-generate", daemon=True)
        thread.start()
        try:
            for piece in streamer:
                if piece:
                    yield piece
        finally:
            stop.set()  # the consumer stopped early (or we're done): let generate() return at the next token
            thread.join()
        if errors:
            raise GeneratorError(f"Generation failed: {errors[0]}") from errors[0]
