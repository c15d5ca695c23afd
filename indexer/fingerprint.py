"""A stored document's fingerprint: the chunking that cut it and its content, so that a change of either (a
new chunker, other chunk settings) re-chunks the document at the next indexing run."""

from __future__ import annotations

from dataclasses import replace

from indexer.events import DocState


def fingerprint(content_hash: str, chunking: str) -> str:
    """What the index stores as a document's hash: the chunking signature, then the content's hash."""
    return f"{chunking}:{content_hash}"


def recheck(known: dict[str, DocState], chunking: str) -> dict[str, DocState]:
    """The known documents, those cut by another chunking (or before fingerprints) without their validators
    (ETag, Last-Modified, the file's stamp), so that the run reads them again instead of taking them as
    unchanged; their stored hash no longer matches, so they are chunked and embedded afresh."""
    prefix = chunking + ":"
    return {
        doc_id: state
        if state.content_hash.startswith(prefix)
        else replace(state, etag=None, last_modified=None)
        for doc_id, state in known.items()
    }
