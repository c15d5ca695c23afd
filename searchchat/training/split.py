"""The article-level train/validation/test split of the QA sets the answerability model learns from."""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Datasets under ../shared/data and the share of their articles held out for validation and test.
DATASETS = ("squad20-dev-part", "covidqa", "cmrc2018-trial")
SHARES = {"validation": 0.15, "test": 0.25}
SEED = 20261202


@dataclass
class Split:
    """Article ids per part, per dataset: {dataset: {"train": [...], "validation": [...], "test": [...]}}."""

    parts: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    seed: int = SEED

    def part_of(self, dataset: str, article: str) -> str | None:
        for part, ids in self.parts.get(dataset, {}).items():
            if article in ids:
                return part
        return None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Split:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(parts=raw["parts"], seed=raw.get("seed", SEED))


def article_of(dataset: str, doc_id: str) -> str:
    """The article a document belongs to: SQuAD's paragraph ids are "Title_N"; elsewhere a doc is one."""
    return doc_id.rsplit("_", 1)[0] if dataset.startswith("squad") else doc_id


def make_split(articles: dict[str, list[str]], seed: int = SEED) -> Split:
    """Shuffle each dataset's articles with `seed` and cut them by SHARES (at least one article a part)."""
    parts: dict[str, dict[str, list[str]]] = {}
    for dataset, ids in articles.items():
        order = sorted(set(ids))
        random.Random(f"{seed}:{dataset}").shuffle(order)
        n_test = max(1, round(SHARES["test"] * len(order)))
        n_val = max(1, round(SHARES["validation"] * len(order)))
        parts[dataset] = {
            "test": sorted(order[:n_test]),
            "validation": sorted(order[n_test : n_test + n_val]),
            "train": sorted(order[n_test + n_val :]),
        }
    return Split(parts=parts, seed=seed)
