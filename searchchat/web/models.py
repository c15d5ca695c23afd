"""Request and response models of the JSON API (they also document it in the OpenAPI spec)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from indexer.sources import MAX_SOURCE_CHARS, SOURCE_PATTERN
from searchchat.settings import QUESTION_CHARS_BOUND

Mode = Literal["dense", "bm25", "hybrid"]
# Bounds of a request; the body limit (MAX_BODY_BYTES, below) is derived from them.
MAX_QUESTION_CHARS = QUESTION_CHARS_BOUND  # settings.max_question_chars (at most this) is the one enforced
MAX_TURNS = 20  # earlier turns sent with a question (the page sends its last 20; answers use the last few)
MAX_TURN_CHARS = 20_000
MAX_FILTER_CHARS = 2000
MAX_DOCTYPE_CHARS = 32
# The largest valid POST /ask body, however a client escapes its JSON: a code point beyond the BMP sent as two
# \uXXXX escapes is 12 bytes. Field names, punctuation and whitespace get a generous allowance.
MAX_BODY_BYTES = 12 * (
    MAX_QUESTION_CHARS + MAX_TURNS * MAX_TURN_CHARS + 2 * MAX_FILTER_CHARS + MAX_DOCTYPE_CHARS
)
MAX_BODY_BYTES += 64 * 1024
MAX_ID_CHARS = 64  # a conversation id, turn id or share token
MAX_VIEW_CHARS = 4000  # /view's `url` and `hl` (a cited quote)
PATH_BYTES = 1024  # a route's path, parameter names and separators, with room to spare


def max_target_bytes(max_question_chars: int) -> int:
    """The longest valid request target (path and query string): /search with every parameter at its longest,
    or /view, each character percent-encoded at worst (a 4-byte UTF-8 sequence, 12 bytes)."""
    search = max_question_chars + 2 * MAX_FILTER_CHARS + MAX_DOCTYPE_CHARS + len("hybrid") + 3
    return 12 * max(search, 2 * MAX_VIEW_CHARS) + PATH_BYTES


STRICT = ConfigDict(
    extra="forbid", strict=True
)  # JSON types as the schema says: no "3" for 3, no 0 for false
_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_unicode(text: str) -> str:
    """A JSON string may escape half of a UTF-16 pair ("\\ud800"); such text is not Unicode and cannot be
    encoded, stored or answered, so a request that carries it is refused (422) before anything runs."""
    if _SURROGATE.search(text):
        raise ValueError("contains an unpaired UTF-16 surrogate, which is not valid Unicode")
    return text


Text = Annotated[str, AfterValidator(valid_unicode)]


class Turn(BaseModel):
    """One earlier message of the conversation."""

    model_config = STRICT
    role: Literal["user", "assistant"]
    content: Text = Field(..., max_length=MAX_TURN_CHARS)


class FiltersIn(BaseModel):
    """Restrict retrieval to one source, a URL prefix, or a document type."""

    model_config = STRICT
    source: Text | None = Field(
        None, max_length=MAX_FILTER_CHARS, description="A source as GET /api/sources lists it."
    )
    url_prefix: Text | None = Field(None, max_length=MAX_FILTER_CHARS)
    doctype: Text | None = Field(
        None, max_length=MAX_DOCTYPE_CHARS, description="html, markdown, text, pdf, jsonl"
    )


class AskRequest(BaseModel):
    """A question, with optional retrieval settings and the conversation so far."""

    model_config = ConfigDict(
        **STRICT,
        json_schema_extra={"examples": [{"question": "Is ChatGPT a GAN?", "k": 6, "mode": "hybrid"}]},
    )
    question: Text = Field(
        ...,
        max_length=MAX_QUESTION_CHARS,  # the app checks it and documents its own limits (common.check_question)
        description="The question: not only whitespace, at most the server's max_question_chars characters.",
    )
    k: int | None = Field(None, ge=1, le=50, description="Passages given to the generator.")
    mode: Mode | None = Field(None, description="Retrieval mode (default: the server's setting).")
    history: list[Turn] = Field(
        default_factory=list, max_length=MAX_TURNS, description="Earlier turns, oldest first."
    )
    filters: FiltersIn | None = None
    strict: bool | None = Field(
        None,
        description="Answer only when a passage matches the question closely (default: the server's setting).",
    )
    conversation_id: Text | None = Field(
        None,
        max_length=MAX_ID_CHARS,
        description="Continue this stored conversation: its turns are the history (then send no `history`). "
        "Without it a new conversation is started.",
    )


class CitationOut(BaseModel):
    n: int
    url: str
    title: str
    section: str
    snippet: str
    quote: str | None = Field(None, description="The evidence sentence, as the source's text has it.")
    start: int | None = Field(None, description="Its first character's offset in the source's text.")
    end: int | None = Field(None, description="The offset just after its last character.")
    removed: bool | None = Field(
        None, description="In a stored conversation: the document has been removed from the index since."
    )


class SentenceOut(BaseModel):
    text: str
    citations: list[int] = []
    supported: bool = True


class AnswerOut(BaseModel):
    """The cited answer; the same JSON as `searchchat ask --json`."""

    model_config = ConfigDict(extra="allow")
    question: str
    answer: str
    citations: list[CitationOut]
    sources: list[dict[str, Any]] = Field(description="Every passage given to the model, numbered n.")
    abstained: bool = Field(description="True when the indexed documents do not answer the question.")
    sentences: list[SentenceOut] = []
    timings: dict[str, float] = {}
    kind: Literal["generated", "quote"] | None = Field(
        None, description="generated: the model's checked answer; quote: the best evidence sentence, quoted."
    )
    reason: Literal["no_relevant_passage", "not_answerable", "unsupported"] | None = Field(
        None, description="Why it is 'not found' (None when answered)."
    )
    answerability: float | None = Field(
        None,
        description="The best sentence's score under the policy's scorer (a probability with the trained model).",
    )
    policy: str | None = Field(None, description="The answer policy profile that decided.")
    closest: CitationOut | None = Field(
        None,
        description="When not found: the best-scored sentence of a source close to the question, with its "
        "offsets, to read as the nearest passage, not as an answer (None when no source is that close).",
    )
    conversation_id: str | None = Field(
        None, description="The stored conversation this turn joined (send it back to continue it)."
    )
    turn_id: str | None = Field(None, description="This answer's id, for POST /api/feedback.")


class HitOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    rank: int
    score: float
    url: str = Field(
        description="The URL with the section's #anchor where known, as answers' citations have it."
    )
    link: str = Field(description="The same as `url` (kept for older clients).")
    title: str
    section: str
    text: str


class SearchOut(BaseModel):
    query: str
    mode: str
    hits: list[HitOut]
    timings: dict[str, float]


class StatsOut(BaseModel):
    documents: int
    chunks: int
    sources: int
    last_indexed: str | None = Field(description="ISO 8601 time of the latest indexing run (UTC).")
    version: str
    embedder: str


class SourceOut(BaseModel):
    source: str
    kind: str | None
    documents: int
    chunks: int
    last_indexed: str | None


class RemovedOut(BaseModel):
    source: str
    documents_removed: int
    chunks_removed: int


class HealthOut(BaseModel):
    status: Literal["ok"]
    index: bool = Field(description="Whether an index has been built.")
    message: str | None = None
    generator: str
    generations: dict[str, int] = Field(description="Answers running and waiting right now.")


class ErrorOut(BaseModel):
    error: str = Field(description="A stable machine-readable code, e.g. invalid_request, busy, no_index.")
    detail: str = Field(description="What went wrong, for people.")


# -- OpenAI-compatible ---------------------------------------------------------------------------------------
class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The subset of OpenAI's chat.completions request that searchchat uses; other fields are accepted."""

    model_config = ConfigDict(
        extra="allow",
        strict=True,
        json_schema_extra={
            "examples": [
                {"model": "searchchat", "messages": [{"role": "user", "content": "Is ChatGPT a GAN?"}]}
            ]
        },
    )
    model: str = "searchchat"
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=100)
    stream: bool = False


