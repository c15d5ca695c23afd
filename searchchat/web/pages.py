"""Server-rendered pages that need no JavaScript or CDN: API docs from the OpenAPI spec, and a reader for
indexed documents (for file:// sources, which a browser will not open from an http page). All text escaped."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import quote, urldefrag

from indexer.store import ReadStore

METHODS = ("get", "post", "put", "patch", "delete")
HL_MAX = 1000  # the longest cited quote (?hl=) the reader marks; a longer one is ignored
# Between two words of a quote the document may have more spaces, or a reference marker such as " [12]" that
# the quoted source text had lost (markers.neutralise): one whitespace character or one bracket per step.
_GAP = r"(?:\s|\[[^\[\]\n]{0,40}\])*"
_TOKEN = re.compile(r"\w+|[^\w\s]")


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><link rel=stylesheet href=/static/pages.css>"
        '<link rel=icon href=/static/favicon.svg type="image/svg+xml"></head>'
        f'<body><main class=page><p class=home><a href="/">← searchchat</a></p>{body}</main></body></html>'
    )


# -- API docs -------------------------------------------------------------------------------------------
def _schema_name(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_schema_name(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {_schema_name(schema.get('items', {}))}"
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    return str(schema.get("type", "any"))


def _schema_table(name: str, schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{escape(prop)}</code>{' <b>required</b>' if prop in required else ''}</td>"
        f"<td>{escape(_schema_name(spec))}</td><td>{escape(_constraints(spec))}</td>"
        f"<td>{escape(spec.get('description', ''))}</td></tr>"
        for prop, spec in schema.get("properties", {}).items()
    )
    desc = f"<p>{escape(schema['description'])}</p>" if schema.get("description") else ""
    return f'<section class=schema id="schema-{escape(name)}"><h3>{escape(name)}</h3>{desc}' + (
        f"<table><tr><th>field</th><th>type</th><th>limits</th><th></th></tr>{rows}</table></section>"
        if rows
        else "</section>"
    )


def _constraints(spec: dict[str, Any]) -> str:
    keys = ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "default")
    merged = {**{k: v for s in spec.get("anyOf", []) for k, v in s.items()}, **spec}
    return ", ".join(f"{k} {json.dumps(merged[k])}" for k in keys if k in merged)


def render_docs(spec: dict[str, Any]) -> str:
    """The endpoints of an OpenAPI spec as one readable page (FastAPI's Swagger UI needs a CDN)."""
    info = spec.get("info", {})
    parts = [
        f"<h1>{escape(info.get('title', 'API'))} API <small>{escape(info.get('version', ''))}</small></h1>"
    ]
    if info.get("summary"):
        parts.append(f"<p class=lead>{escape(info['summary'])}</p>")
    if info.get("description"):
        parts.append(f"<p>{escape(info['description'])}</p>")
    parts.append('<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3).</p>')
    for path, ops in spec.get("paths", {}).items():
        for method in METHODS:
            op = ops.get(method)
            if not op:
                continue
            parts.append(f'<section class=op><h2><span class="verb {method}">{method.upper()}</span> '
                         f"<code>{escape(path)}</code></h2>")  # fmt: skip
            if op.get("summary"):
                parts.append(f"<p><b>{escape(op['summary'])}</b></p>")
            if op.get("description"):
                parts.append(f"<p>{escape(op['description'])}</p>")
            params = op.get("parameters", [])
            if params:
                rows = "".join(
                    f"<tr><td><code>{escape(p['name'])}</code>{' <b>required</b>' if p.get('required') else ''}"
                    f"</td><td>{escape(p.get('in', ''))}</td><td>{escape(_schema_name(p.get('schema', {})))}</td>"
                    f"<td>{escape(_constraints(p.get('schema', {})))}</td>"
                    f"<td>{escape(p.get('description') or p.get('schema', {}).get('description', ''))}</td></tr>"
                    for p in params
                )
                parts.append(f"<table><tr><th>parameter</th><th>in</th><th>type</th><th>limits</th><th></th>"
                             f"</tr>{rows}</table>")  # fmt: skip
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                name = _schema_name(body)
                parts.append(f'<p>Body (JSON): <a href="#schema-{escape(name)}">{escape(name)}</a></p>')
            responses = "".join(
                f"<li><code>{escape(code)}</code> {escape(r.get('description', ''))}"
                + "".join(
                    f' — <a href="#schema-{escape(_schema_name(c["schema"]))}">'
                    f"{escape(_schema_name(c['schema']))}</a>"
                    for c in r.get("content", {}).values()
                    if c.get("schema")
                )  # fmt: skip
                + "</li>"
                for code, r in op.get("responses", {}).items()
            )
            parts.append(f"<ul class=responses>{responses}</ul></section>")
    schemas = spec.get("components", {}).get("schemas", {})
    if schemas:
        parts.append("<h2>Schemas</h2>")
        parts.extend(_schema_table(name, schema) for name, schema in schemas.items())
    return _page(f"{info.get('title', 'API')} API", "".join(parts))


# -- document reader ------------------------------------------------------------------------------------
@dataclass
class Part:
    section: str
    anchor: str | None
    texts: list[str] = field(default_factory=list)


@dataclass
class DocView:
    url: str
    title: str
    doctype: str
    parts: list[Part]


def strip_overlap(prev: str, cur: str, longest: int = 2000, shortest: int = 20) -> str:
    """`cur` without the text it repeats from the end of `prev` (chunks overlap by a few dozen tokens)."""
    for size in range(min(len(prev), len(cur), longest), shortest - 1, -1):
        if prev.endswith(cur[:size]):
            return cur[size:].lstrip()
    return cur


def load_document(store: ReadStore, url: str) -> DocView | None:
    """An indexed document, rebuilt from its chunks in order, grouped by section."""
    base = urldefrag(url)[0]
    doc = store.find_document(base)
    if doc is None:
        return None
    doc_id, doc_url, title, doctype = doc.doc_id, doc.url, doc.title, doc.doctype
    parts: list[Part] = []
    prev = ""
    for chunk in store.document_chunks(doc_id):
        section, anchor, text = chunk.section, chunk.anchor, chunk.text
        piece = strip_overlap(prev, text) if prev else text
        prev = text
        if parts and parts[-1].section == (section or "") and parts[-1].anchor == anchor:
            parts[-1].texts.append(piece)
        else:
            parts.append(Part(section or "", anchor, [piece]))
    return DocView(url=doc_url, title=title or doc_url, doctype=doctype or "", parts=parts)


def find_quote(text: str, quote: str) -> tuple[int, int] | None:
    """Where `quote` (whitespace collapsed) is in `text`: verbatim, else allowing the gaps of _GAP."""
    if not quote:
        return None
    at = text.find(quote)
    if at >= 0:
        return at, at + len(quote)
    m = re.search(_GAP.join(re.escape(t) for t in _TOKEN.findall(quote)), text)
    return (m.start(), m.end()) if m else None


def _paragraph(text: str, span: tuple[int, int] | None) -> str:
    if span is None:
        return f"<p>{escape(text)}</p>"
    a, b = span
    return (f"<p>{escape(text[:a])}<mark class=cited-span id=cited>{escape(text[a:b])}</mark>"
            f"{escape(text[b:])}</p>")  # fmt: skip


def render_document(doc: DocView, hl: str | None = None) -> str:
    """The reader page; the first occurrence of `hl` (a cited quote) is marked, when it is in the text."""
    quote = " ".join(hl.split()) if hl and len(hl) <= HL_MAX else ""
    out = [f"<article class=doc><h1>{escape(doc.title)}</h1>",
           f"<p class=src>{escape(doc.doctype)} · <code>{escape(doc.url)}</code></p>"]  # fmt: skip
    seen: set[str] = set()
    for part in doc.parts:
        anchor = part.anchor if part.anchor and part.anchor not in seen else None
        if anchor:
            seen.add(anchor)
        ident = f' id="{escape(anchor)}"' if anchor else ""
        heading = part.section.split(" > ")[-1] if part.section else ""
        out.append(
            f"<section{ident}>" + (f"<h2>{escape(heading)}</h2>" if heading and heading != doc.title else "")
        )
        for text in part.texts:
            for line in text.split("\n"):
                para = " ".join(line.split())
                span = find_quote(para, quote) if para else None
                if span:
                    quote = ""  # only the first occurrence
                if para:
                    out.append(_paragraph(para, span))
        out.append("</section>")
    out.append("<p class=note>Rebuilt from the indexed passages.</p></article>")
    return _page(doc.title, "".join(out))


# -- a shared conversation ------------------------------------------------------------------------------
def _source_link(src: dict[str, Any]) -> str:
    """Where a source of a shared answer links: its web page, the reader for a file, or nowhere."""
    url = str(src.get("url") or "")
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme in ("http", "https"):
        return url
    if scheme == "file":
        base, _, anchor = url.partition("#")
        return f"/view?url={quote(base, safe='')}" + (f"#{quote(anchor)}" if anchor else "")
    return ""


def _shared_turn(turn: dict[str, Any]) -> str:
    answer = turn.get("answer") or {}
    out = [f"<section class=turn><h2>{escape(str(turn.get('question', '')))}</h2>"]
    if answer.get("abstained"):
        out.append("<p class=notfound>Not found in the indexed documents.</p>")
    else:
        for para in str(answer.get("answer") or "").split("\n\n"):
            if para.strip():
                out.append(f"<p>{escape(para.strip())}</p>")
    cited = {c.get("n") for c in answer.get("citations") or [] if isinstance(c, dict)}
    items = []
    for src in answer.get("sources") or []:
        if src.get("n") not in cited:
            continue
        title = escape(str(src.get("title") or src.get("url") or ""))
        link = "" if src.get("removed") else _source_link(src)
        label = f'<a href="{escape(link)}" rel="noopener noreferrer">{title}</a>' if link else title
        gone = " <span class=removed>(removed from the index since)</span>" if src.get("removed") else ""
        items.append(f"<li value={int(src.get('n') or 0)}>{label}{gone}</li>")
    if items:
        out.append(f"<ol class=shared-sources>{''.join(items)}</ol>")
    out.append("</section>")
    return "".join(out)


def render_conversation(conv: dict[str, Any]) -> str:
    """The read-only page of a shared conversation (/s/TOKEN): questions, answers with [n], cited sources."""
    title = str(conv.get("title") or "Conversation")
    body = [f"<article class=shared><h1>{escape(title)}</h1>",
            "<p class=src>A shared conversation (read-only).</p>"]  # fmt: skip
    body.extend(_shared_turn(t) for t in conv.get("turn_list") or [])
    body.append("</article>")
    return _page(title, "".join(body))


def render_missing_share() -> str:
    return _page("Not found", "<h1>Not found</h1><p>This share link does not exist, or was revoked.</p>")
