"""Uploaded files: safe names, bounded sizes, stored under $SEARCHCHAT_HOME/uploads and nowhere else."""

from __future__ import annotations

import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from searchchat.web.errors import ApiError

# what the indexer reads (indexer.files.PARSERS) that a person would upload
UPLOAD_SUFFIXES = (".md", ".markdown", ".html", ".htm", ".txt", ".pdf", ".jsonl", ".ndjson")
MAX_NAME_CHARS = 120
_UNSAFE = re.compile(r"[^\w.\- ]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
READ_BYTES = 1 << 20


@dataclass
class Stored:
    """One stored upload: its name on disk, its size, and the source it is indexed as."""

    name: str
    bytes: int
    source: str


def safe_name(raw: str | None) -> str:
    """A file name fit to store: a name with a path in it (/, \\, ..) or control characters is refused (422),
    anything else odd becomes `_`; it keeps one of UPLOAD_SUFFIXES (415 otherwise)."""
    name = unicodedata.normalize("NFC", (raw or "").strip())
    if not name:
        raise ApiError(422, "invalid_file_name", "Every uploaded file needs a name.")
    if "/" in name or "\\" in name or name in (".", "..") or _CONTROL.search(name):
        raise ApiError(422, "unsafe_file_name", f"The file name {name[:80]!r} is not a plain file name.")
    stem, dot, suffix = name.rpartition(".")
    suffix = "." + suffix.lower() if dot else ""
    if suffix not in UPLOAD_SUFFIXES:
        kinds = ", ".join(UPLOAD_SUFFIXES)
        raise ApiError(415, "unsupported_file_type", f"{name[:80]!r}: upload one of {kinds}.")
    stem = _UNSAFE.sub("_", stem).strip(" .") or "upload"
    return stem[: MAX_NAME_CHARS - len(suffix)] + suffix


def store_upload(folder: Path, name: str, data: BinaryIO, limit: int) -> Stored:
    """Copy `data` to folder/name (replacing an earlier upload of that name atomically); 413 past `limit`."""
    folder.mkdir(parents=True, exist_ok=True)
    target = (folder / name).resolve()
    if target.parent != folder.resolve():  # safe_name makes this impossible; checked all the same
        raise ApiError(422, "unsafe_file_name", "The file name leads outside the upload folder.")
    partial = folder / f".incoming-{secrets.token_hex(8)}"
    size = 0
    try:
        with partial.open("wb") as out:
            while block := data.read(READ_BYTES):
                size += len(block)
                if size > limit:
                    raise ApiError(413, "file_too_large", f"{name!r} is larger than {limit} bytes.")
                out.write(block)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return Stored(name=name, bytes=size, source=str(target))


def is_upload(source: str, folder: Path) -> Path | None:
    """The stored file of an uploaded source, or None for any other source."""
    try:
        path = Path(source).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    return path if path.parent == folder.resolve() and path.is_file() else None
