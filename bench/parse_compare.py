"""The lxml HTML parser against the BeautifulSoup one it replaced: identical ParsedPages, and time, in one run."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import os
import re
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.parse import ParsedPage, parse_html  # noqa: E402

# The last commit whose indexer/parse.py used BeautifulSoup
OLD_REV = "154bbf10eb1062d008f72432470c9a925b177552"
PYDOCS = Path("/usr/share/doc/python3/html")  # apt-get install python3-doc
LARGEST = ("contents.html", "genindex-all.html")
_DOCTYPE = re.compile(r"html\b", re.I)  # what bs4 keeps of <!DOCTYPE html ...>
_TAG = re.compile(r"<(html|body|main|p|h[1-6]|div|a|ul|table|pre|title|meta|section)\b", re.I)
Parse = Callable[[str | bytes, str], ParsedPage]


def old_parser(rev: str) -> Parse:
    """parse_html as indexer/parse.py had it at rev, loaded from git beside today's indexer package."""
    source = subprocess.run(
        ["git", "show", f"{rev}:indexer/parse.py"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    module = types.ModuleType("parse_old")
    module.__file__ = f"{rev}:indexer/parse.py"
    sys.modules["parse_old"] = module  # dataclasses resolve annotations through sys.modules
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module.parse_html  # type: ignore[no-any-return]


def fixtures() -> list[tuple[str, str | bytes]]:
    """Every literal in tests/ (f-strings aside), text or bytes, that holds HTML markup, as (name, html)."""
    found: list[tuple[str, str | bytes]] = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        tree = ast.parse(path.read_text())
        parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}  # f-strings
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or id(node) in parts:
                continue
            value = node.value
            if isinstance(value, str | bytes) and _TAG.search(str(value)):
                found.append((f"tests/{path.name}:{node.lineno}", value))
    return found


def pages(docs: Path) -> list[tuple[str, str | bytes]]:
    """The Python docs' pages and the demo corpus's, as (name, html): read as the crawler reads a local file."""
    files = sorted(docs.rglob("*.html")) + sorted((ROOT / "corpus").rglob("*.html"))
    return [(str(p), p.read_bytes().decode("utf-8-sig")) for p in files]


def as_bytes(inputs: list[tuple[str, str | bytes]], every: int) -> list[tuple[str, str | bytes]]:
    """Every every-th page as its UTF-8 bytes, so that the parsers choose the encoding themselves."""
    return [(name, html.encode()) for name, html in inputs[::every] if isinstance(html, str)]


def machine() -> str:
    """The CPU, its cores, whether it has bf16 or AMX, and the load when the run began."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(
        (ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), "?"
    )
    flags = next((ln.split(":", 1)[1].split() for ln in info.splitlines() if ln.startswith("flags")), [])
    extras: list[str] = [f for f in ("avx512_bf16", "amx_bf16") if f in flags] or ["no bf16"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    versions = (
        f"lxml {version('lxml')}, beautifulsoup4 {version('beautifulsoup4')}, Python {sys.version.split()[0]}"
    )
    return f"# {model}, {os.cpu_count()} cores, {' '.join(extras)}; load {load:.1f} at start; {versions}"


def diff(old: ParsedPage, new: ParsedPage) -> str:
    """A one-line account of where two ParsedPages part."""
    a, b = dataclasses.asdict(old), dataclasses.asdict(new)
    fields = [k for k in a if a[k] != b[k]]
    lines = [f"fields: {', '.join(fields)}"]
    if old.document.sections != new.document.sections:
        pairs = zip(old.document.sections, new.document.sections, strict=False)
        i = next((i for i, (x, y) in enumerate(pairs) if x != y), None)
        if i is None:
            lines.append(f"sections: {len(old.document.sections)} vs {len(new.document.sections)}")
        else:
            x, y = old.document.sections[i], new.document.sections[i]
            lines.append(f"section {i}: old {x!r:.300}\n        new {y!r:.300}")
    return "\n    ".join(lines)


def doctype_only(old: ParsedPage, new: ParsedPage) -> bool:
    """Whether two pages differ only by the old parser's reading a body-less page's <!DOCTYPE> ("html") as
    the first line of its text: the one difference the lxml parser makes on purpose."""
    sections = old.document.sections
    if not sections or not _DOCTYPE.match(sections[0].text.split("\n", 1)[0]):
        return False
    rest = sections[0].text.partition("\n")[2]
    fixed = ([dataclasses.replace(sections[0], text=rest)] if rest else []) + sections[1:]
    same = (old.document.title, old.links, old.canonical, old.noindex, old.nofollow)
    return fixed == new.document.sections and same == (
        new.document.title,
        new.links,
        new.canonical,
        new.noindex,
        new.nofollow,
    )


def timed(parse: Parse, html: str | bytes, url: str) -> tuple[ParsedPage, float, float]:
    """The page, and the CPU and wall seconds parse took."""
    cpu, wall = time.process_time(), time.perf_counter()
    page = parse(html, url)
    return page, time.process_time() - cpu, time.perf_counter() - wall


def compare(
    inputs: list[tuple[str, str | bytes]], old: Parse, out: list[str]
) -> tuple[float, float, float, float]:
    """Parses every input with both parsers (old first, then new); writes the differences to out and returns
    the total (old CPU, new CPU, old wall, new wall)."""
    same, explained, totals = 0, 0, [0.0, 0.0, 0.0, 0.0]
    for name, html in inputs:
        url = name if "://" in name else f"file://{name}"
        a, old_cpu, old_wall = timed(old, html, url)
        b, new_cpu, new_wall = timed(parse_html, html, url)
        for k, v in enumerate((old_cpu, new_cpu, old_wall, new_wall)):
            totals[k] += v
        if dataclasses.asdict(a) == dataclasses.asdict(b):  # the old module has its own ParsedPage class
            same += 1
        elif doctype_only(a, b):
            explained += 1
            out.append(f"  explained {name}: no body; the old text began with its <!DOCTYPE> name")
        else:
            out.append(f"  DIFFERS {name}\n    {diff(a, b)}")
    unexplained = len(inputs) - same - explained
    out.insert(
        0,
        f"identical ParsedPages: {same} of {len(inputs)}; explained: {explained}; unexplained: {unexplained}",
    )
    return totals[0], totals[1], totals[2], totals[3]


def ratio(old: float, new: float) -> str:
    return f"old {old:.3f} s, new {new:.3f} s, old/new {old / new:.1f}x" if new else "n/a"


def largest(docs: Path, old: Parse, repeat: int) -> list[str]:
    """The largest pages, each parsed repeat times by both parsers in turn: the median CPU seconds."""
    lines = []
    for name in LARGEST:
        path = docs / name
        html, url = path.read_bytes().decode("utf-8-sig"), f"file://{path}"
        times: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(repeat):
            times["old"].append(timed(old, html, url)[1])
            times["new"].append(timed(parse_html, html, url)[1])
        o, n = statistics.median(times["old"]), statistics.median(times["new"])
        lines.append(f"  {name} ({len(html):,} chars, median of {repeat}, CPU): {ratio(o, n)}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=Path, default=PYDOCS, help="the Python docs' HTML (python3-doc)")
    ap.add_argument("--old-rev", default=OLD_REV, help="the git revision whose indexer/parse.py is 'old'")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each largest page per parser")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/parse_compare.txt")
    args = ap.parse_args()
    old = old_parser(args.old_rev)
    report = [
        f"# bench/parse_compare.py: old = indexer/parse.py at {args.old_rev[:12]} (BeautifulSoup), new = lxml",
        machine(),
        "# CPU: process time, each input parsed by the old parser and then by the new one",
    ]
    docs = pages(args.docs)
    for title, inputs in (
        ("pages (Python docs + corpus/), decoded as the crawler does", docs),
        ("every 10th of those pages as bytes (the parsers pick the encoding)", as_bytes(docs, 10)),
        ("tests/ fixtures", fixtures()),
    ):
        out: list[str] = []
        oc, nc, ow, nw = compare(inputs, old, out)
        report += [f"\n## {title}: {len(inputs)} inputs", *out]
        report += [f"  total CPU: {ratio(oc, nc)}", f"  total wall: {ratio(ow, nw)}"]
    report += ["\n## largest pages", *largest(args.docs, old, args.repeat)]
    args.out.write_text("\n".join(report) + "\n")
    print("\n".join(report))


if __name__ == "__main__":
    main()
