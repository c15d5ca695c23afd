"""`searchchat eval-qa`: answer a QA set and report truthfulness, citations and abstention beside a baseline."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, get_args

import typer

from searchchat.cli import app
from searchchat.cli.common import (
    IndexOpt,
    JsonOpt,
    ModeOpt,
    StrictOpt,
    fail,
    friendly_errors,
    make_settings,
    print_json,
)
from searchchat.settings import Settings

if TYPE_CHECKING:
    from indexer.embed import Embedder
    from indexer.store import ReadStore
    from searchchat.answering.pipeline import Answerer
    from searchchat.evaluation.qa import QARecord
    from searchchat.evaluation.qa_sets import QAItem


def baseline_path(out: Path) -> Path:
    """Where the baseline's records go: `.baseline` before the suffix (run.jsonl -> run.baseline.jsonl)."""
    return out.with_name(f"{out.stem}.baseline{out.suffix}")


def progress(rec: Any) -> str:
    """The per-question state on stderr: truth score, then the reason or the F1 and citations."""
    if rec.abstained:
        return f"truth {rec.truth:+d}, abstained ({rec.reason})"
    cited = "correct+cited" if rec.correct_cited else "not correct+cited"
    return f"truth {rec.truth:+d}, {cited}, F1 {rec.f1:.2f}, {rec.good_citations}/{rec.citations} cites"


def _baseline_name(baseline: str, settings: Settings) -> str | None:
    """The generator measured beside the system's, or None (asked for none, or the same generator)."""
    choices = get_args(Settings.model_fields["generator"].annotation)
    base_name: str | None = None if baseline.lower() == "none" else baseline.lower()
    if base_name is not None and base_name not in choices:
        fail(f"unknown baseline {baseline!r}; choose {', '.join(choices)} or none", code=2)
    if base_name == settings.generator:
        base_name = None  # the system is the baseline: nothing to compare
    return base_name


def _questions(
    qa: Path, qa_ids: Path | None, limit: int | None, seed: int, quiet: bool
) -> tuple[Path, Path | None, list[QAItem]]:
    """(QA file, its corpus file or None, the questions to ask: those of --qa-ids, then a --limit sample)."""
    from searchchat.evaluation.qa_sets import load_ids, load_qa, resolve, restrict, sample

    qa_file, corpus = resolve(qa)
    items = load_qa(qa_file)
    if qa_ids is not None:
        items, missing = restrict(items, load_ids(qa_ids))
        if missing and not quiet:
            typer.echo(f"{len(missing)} ids in {qa_ids} are not in {qa_file} (e.g. {missing[0]})", err=True)
        if not items:
            raise ValueError(f"no question of {qa_file} has an id listed in {qa_ids}")
    return qa_file, corpus, sample(items, limit, seed)


def _corpus_index(corpus: Path, settings: Settings, embedder: Embedder, quiet: bool, json_out: bool) -> Path:
    """The cached index of a QA folder's corpus.jsonl, built on first use."""
    from searchchat.evaluation.beir import BeirDataset, ensure_index

    if not quiet:
        typer.echo(f"Indexing {corpus} (cached after the first run)…", err=True)
    ds = BeirDataset(corpus.parent, "qa", corpus, {}, {})
    index_dir, _ = ensure_index(ds, settings, embedder, quiet=quiet or json_out)
    return index_dir


def _systems(
    store: ReadStore, embedder: Embedder, settings: Settings, base_name: str | None
) -> tuple[list[tuple[str, Settings]], list[Answerer]]:
    """The system and its baseline: (label, settings) each, and their answerers over one retriever."""
    from searchchat.answering.pipeline import Answerer
    from searchchat.generators import get_generator
    from searchchat.retrieval.retriever import Retriever

    retriever = Retriever(store, embedder, settings)
    systems = [(f"default ({settings.generator})", settings)]
    if base_name is not None:
        systems.append((f"baseline ({base_name})", settings.with_overrides(generator=base_name)))
    return systems, [Answerer(retriever, get_generator(s), s) for _, s in systems]


