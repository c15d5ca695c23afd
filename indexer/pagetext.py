"""Text helpers every parser shares: whitespace cleaning, heading text without permalinks, the content hash."""

from __future__ import annotations

import hashlib
import re

from indexer.document import Document


def content_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


_BLANKS = re.compile(r"[ \t\r\f\v]+")


def clean(text: str) -> str:
    """Runs of spaces and tabs as one space, newlines kept, both ends stripped."""
    return _BLANKS.sub(" ", text).strip()


# The permalink a documentation generator puts after a heading (Sphinx's "¶", "§", a link emoji, or a "#" of
# its own: separated by a space, so "C#" keeps its sign).
_PERMALINK = re.compile(r"(?:\s*[\u00b6\u00a7\U0001f517]+|\s+#)$")


def heading_text(text: str) -> str:
    """A heading's text, HTML or Markdown, without its trailing permalink marker."""
    return _PERMALINK.sub("", clean(text))


def finish(doc: Document) -> Document:
    """Drops empty sections, then sets the document's text and content hash from the rest."""
    doc.sections = [s for s in doc.sections if s.text.strip()]
    doc.text = "\n\n".join(s.text for s in doc.sections)
    doc.content_hash = content_hash(doc.title + "\n" + doc.text)
    return doc
