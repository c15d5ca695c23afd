"""The local model's wait for its first word with and without the prefilled prompt start (generators/prefix.py),
side by side in one run, on the demo questions' real prompts.

    python bench/prefix_cache.py [--questions 12] [--max-new-tokens 24] [--out bench/results/prefix_cache.txt]

Each question's prompt (retrieval over corpus/, the token budget, the worked example) is generated twice
with greedy decoding, once each way, the order alternating between questions so that machine load falls on
both alike. Reports the median first-token time of each, their ratio, and whether the texts are the same."""

from __future__ import annotations

import argparse
import re
import statistics
import time
from pathlib import Path

from covidqa_common import demo_index, questions, retriever

from indexer.embed import get_embedder
from searchchat.answering.prompt import build_prompt, fit_sources
from searchchat.generators import get_generator
from searchchat.generators.local import LocalGenerator
from searchchat.settings import Settings


def cpu_note() -> str:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    amx, bf16 = "amx_bf16" in flags, bool(re.search(r"\bavx512_bf16\b", flags))
    return f"AMX {'yes' if amx else 'no'}, avx512_bf16 {'yes' if bf16 else 'no'}"


def timed(gen: LocalGenerator, prompt, max_new_tokens: int) -> tuple[float, str]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    first, parts = None, []
    for piece in gen.stream(prompt, max_new_tokens=max_new_tokens):
        first = first or time.perf_counter() - t0
        parts.append(piece)
    return first or time.perf_counter() - t0, "".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", type=int, default=12)
    ap.add_argument("--max-new-tokens", type=int, default=24)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    settings = Settings().with_overrides(generator="local")
    embedder = get_embedder(settings)
    r = retriever(demo_index(settings, embedder), embedder, settings)
    gen = get_generator(settings)
    assert isinstance(gen, LocalGenerator) and gen.prefix is not None
    cache = gen.prefix
    prompts = []
    for q in questions("demo_questions")[: args.questions]:
        budget = fit_sources(r.search(q, k=settings.k).hits, settings.context_tokens, gen.count_tokens)
        prompts.append(build_prompt(q, budget.hits, texts=budget.texts, few_shot=True))
    t0 = time.perf_counter()
    timed(gen, prompts[0], 1)  # loads everything and prefills the prompt start once (the one-time cost)
    warm = time.perf_counter() - t0
    rows = []
    for i, prompt in enumerate(prompts):
        runs = {}
        for cached in (True, False) if i % 2 == 0 else (False, True):
            gen.prefix = cache if cached else None
            runs[cached] = timed(gen, prompt, args.max_new_tokens)
        gen.prefix = cache
        total = gen.count_tokens(gen.render(prompt))
        fixed = gen.count_tokens(
            gen.tokenizer.apply_chat_template(prompt.messages[: prompt.fixed], tokenize=False)
        )
        rows.append((total, fixed, runs[False][0], runs[True][0], runs[False][1] == runs[True][1]))
        print(f"{total:5d} tokens ({fixed} fixed)  first token {runs[False][0]:.2f} s -> {runs[True][0]:.2f} s"
              f"  same text: {runs[False][1] == runs[True][1]}", flush=True)  # fmt: skip
    plain = statistics.median(x[2] for x in rows)
    fast = statistics.median(x[3] for x in rows)
    lines = [
        f"# python bench/prefix_cache.py --questions {args.questions} --max-new-tokens {args.max_new_tokens}",
        f"# {gen.label}; CPU: {cpu_note()}; dtype {gen.model.dtype}",
        f"questions {len(rows)}, prompt tokens median {statistics.median(x[0] for x in rows):.0f}, "
        f"fixed start {rows[0][1]} tokens",
        f"first token p50: without the cache {plain:.2f} s, with it {fast:.2f} s, ratio {fast / plain:.2f}",
        f"same text both ways: {sum(x[4] for x in rows)}/{len(rows)}; one-time prefill and load {warm:.1f} s",
    ]
    print("\n".join(lines))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
