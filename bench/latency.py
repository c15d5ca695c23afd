"""What a user waits for, per configuration, side by side in one run: time to the preview, to the first token
and to the whole answer, decode tokens/s, CPU seconds and peak RSS, on COVID-QA and demo questions.

    python bench/latency.py [--covidqa 30] [--demo 10] [--config default] [--config SEARCHCHAT_LOCAL_DTYPE=float32]
                            [--out bench/results/latency.txt]

Each configuration (environment assignments, "default" for none) runs in its own process, so its peak RSS and
model loading are its own; the first question of each warms the models up and is not counted. The CPU's flags
(avx512_bf16, amx) are printed with the table: they decide the default precisions."""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def cpu_flags() -> str:
    """The CPU's model name and the flags that pick precisions (bf16, AMX), from /proc/cpuinfo."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    model = re.search(r"model name\s*:\s*(.+)", info)
    flags = sorted(
        {f for f in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if re.search(rf"\b{f}\b", info)}
    )
    return f"{model.group(1).strip() if model else 'CPU'}, {os.cpu_count()} cores; flags: {' '.join(flags) or 'none'}"


def time_one(answerer: Any, question: str) -> dict[str, float]:
    """Seconds to the preview, the first token and the final answer; tokens streamed; CPU seconds."""
    from searchchat.answering.events import Final, Preview, Token

    t0, cpu0 = time.perf_counter(), time.process_time()
    preview = first = None
    tokens, total = 0, float("nan")
    for event in answerer.stream(question):
        now = time.perf_counter() - t0
        if isinstance(event, Preview) and preview is None:
            preview = now
        elif isinstance(event, Token):
            tokens += 1
            first = now if first is None else first
        elif isinstance(event, Final):
            total = now
    return {"preview": preview if preview is not None else float("nan"), "first": first if first is not None else float("nan"),
            "total": total, "tokens": tokens, "cpu": time.process_time() - cpu0}  # fmt: skip


def worker(covidqa: int, demo: int) -> dict[str, Any]:
    """Time every question in this process's configuration; the row of figures for the table."""
    from covidqa_common import covid_index, demo_index, questions, retriever

    from indexer.embed import get_embedder
    from searchchat.answering.pipeline import Answerer
    from searchchat.evaluation.qa import load_qa, resolve
    from searchchat.generators import get_generator
    from searchchat.settings import Settings

    settings = Settings()
    embedder = get_embedder(settings)
    generator = get_generator(settings)
    covid_root = Path(os.environ.get("COVIDQA", str(HERE.parent.parent / "shared" / "data" / "covidqa")))
    qa_file, _ = resolve(covid_root)
    ids = set((HERE / "data" / "covidqa_test_ids.txt").read_text().split())
    covid_qs = [q.question for q in load_qa(qa_file) if q.qid in ids][:covidqa]
    runs: list[tuple[Answerer, list[str]]] = []
    for index_dir, qs in ((covid_index(settings, embedder, covid_root), covid_qs),
                          (demo_index(settings, embedder), questions("demo_questions")[:demo])):  # fmt: skip
        r = retriever(index_dir, embedder, settings)
        runs.append((Answerer(r, generator, r.settings), qs))
    answerer, qs = runs[0]
    time_one(answerer, qs[0])  # warm-up: models load, the prompt's fixed start is prefilled
    rows = [time_one(a, q) for a, questions_ in runs for q in questions_]
    return {"rows": rows, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def summarise(result: dict[str, Any]) -> dict[str, str]:
    """p50 (p95) of each wait, tokens/s while decoding, CPU seconds a question, peak RSS."""
    rows = result["rows"]

    def p(key: str, q: float) -> float:
        vals = sorted(r[key] for r in rows if r[key] == r[key])  # NaN (no preview / no token) left out
        return vals[min(len(vals) - 1, int(q * len(vals)))] if vals else float("nan")

    decoding = [
        r["tokens"] / (r["total"] - r["first"]) for r in rows if r["tokens"] > 1 and r["total"] > r["first"]
    ]
    return {
        "questions": str(len(rows)),
        "preview s, p50 (p95)": f"{p('preview', 0.5):.2f} ({p('preview', 0.95):.2f})",
        "first token s, p50 (p95)": f"{p('first', 0.5):.2f} ({p('first', 0.95):.2f})",
        "total s, p50 (p95)": f"{p('total', 0.5):.2f} ({p('total', 0.95):.2f})",
        "decode tokens/s, median": f"{statistics.median(decoding):.1f}" if decoding else "-",
        "CPU s a question, median": f"{statistics.median(r['cpu'] for r in rows):.2f}",
        "peak RSS MB": f"{result['peak_rss_mb']:.0f}",
        "answered with tokens": f"{sum(r['tokens'] > 0 for r in rows)}/{len(rows)}",
    }


def run_config(config: str, covidqa: int, demo: int) -> dict[str, Any]:
    """One configuration in a fresh process (its environment assignments on top of ours)."""
    env = dict(os.environ)
    if config != "default":
        env.update(dict(pair.split("=", 1) for pair in config.split(",")))
    cmd = [sys.executable, __file__, "--worker", "--covidqa", str(covidqa), "--demo", str(demo)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--covidqa", type=int, default=30, help="COVID-QA test questions (bench/data/covidqa_test_ids.txt)"
    )
    ap.add_argument("--demo", type=int, default=10, help="demo questions (bench/data/demo_questions.txt)")
    ap.add_argument("--config", action="append", default=None, help="ENV=VALUE[,ENV=VALUE], or 'default'")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.covidqa, args.demo)))
        return 0
    configs = args.config or ["default"]
    table = {c: summarise(run_config(c, args.covidqa, args.demo)) for c in configs}
    keys = list(next(iter(table.values())))
    width = max(len(c) for c in configs) + 2
    lines = [cpu_flags(), "", f"{'':28}" + "".join(f"{c:>{width}}" for c in configs)]
    lines += [f"{k:28}" + "".join(f"{table[c][k]:>{width}}" for c in configs) for k in keys]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
