"""The key/value states of a prompt's fixed start (system prompt, worked example), computed once and reused.

Every answer prompt opens with the same system message and worked example; only the sources, the question and
the conversation after it change. Prefilling that start once per process and handing a copy of its key/value
cache to each generation saves its share of the prefill, which dominates the wait for the first word on CPU.
"""

from __future__ import annotations

import copy
import inspect
import threading
from collections import OrderedDict
from typing import Any


def cache_kwarg(model: Any) -> str:
    """The keyword a model takes its key/value cache by: `cache` (transformers 5.x), else `past_key_values`."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


class PrefixCache:
    """Prefilled caches of a few prompt starts (token ids), least recently used dropped first."""

    def __init__(self, model: Any, size: int = 2) -> None:
        self.model, self.size = model, size
        self._caches: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def _prefill(self, prefix: tuple[int, ...]) -> Any:
        import torch
        from transformers import DynamicCache

        cache = DynamicCache()
        with torch.inference_mode():
            ids = torch.tensor([prefix], dtype=torch.long)
            self.model(input_ids=ids, use_cache=True, **{cache_kwarg(self.model): cache})  # fills it in place
        return cache

    def for_input(self, input_ids: list[int], prefix: list[int]) -> Any | None:
        """A private copy of the cache of `prefix`, when `input_ids` starts with it and goes on past it; None
        otherwise (the caller prefills the whole prompt as usual)."""
        if not prefix or len(prefix) >= len(input_ids) or input_ids[: len(prefix)] != prefix:
            return None
        key = tuple(prefix)
        with self._lock:
            cache = self._caches.get(key)
            if cache is None:
                self.misses += 1
                cache = self._prefill(key)
                self._caches[key] = cache
                while len(self._caches) > self.size:
                    self._caches.popitem(last=False)
            else:
                self.hits += 1
            self._caches.move_to_end(key)
            return copy.deepcopy(cache)  # generation appends to it; the stored one stays the prefix's
