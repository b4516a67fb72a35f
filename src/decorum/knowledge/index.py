"""Retrieval over the published knowledge, kept current across processes.

``KnowledgeIndex.search`` embeds the question with the packaged sentence encoder (all-MiniLM-L6-v2, the
router's) and returns the best published entries of a domain by cosine similarity. The index looks at the
knowledge revision counter at most every ``cache_check_s`` seconds (the template cache's bound,
``prompts.cache_check_s``); when another process published or rolled back an entry, it re-reads the published
versions and embeds only the ones it has not embedded before (vectors are cached by content hash).

Example::

    index = KnowledgeIndex(KnowledgeStore(db), shared_embedder(), cache_check_s=1.0)
    for hit in index.search("How many days of annual leave do I get?", "helpdesk", k=3):
        hit.entry.ref, round(hit.score, 3)      # ('hr-annual-leave v3', 0.71)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from decorum.knowledge.base import Entry
from decorum.knowledge.store import KnowledgeStore


@dataclass(frozen=True, slots=True)
class Hit:
    entry: Entry
    score: float

    def as_note(self) -> dict[str, Any]:
        return {"id": self.entry.id, "version": self.entry.version, "score": round(self.score, 4)}


class KnowledgeIndex:
    """The published entries of every domain with their embeddings; thread-safe, refreshed lazily."""

    def __init__(self, store: KnowledgeStore, embedder: Any, *, cache_check_s: float = 1.0) -> None:
        self.store = store
        self.embedder = embedder
        self.cache_check_s = cache_check_s
        self._lock = threading.Lock()
        self._revision: int | None = None
        self._checked_at = float("-inf")
        self._entries: dict[str, list[Entry]] = {}
        self._matrix: dict[str, Any] = {}
        self._vectors: dict[str, Any] = {}  # sha256 -> vector

    def refresh(self, *, force: bool = False) -> bool:
        """Re-read the published entries when the knowledge changed (at most every ``cache_check_s``)."""
        now = time.monotonic()
        if not force and now - self._checked_at < self.cache_check_s:
            return False
        revision = self.store.revision()
        with self._lock:
            self._checked_at = now
            if revision == self._revision and not force:
                return False
            entries = self.store.published()
            missing = [e for e in entries if e.sha256 not in self._vectors]
            if missing:
                vectors = self.embedder.encode([e.text() for e in missing])
                for e, v in zip(missing, vectors, strict=True):
                    self._vectors[e.sha256] = v
            import torch

            by_domain: dict[str, list[Entry]] = {}
            for e in entries:
                by_domain.setdefault(e.domain, []).append(e)
            self._entries = by_domain
            self._matrix = {d: torch.stack([self._vectors[e.sha256] for e in es]) for d, es in by_domain.items()}
            live = {e.sha256 for e in entries}
            self._vectors = {k: v for k, v in self._vectors.items() if k in live}
            self._revision = revision
            return True

    def entries(self, domain: str) -> list[Entry]:
        self.refresh()
        return list(self._entries.get(domain, []))

    def search(self, question: str, domain: str, k: int = 3) -> list[Hit]:
        """The ``k`` published entries of ``domain`` most similar to ``question``, best first."""
        self.refresh()
        with self._lock:
            entries, matrix = self._entries.get(domain), self._matrix.get(domain)
        if not entries or matrix is None or k <= 0:
            return []
        import torch

        sims = matrix @ self.embedder.encode([question])[0]
        values, idx = torch.topk(sims, min(k, len(entries)))
        return [Hit(entries[int(i)], float(v)) for v, i in zip(values, idx, strict=True)]
