"""The Milvus store (Milvus Lite on a .db file, or a Milvus server): the same interface as the local store."""

from indexer.milvus.reader import MilvusHandle, MilvusStore
from indexer.milvus.writer import MilvusWriter

__all__ = ["MilvusHandle", "MilvusStore", "MilvusWriter"]