# -- conversations and feedback ------------------------------------------------------------------------------
Reason = Literal["wrong_citation", "wrong_answer", "should_have_answered", "should_not_have_answered"]


class RenameRequest(BaseModel):
    """A conversation's new title."""

    model_config = ConfigDict(**STRICT, json_schema_extra={"examples": [{"title": "GANs and ChatGPT"}]})
    title: Text = Field(..., min_length=1, max_length=200, pattern=r"\S", description="Not only whitespace.")


class FeedbackRequest(BaseModel):
    """Thumbs up or down on one answer, with an optional reason (for a thumbs down)."""

    model_config = ConfigDict(
        **STRICT,
        json_schema_extra={
            "examples": [{"turn_id": "0123456789abcdef", "verdict": "down", "reason": "wrong_citation"}]
        },  # fmt: skip
    )
    turn_id: Text = Field(..., min_length=1, max_length=MAX_ID_CHARS, description="The answer's `turn_id`.")
    verdict: Literal["up", "down"]
    reason: Reason | None = Field(None, description="Why the answer was wrong (only with verdict down).")

    @model_validator(mode="after")
    def _reason_with_down(self) -> FeedbackRequest:
        if self.reason is not None and self.verdict != "down":
            raise ValueError("a reason goes with verdict 'down' only")
        return self


