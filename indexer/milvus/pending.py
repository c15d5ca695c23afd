"""An indexing run's writes to Milvus, held back and sent in batches: inserts, deletes and partial updates."""

from __future__ import annotations

from typing import Any

from indexer.milvus import schema as ms

SEND_ROWS = 2 * ms.PAGE  # rows held before they are sent


class Pending:
    """What a run has not sent yet, per collection. A row deleted or updated before it was sent changes in
    place; `send()` deletes, then inserts, then updates, so a key deleted and written again ends written."""

    def __init__(self, mc: Any) -> None:
        self.mc = mc
        self.inserts: dict[str, dict[Any, dict[str, Any]]] = {}
        self.deletes: dict[str, list[Any]] = {}
        self.updates: dict[str, dict[Any, dict[str, Any]]] = {}
        self.rows = 0

    def insert(self, collection: str, row: dict[str, Any]) -> None:
        self.inserts.setdefault(collection, {})[row[ms.primary(collection)]] = row
        self._count()

    def delete(self, collection: str, key: Any) -> None:
        """Drop a row this run wrote: unsent, it is never sent; sent, it is deleted."""
        if self.inserts.get(collection, {}).pop(key, None) is None:
            self.deletes.setdefault(collection, []).append(key)
            self.updates.get(collection, {}).pop(key, None)
            self._count()

    def update(self, collection: str, key: Any, fields: dict[str, Any]) -> None:
        """Change some fields of a row (a partial update, or the unsent row itself)."""
        if key in self.inserts.get(collection, {}):
            self.inserts[collection][key].update(fields)
            return
        self.updates.setdefault(collection, {}).setdefault(key, {ms.primary(collection): key}).update(fields)
        self._count()

    def _count(self) -> None:
        self.rows += 1
        if self.rows >= SEND_ROWS:
            self.send()

    def send(self) -> None:
        for collection, keys in self.deletes.items():
            for start in range(0, len(keys), ms.PAGE):
                self.mc.delete(collection, ids=keys[start : start + ms.PAGE])
        for collection, by_key in self.inserts.items():
            rows = list(by_key.values())
            for start in range(0, len(rows), ms.PAGE):
                self.mc.insert(collection, rows[start : start + ms.PAGE])
        for collection, by_key in self.updates.items():
            rows = list(by_key.values())
            for start in range(0, len(rows), ms.PAGE):
                self.mc.upsert(collection, rows[start : start + ms.PAGE], partial_update=True)
        self.inserts, self.deletes, self.updates, self.rows = {}, {}, {}, 0