def _print_reports(
    systems: list[tuple[str, Settings]], records: list[list[QARecord]], common: dict[str, Any], json_out: bool
) -> None:
    """Each system's report, side by side as text or as {system, baseline} JSON."""
    from searchchat.evaluation.qa import format_table, summarise

    reports = {
        label: summarise(recs, {**common, "generator": s.generator})
        for (label, s), recs in zip(systems, records, strict=True)
    }
    if json_out:
        main, *rest = reports.values()
        print_json({"system": main.to_dict(), "baseline": rest[0].to_dict() if rest else None})
    else:
        typer.echo(format_table(reports))


class _RecordLog:
    """Each system's records as JSON lines in its --out file, and the progress on stderr."""

    def __init__(self, labels: list[str], total: int, quiet: bool) -> None:
        self.labels, self.total, self.quiet = labels, total, quiet
        self.files: list[IO[str]] = []
        self.done = [0] * len(labels)

    def open(self, paths: list[Path]) -> None:
        for path in paths[: len(self.labels)]:
            self.files.append(path.open("w", encoding="utf-8"))

    def write(self, i: int, rec: QARecord) -> None:
        self.done[i] += 1
        if i < len(self.files):
            self.files[i].write(json.dumps(rec.__dict__, ensure_ascii=False) + "\n")
            self.files[i].flush()
        if not self.quiet:
            who = f" {self.labels[i]}:" if len(self.labels) > 1 else ""
            print(f"[{self.done[i]}/{self.total}]{who} {progress(rec)}, {rec.total_ms / 1000:.1f} s",
                  file=sys.stderr, flush=True)  # fmt: skip

    def close(self) -> None:
        for fh in self.files:
            fh.close()


@app.command("eval-qa")
def eval_qa(
    qa: Path = typer.Argument(
        ..., help="QA JSONL ({question, answers[, is_impossible]}) or a folder with qa.jsonl + corpus.jsonl."
    ),
    index: Path | None = IndexOpt,
    limit: int | None = typer.Option(None, "--limit", min=1, help="Score a random sample of N questions."),
    seed: int = typer.Option(13, "--seed", help="Seed of the sample."),
    qa_ids: Path | None = typer.Option(
        None, "--qa-ids", help="Only the questions whose ids this file lists, one a line (a held-out split)."
    ),
    generator: str | None = typer.Option(None, "--generator", help="local, openai, extractive or llamacpp."),
    baseline: str = typer.Option(
        "extractive", "--baseline", help="Generator measured beside it in the same run, or 'none'."
    ),
    model: str | None = typer.Option(None, "--model", help="Model directory, GGUF file or HF id (local)."),
    k: int | None = typer.Option(None, "-k", min=1, max=50, help="Passages given to the model."),
    mode: str | None = ModeOpt,
    max_new_tokens: int | None = typer.Option(None, "--max-new-tokens", min=1, help="Generation length cap."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Also write one JSON line per question here (the baseline's to FILE.baseline.EXT).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-question progress on stderr."),
    strict: bool = StrictOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Evaluate answers on a QA set beside a baseline (a folder's corpus.jsonl is indexed once, cached)."""
    from indexer.embed import get_embedder
    from indexer.store import open_reader
    from searchchat.evaluation.qa import run_systems

    settings = make_settings(index, mode=mode, generator=generator, model=model, max_new_tokens=max_new_tokens,
                             strict=strict or None)  # fmt: skip
    base_name = _baseline_name(baseline, settings)
    with friendly_errors():
        qa_file, corpus, items = _questions(qa, qa_ids, limit, seed, quiet)
        embedder = get_embedder(settings)
        index_dir = settings.index_dir
        if index is None and corpus is not None:
            index_dir = _corpus_index(corpus, settings, embedder, quiet, json_out)
        settings = settings.with_overrides(index=index_dir)
        store = open_reader(settings.store, index_dir)
        systems, answerers = _systems(store, embedder, settings, base_name)
        log = _RecordLog([label for label, _ in systems], len(items), quiet)
        try:
            log.open([out, baseline_path(out)] if out else [])
            records = run_systems(answerers, items, k=k, mode=mode, on_record=log.write)
        finally:
            log.close()
            store.close()
    if not records[0]:
        fail("no questions were scored")
    common = {"qa": str(qa_file), "index": str(index_dir), "k": k or settings.k, "mode": mode or settings.mode,
              "limit": limit, "seed": seed, "qa_ids": str(qa_ids) if qa_ids else None,
              "max_new_tokens": settings.max_new_tokens, "strict": settings.strict}  # fmt: skip
    _print_reports(systems, records, common, json_out)
