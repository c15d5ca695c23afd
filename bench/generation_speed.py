"""Generation speed of the default model: transformers (bf16, fp32, int8) against llama.cpp (xllamacpp) on a RAG prompt.

    nice python bench/generation_speed.py [--backends bf16,fp32,int8,llamacpp] [--runs 2] [--prompt-tokens 1300]

Each backend runs in its own subprocess (so its peak RSS is its own) on the same ~1,300-token RAG prompt built
from corpus/docs, with greedy decoding. Prints load time, time to first token (prefill), decode tokens/s,
total time for the answer, CPU seconds, and peak RSS. The model cache is $SEARCHCHAT_HOME/models (joined and
converted first if needed; that one-time cost is not part of the load time shown).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SYSTEM = (
    "You are a careful search assistant. Answer using only the numbered sources. After each sentence put the "
    "number of its source in square brackets, like [1]. If the sources do not answer, say so."
)
QUESTION = "Is ChatGPT a GAN? Explain, in about five sentences, how it is trained."


def rag_messages(tokenizer, target_tokens: int) -> list[dict[str, str]]:
    """System rules, numbered paragraphs from corpus/docs up to ~target_tokens, and a question."""
    paragraphs = []
    for path in sorted((ROOT / "corpus" / "docs").glob("*.md")):
        for para in path.read_text().split("\n\n"):
            if len(para.split()) > 30 and not para.lstrip().startswith("#"):
                paragraphs.append((path.stem, " ".join(para.split())))
    preferred = (
        "chatgpt-is-not-a-gan",
        "gan-vs-gpt",
        "pretraining",
        "what-is-chatgpt",
        "rlhf",
        "gans-explained",
    )
    paragraphs.sort(key=lambda p: (p[0] not in preferred, preferred.index(p[0]) if p[0] in preferred else 0))
    sources, used = [], 0
    for i, (stem, text) in enumerate(paragraphs, start=1):
        block = f"[{i}] {stem.replace('-', ' ').title()}\n{text}"
        n = len(tokenizer(block, add_special_tokens=False)["input_ids"]) + 2
        if used + n > target_tokens - 90:  # leave room for the rules, the question and the chat template
            break
        used += n
        sources.append(block)
    user = "Sources:\n\n" + "\n\n".join(sources) + f"\n\nQuestion: {QUESTION}"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def measure(backend: str, prompt_tokens: int, max_new: int, runs: int, threads: int | None) -> dict:
    from transformers import AutoTokenizer

    from searchchat.generators.base import Prompt
    from searchchat.generators.modelcache import default_gguf_path, default_model_dir
    from searchchat.settings import Settings

    settings = Settings()
    model_dir = default_model_dir(settings)  # one-time join + conversion happens here, outside the timings
    gguf = default_gguf_path(settings)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    messages = rag_messages(tok, prompt_tokens)
    n_prompt = len(tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)["input_ids"])

    t0, c0 = time.perf_counter(), time.process_time()
    if backend == "llamacpp":
        from searchchat.generators.llamacpp import LlamaCppGenerator

        gen = LlamaCppGenerator(gguf, n_threads=threads)
    else:
        import torch

        if threads:
            torch.set_num_threads(threads)
        from searchchat.generators.local import LocalGenerator

        gen = LocalGenerator.load(str(model_dir), dtype={"bf16": "bfloat16"}.get(backend, "float32"))
        if backend.startswith("int8"):  # int8: every nn.Linear; int8mix/int8down keep some fp32
            from indexer.precision import quantize_int8

            keep = {"int8mix": r"(lm_head|mlp\.down_proj)$", "int8down": r"mlp\.down_proj$"}.get(backend)
            gen.model = quantize_int8(gen.model, keep_fp32=keep)
    load_s, load_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"[{backend}] loaded in {load_s:.1f} s; prompt {n_prompt} tokens", file=sys.stderr, flush=True)

    results = []
    for i in range(runs):
        # A different first line each run, so that llama.cpp's prompt cache cannot reuse the previous prefill.
        messages[0]["content"] = f"Session {i + 1}. {SYSTEM}"
        t0, c0 = time.perf_counter(), time.process_time()
        first = first_cpu = None
        text = ""
        for piece in gen.stream(Prompt(messages=messages, question=QUESTION), max_new_tokens=max_new):
            if first is None:
                first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
            text += piece
        total, total_cpu = time.perf_counter() - t0, time.process_time() - c0
        n_new = len(tok(text, add_special_tokens=False)["input_ids"])
        decode = (n_new - 1) / (total - first) if first is not None and n_new > 1 and total > first else 0.0
        results.append({
            "ttft_s": round(first or total, 2), "ttft_cpu_s": round(first_cpu or total_cpu, 2),
            "total_s": round(total, 2), "total_cpu_s": round(total_cpu, 2), "new_tokens": n_new,
            "decode_tok_s": round(decode, 2), "answer": text.strip()[:300],
        })  # fmt: skip
        print(f"[{backend}] run: {json.dumps(results[-1])}", file=sys.stderr, flush=True)
    return {
        "backend": backend,
        "threads": threads or os.cpu_count(),
        "prompt_tokens": n_prompt,
        "load_s": round(load_s, 2),
        "load_cpu_s": round(load_cpu, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "runs": results,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="bf16,fp32,llamacpp")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--prompt-tokens", type=int, default=1300)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--omp-wait", choices=["PASSIVE", "ACTIVE"], default=None,
                    help="OMP_WAIT_POLICY for the runs (searchchat defaults to PASSIVE)")  # fmt: skip
    ap.add_argument("--threads", type=int, default=None, help="compute threads (default: all cores)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(
            "RESULT "
            + json.dumps(measure(args.one, args.prompt_tokens, args.max_new_tokens, args.runs, args.threads))
        )
        return
    rows = []
    for backend in args.backends.split(","):
        cmd = [sys.executable, __file__, "--one", backend, "--runs", str(args.runs),
               "--prompt-tokens", str(args.prompt_tokens), "--max-new-tokens", str(args.max_new_tokens)]  # fmt: skip
        cmd += ["--threads", str(args.threads)] if args.threads else []
        env = os.environ | ({"OMP_WAIT_POLICY": args.omp_wait} if args.omp_wait else {})
        out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env)  # progress goes to stderr
        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(f"{backend}: failed (exit {out.returncode})", file=sys.stderr)
            continue
        rows.append(json.loads(line[7:]))
        print(json.dumps(rows[-1]), flush=True)
    policy = args.omp_wait or os.environ.get("OMP_WAIT_POLICY", "PASSIVE")
    print(
        f"\ncores={os.cpu_count()} OMP_WAIT_POLICY={policy} load average at end={os.getloadavg()[0]:.1f} (shared)"
    )
    print(f"{'backend':9} {'thr':>3} {'prompt':>6} {'load s':>7} {'run':>3} {'ttft s':>7} {'ttft cpu':>8} {'decode t/s':>10} "
          f"{'new':>4} {'total s':>7} {'total cpu':>9} {'rss MB':>7}")  # fmt: skip
    for r in rows:
        for i, run in enumerate(r["runs"], start=1):
            print(f"{r['backend']:9} {r['threads']:>3} {r['prompt_tokens']:>6} {r['load_s']:>7} {i:>3} {run['ttft_s']:>7} "
                  f"{run['ttft_cpu_s']:>8} {run['decode_tok_s']:>10} {run['new_tokens']:>4} {run['total_s']:>7} "
                  f"{run['total_cpu_s']:>9} {r['peak_rss_mb']:>7}")  # fmt: skip


if __name__ == "__main__":
    main()
