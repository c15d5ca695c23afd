"""Int8 weight packing: 2-D float tensors as int8 rows with one fp16 scale each, the rest as fp16."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

_SCALE = ".__scale__"
FORMAT = "searchchat-int8-v1"  # the file's "format" metadata


def pack(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Symmetric per-row int8 for every matrix (embeddings and linear layers), fp16 for vectors."""
    out: dict[str, torch.Tensor] = {}
    for name, t in state.items():
        t = t.detach().float().contiguous()
        if t.dim() == 2:
            scale = t.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 127.0
            out[name] = torch.round(t / scale).clamp(-127, 127).to(torch.int8)
            out[name + _SCALE] = scale.half()
        else:
            out[name] = t.half()
    return out


def unpack(packed: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The float32 state dict that `pack` was given, up to rounding."""
    out: dict[str, torch.Tensor] = {}
    for name, t in packed.items():
        if name.endswith(_SCALE):
            continue
        scale = packed.get(name + _SCALE)
        out[name] = t.float() * scale.float() if scale is not None else t.float()
    return out


def save(state: dict[str, torch.Tensor], path: Path, metadata: dict[str, Any] | None = None) -> None:
    """`state` packed by `pack` into a safetensors file tagged with FORMAT, plus any other metadata."""
    tags = {"format": FORMAT, **(metadata or {})}
    save_file(pack(state), str(path), metadata={k: str(v) for k, v in tags.items()})


def load(path: Path) -> dict[str, torch.Tensor]:
    return unpack(load_file(str(path)))
