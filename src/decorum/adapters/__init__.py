"""Generation backends (local transformers, OpenAI-compatible HTTP) and fine-tuned adapters."""

from decorum.adapters.base import AdapterRef, Generation, GenerationRequest, Generator

__all__ = ["AdapterRef", "Generation", "GenerationRequest", "Generator"]
