"""The ``knowledge`` section of the YAML configuration: retrieval, citations and the grounding check."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class KnowledgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Retrieve entries for answers on a domain route (a fine-tuned adapter or a template with a domain).
    enabled: bool = True
    # Entries retrieved per question: cited in the answer and its note, given to the prompt, trusted by grounding.
    top_k: int = Field(default=3, ge=1, le=10)
    # Cosine similarity below which an entry is not cited (nor quoted in a "not sure" answer).
    min_score: float = Field(default=0.35, ge=0.0, le=1.0)
    # Check what a domain answer states as fact against the retrieved entries; regenerate once with them in
    # the prompt, then answer "I'm not sure" quoting the closest entry (decorum.guardrails.grounding).
    grounding: bool = True
    # Where a cited entry can be read: a URL with {id} (e.g. https://wiki.example.com/kb/{id}); none: plain text.
    source_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://[^\s<>|]*\{id\}[^\s<>|]*$")