class ConversationOut(BaseModel):
    id: str
    title: str = Field(description="The first question, unless renamed.")
    created: str = Field(description="ISO 8601 (UTC).")
    updated: str = Field(description="When the last turn was added (UTC).")
    turns: int
    shared: bool = Field(description="Whether a share link is live.")


class TurnOut(BaseModel):
    id: str = Field(description="The answer's id (`turn_id`), for POST /api/feedback.")
    position: int
    question: str
    answer: AnswerOut = Field(
        description="The answer as it was given; sources and citations whose document has been removed from "
        "the index since say `removed: true`."
    )
    created: str
    verdict: Literal["up", "down"] | None = None
    reason: Reason | None = None


class ConversationDetailOut(ConversationOut):
    turn_list: list[TurnOut] = Field(description="Oldest first.")
    share_url: str | None = Field(None, description="The read-only link (/s/TOKEN), when shared.")


class SharedOut(BaseModel):
    title: str
    created: str
    updated: str
    turn_list: list[TurnOut]


class ShareOut(BaseModel):
    id: str
    token: str = Field(description="Unguessable; deleting the conversation (or DELETE .../share) revokes it.")
    url: str = Field(description="The read-only page: /s/TOKEN.")


class DeletedOut(BaseModel):
    id: str
    deleted: bool


class FeedbackOut(BaseModel):
    turn_id: str
    conversation_id: str
    verdict: Literal["up", "down"]
    reason: Reason | None


# -- sources and indexing runs -------------------------------------------------------------------------------
SourceText = Annotated[
    Text, Field(min_length=1, max_length=MAX_SOURCE_CHARS, pattern=SOURCE_PATTERN)
]  # fmt: skip


class SourceRequest(BaseModel):
    """One source to index: a web site (`url`, with `depth` and `max_pages`), a `sitemap`, or a server
    `folder` (under SEARCHCHAT_FOLDER_ROOTS). Exactly one of url, sitemap and folder."""

    model_config = ConfigDict(
        **STRICT,
        json_schema_extra={
            "examples": [{"url": "https://docs.python.org/3/tutorial/", "depth": 2, "max_pages": 50}]
        },  # fmt: skip
    )
    url: SourceText | None = Field(None, description="Crawl this site from here (same host only).")
    sitemap: SourceText | None = Field(None, description="Index the pages this sitemap lists.")
    folder: SourceText | None = Field(None, description="Index this folder on the server.")
    depth: int | None = Field(None, ge=0, le=20, description="Links followed from the start URL.")
    max_pages: int | None = Field(None, ge=1, le=100_000, description="Stop the crawl after this many pages.")

    @model_validator(mode="after")
    def _exactly_one(self) -> SourceRequest:
        given = [name for name in ("url", "sitemap", "folder") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of url, sitemap and folder")
        if self.folder is not None and (self.depth is not None or self.max_pages is not None):
            raise ValueError("depth and max_pages go with url or sitemap only")
        return self


class ReindexRequest(BaseModel):
    """A source to index again, as GET /api/sources lists it (with the options it was indexed with)."""

    model_config = ConfigDict(**STRICT, json_schema_extra={"examples": [{"source": "https://example.com/"}]})
    source: SourceText


class RunOut(BaseModel):
    job: str
    state: Literal["queued", "running", "done", "failed"]
    finished: str | None = None
    error: ErrorOut | None = None


class SourceListOut(SourceOut):
    uploaded: bool = Field(False, description="A file uploaded from the web app (removing it deletes it).")
    last_run: RunOut | None = Field(None, description="The last run started from the web app, if any.")


class JobOut(BaseModel):
    id: str
    kind: Literal["upload", "web", "sitemap", "folder", "reindex"]
    sources: list[str]
    state: Literal["queued", "running", "done", "failed"]
    created: str
    started: str | None
    finished: str | None
    pages: int = Field(description="Documents read so far, changed or not.")
    chunks: int = Field(description="Chunks embedded so far.")
    total: int | None = Field(description="Documents expected (a crawl's page bound); null when unknown.")
    eta_seconds: float | None
    skipped: dict[str, int] = Field(description="Skips by reason (unchanged, robots, too_large, ...).")
    notes: list[str] = Field(description="The latest skips with their URL and reason.")
    error: ErrorOut | None = None
    summary: dict[str, Any] | None = Field(
        None, description="`searchchat index --json`'s summary, when done."
    )


class StoredOut(BaseModel):
    name: str = Field(description="The file's name as stored (sanitised).")
    bytes: int
    source: str


class UploadOut(BaseModel):
    files: list[StoredOut]
    job: JobOut
