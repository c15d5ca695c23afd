"""Ray embedding throughput: the plain pipeline against `index --ray` with 1 and 2 workers, in one run.

    python bench/ray_throughput.py ../shared/data/scifact/corpus.jsonl [--limit 2000] [--out FILE]

Each mode indexes the same JSONL (its first --limit lines) into a fresh index with the packaged MiniLM.
A Ray mode starts its own local Ray with as many CPUs as workers; its wall time counts that start-up,
its pipeline time (the summary's seconds, as `index --json` prints it) does not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _cut(source: Path, limit: int, tmp: Path) -> Path:
    if not limit:
        return source
    cut = tmp / source.name
    with source.open() as src, cut.open("w") as dst:
        for i, line in enumerate(src):
            if i >= limit:
                break
            dst.write(line)
    return cut


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("--limit", type=int, default=2000, help="the first N lines of the JSONL file (0: all)")
    ap.add_argument("--out", default="bench/results/ray_throughput.txt")
    args = ap.parse_args()

    import dataclasses

    from indexer.pipeline import index_sources
    from indexer.ray_pipeline import index_sources_ray
    from searchchat.indexing import index_options
    from searchchat.settings import Settings

    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="sc-ray-bench-"))
    source = _cut(Path(args.source), args.limit, tmp)
    base = index_options(Settings(home=tmp / "home", embedder="minilm"))
    rows = []
    for mode, workers in (("plain", 0), ("ray", 1), ("ray", 2)):
        options = dataclasses.replace(base, index_dir=tmp / f"{mode}-{workers}")
        t0 = time.perf_counter()
        if workers:
            summary = index_sources_ray([str(source)], options, workers=workers)
        else:
            summary = index_sources([str(source)], options)
        wall = time.perf_counter() - t0
        rows.append((f"{mode}" + (f" x{workers}" if workers else ""), summary, wall))
        print(rows[-1][0], json.dumps(summary.to_dict()), f"wall {wall:.1f}", flush=True)

    plain = rows[0][1].pages_fetched / rows[0][2]
    lines = [
        f"# bench/ray_throughput.py {args.source} --limit {args.limit}",
        f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load average before {load_before}; embedder MiniLM (packaged), bf16 where supported",
        f"{'mode':<10}{'docs':>7}{'chunks':>8}{'pipeline s':>12}{'wall s':>9}{'docs/s (wall)':>15}"
        f"{'ratio to plain':>16}{'embed s':>9}",
    ]
    for name, s, wall in rows:
        dps = s.pages_fetched / wall
        lines.append(
            f"{name:<10}{s.pages_fetched:>7}{s.chunks_added:>8}{s.seconds:>12.1f}{wall:>9.1f}{dps:>15.1f}"
            f"{dps / plain:>16.2f}{s.embed_seconds:>9.1f}"
        )
    lines.append(f"# load average after: {os.getloadavg()}")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
