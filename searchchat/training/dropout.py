"""Dropout whose masks are cut from packed random bits: torch's distribution at a fraction of its CPU cost."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

NAME = "packed_dropout"  # the attention implementation registered with transformers while it is in use
LEVELS = 1 << 16  # a mask element is one 16-bit lane of random bits


def packed_dropout(x: Any, p: float, training: bool = True) -> Any:
    """`torch.nn.functional.dropout(x, p, training)` in distribution (p rounded to 1/65536). torch draws one
    random number per element, serially on CPU; here each 64-bit draw gives three 16-bit lanes (its 63rd bit is
    always 0, so the top lane is left unused), so a mask costs about a third as much."""
    import torch

    if not training or p <= 0.0:
        return x
    if p >= 1.0:
        return torch.zeros_like(x)
    n = x.numel()
    lanes = torch.empty(((n + 2) // 3, 4), dtype=torch.int16)
    lanes.view(torch.int64).random_()
    drop = round(p * LEVELS)
    keep = lanes[:, :3].reshape(-1)[:n].view(x.shape) >= drop - LEVELS // 2
    return x * keep.to(x.dtype) * (LEVELS / (LEVELS - drop))


def _dropout_module() -> Any:
    import torch

    class PackedDropout(torch.nn.Module):
        def __init__(self, p: float) -> None:
            super().__init__()
            self.p = p

        def forward(self, x: Any) -> Any:
            return packed_dropout(x, self.p, self.training)

    return PackedDropout


def attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float | None = None,
              dropout: float = 0.0, **_: Any) -> tuple[Any, Any]:  # fmt: skip
    """transformers' eager attention, with packed_dropout on the attention weights."""
    import torch

    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = packed_dropout(torch.softmax(weights, dim=-1), dropout, module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


@contextlib.contextmanager
def packed(model: Any) -> Iterator[int]:
    """Within the block, every torch Dropout of `model` (a transformers BERT) and its attention dropout use
    packed_dropout; afterwards the model is as it was (so its saved config names no custom attention). Yields
    how many Dropout modules were swapped."""
    import torch
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(NAME, attention)
    AttentionMaskInterface.register(NAME, eager_mask)
    swapped: list[tuple[Any, str, Any]] = []
    cls = _dropout_module()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Dropout):
                swapped.append((parent, name, child))
                setattr(parent, name, cls(child.p).train(child.training))
    before = model.config._attn_implementation
    model.config._attn_implementation = NAME
    try:
        yield len(swapped)
    finally:
        model.config._attn_implementation = before
        for parent, name, child in swapped:
            setattr(parent, name, child)
