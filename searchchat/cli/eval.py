"""`searchchat eval`: retrieval quality and latency on a BEIR-layout dataset, one row per mode."""

from __future__ import annotations

from pathlib import Path

import typer

from searchchat.cli import app
from searchchat.cli.common import JsonOpt, fail, friendly_errors, make_settings, print_json

MODE_CHOICES = ("all", "dense", "bm25", "hybrid")


@app.command("eval")
def eval_(
    dataset: Path = typer.Argument(..., help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv."),
    split: str = typer.Option("test", "--split", help="Which qrels/<split>.tsv to score."),
    mode: str = typer.Option("all", "--mode", help="dense, bm25, hybrid, or all (one row each)."),
    k: int = typer.Option(
        100, "-k", min=10, max=1000, help="Documents retrieved per query (scored at 10/100)."
    ),
    fusion: str | None = typer.Option(None, "--fusion", help="Hybrid fusion: convex (default) or rrf."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N queries (quick checks)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    json_out: bool = JsonOpt,
) -> None:
    """Index DATASET once (cached by content hash), run every query of the split, print nDCG@10, Recall@10,
    Recall@100, MRR@10 and search latency p50/p95 (query embedding included)."""
    from searchchat.evaluation.beir import run_eval
    from searchchat.retrieval.retriever import FUSIONS, MODES

    if mode not in MODE_CHOICES:
        fail(f"unknown mode {mode!r}; choose one of {', '.join(MODE_CHOICES)}", code=2)
    if fusion is not None and fusion not in FUSIONS:
        fail(f"unknown fusion {fusion!r}; choose one of {', '.join(FUSIONS)}", code=2)
    modes = MODES if mode == "all" else (mode,)
    settings = make_settings()
    quiet = quiet or json_out
    if not quiet:
        typer.echo(f"Evaluating {dataset} ({split}) in {', '.join(modes)} mode…", err=True)
    with friendly_errors():
        report = run_eval(
            dataset, split=split, modes=modes, settings=settings, k=k, quiet=quiet, limit=limit,
            retriever_options={"fusion": fusion} if fusion else None,
        )  # fmt: skip
    if json_out:
        print_json(report.to_dict())
        return
    _print_table(report)


def _print_table(report) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.table import Table

    cached = "reused the cached index" if report.reused_index else f"indexed in {report.index_seconds:.0f} s"
    queries = report.rows[0].queries if report.rows else 0
    typer.echo(f"{report.dataset} ({report.split}): {queries} queries, {report.documents} documents, "
               f"{report.chunks} chunks; {cached}")  # fmt: skip
    table = Table()
    for col in ("mode", "nDCG@10", "R@10", "R@100", "MRR@10", "p50 ms", "p95 ms", "cpu p50 ms"):
        table.add_column(col, justify="left" if col == "mode" else "right", no_wrap=True)
    for row in report.rows:
        table.add_row(
            row.mode, f"{row.ndcg_10:.4f}", f"{row.recall_10:.4f}", f"{row.recall_100:.4f}",
            f"{row.mrr_10:.4f}", f"{row.p50_ms:.1f}", f"{row.p95_ms:.1f}", f"{row.cpu_p50_ms:.1f}",
            style="bold green" if row.mode == "hybrid" else None,
        )  # fmt: skip
    console = Console()
    (console if console.is_terminal else Console(width=120)).print(table)
    typer.echo(
        f"R = Recall. Latency: one search for {report.k} documents, query embedding included; "
        "cpu = the CPU time it used."
    )
    typer.echo(f"index cache: {report.index}")
