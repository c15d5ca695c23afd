"""`searchchat eval-qa`: answer a QA set and report answer F1, citation precision/recall, abstention, speed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

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


@app.command("eval-qa")
def eval_qa(
    qa: Path = typer.Argument(
        ..., help="QA JSONL ({question, answers}) or a folder with qa.jsonl + corpus.jsonl."
    ),
    index: Path | None = IndexOpt,
    limit: int | None = typer.Option(None, "--limit", min=1, help="Score a random sample of N questions."),
    seed: int = typer.Option(13, "--seed", help="Seed of the sample."),
    generator: str | None = typer.Option(None, "--generator", help="local, openai, extractive or llamacpp."),
    model: str | None = typer.Option(None, "--model", help="Model directory, GGUF file or HF id (local)."),
    k: int | None = typer.Option(None, "-k", min=1, max=50, help="Passages given to the model."),
    mode: str | None = ModeOpt,
    max_new_tokens: int | None = typer.Option(None, "--max-new-tokens", min=1, help="Generation length cap."),
    out: Path | None = typer.Option(None, "--out", help="Also write one JSON line per question here."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-question progress on stderr."),
    strict: bool = StrictOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Evaluate answers on a QA set (a folder's corpus.jsonl is indexed once into a cached index)."""
    from indexer.store import IndexStore
    from searchchat.answer import Answerer
    from searchchat.embed import get_embedder
    from searchchat.evalqa import QARecord, format_report, load_qa, resolve, run_qa, sample, summarise
    from searchchat.generators import get_generator
    from searchchat.retrieve import Retriever

    settings = make_settings(
        index,
        mode=mode,
        generator=generator,
        model=model,
        max_new_tokens=max_new_tokens,
        strict=strict or None,
    )
    with friendly_errors():
        qa_file, corpus = resolve(qa)
        items = sample(load_qa(qa_file), limit, seed)
        embedder = get_embedder(settings)
        index_dir = settings.index_dir
        if index is None and corpus is not None:
            from searchchat.beir import BeirDataset, ensure_index

            if not quiet:
                typer.echo(f"Indexing {corpus} (cached after the first run)…", err=True)
            ds = BeirDataset(corpus.parent, "qa", corpus, {}, {})
            index_dir, _ = ensure_index(ds, settings, embedder, quiet=quiet or json_out)
        settings = settings.with_overrides(index=index_dir)
        store = IndexStore.open(index_dir)
        answerer = Answerer(Retriever(store, embedder, settings), get_generator(settings), settings)
        fh = out.open("w", encoding="utf-8") if out else None
        done = [0]

        def on_record(rec: QARecord) -> None:
            done[0] += 1
            if fh:
                fh.write(json.dumps(rec.__dict__, ensure_ascii=False) + "\n")
                fh.flush()
            if not quiet:
                state = (
                    "abstained"
                    if rec.abstained
                    else f"F1 {rec.f1:.2f}, {rec.good_citations}/{rec.citations} cites"
                )
                print(
                    f"[{done[0]}/{len(items)}] {state}, {rec.total_ms / 1000:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )

        try:
            records = run_qa(answerer, items, k=k, mode=mode, on_record=on_record)
        finally:
            if fh:
                fh.close()
            store.close()
    if not records:
        fail("no questions were scored")
    report = summarise(records, {"qa": str(qa_file), "index": str(index_dir), "generator": settings.generator,
                                 "k": k or settings.k, "mode": mode or settings.mode, "limit": limit, "seed": seed,
                                 "max_new_tokens": settings.max_new_tokens, "strict": settings.strict})  # fmt: skip
    if json_out:
        print_json(report.to_dict())
    else:
        typer.echo(format_report(report))
