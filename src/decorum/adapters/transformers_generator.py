"""Local generation with transformers on CPU: SmolLM2-135M-Instruct by default, LoRA adapters via peft."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from contextlib import nullcontext
from itertools import groupby
from pathlib import Path
from typing import Any

from decorum.adapters.base import AdapterRef, Generation, GenerationRequest, ModelInfo
from decorum.adapters.weights import SMOLLM2_NAME, ensure_converted
from decorum.errors import GenerationError, ModelLoadError

logger = logging.getLogger(__name__)


class TransformersGenerator:
    """A causal LM in this process. Greedy decoding by default, so answers are reproducible.

    Args:
        cache_dir: where converted weights are kept.
        source: a GGUF file or a model folder; ``None`` = the packaged SmolLM2 GGUF.
        max_input_tokens: prompts longer than this lose their oldest tokens (recorded as truncated).
        max_new_tokens: default cap on generated tokens.
        timeout_s: generation stops at this wall time (finish reason ``timeout``).
        threads: torch intra-op threads.
    """

    def __init__(self, cache_dir: Path, *, source: Path | None = None, name: str = SMOLLM2_NAME,
                 max_input_tokens: int = 1024, max_new_tokens: int = 128, timeout_s: float = 60.0,
                 threads: int | None = None, do_sample: bool = False) -> None:
        self.cache_dir = cache_dir
        self.source = source
        self.max_input_tokens = max_input_tokens
        self.max_new_tokens = max_new_tokens
        self.timeout_s = timeout_s
        self.threads = threads
        self.do_sample = do_sample
        self.info = ModelInfo(backend="local", name=name, revision="")
        self._model: Any = None
        self._tokenizer: Any = None
        self._adapters: dict[str, AdapterRef] = {}
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            if self.threads:
                torch.set_num_threads(self.threads)
            folder, revision = ensure_converted(self.source, self.cache_dir, self.info.name)
            try:
                tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
                model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, local_files_only=True)
            except Exception as exc:
                raise ModelLoadError(f"cannot load {folder}: {exc.__class__.__name__}: {exc}") from exc
            tok.padding_side = "left"
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
            model.eval()
            self._tokenizer, self._model = tok, model
            self.info = ModelInfo(backend="local", name=self.info.name, revision=revision)
            logger.info("loaded %s revision %s", self.info.name, revision[:12])

    @property
    def tokenizer(self) -> Any:
        self.load()
        return self._tokenizer

    def _use_adapter(self, adapter: AdapterRef) -> Any:
        """Return the peft model with ``adapter`` loaded (once)."""
        from decorum.adapters.lora import attach_adapter

        self._model = attach_adapter(self._model, adapter, self._adapters)
        return self._model

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        self.load()
        results: dict[int, Generation] = {}
        indexed = sorted(enumerate(requests), key=lambda p: _adapter_key(p[1]))
        with self._lock:
            for _key, group in groupby(indexed, key=lambda p: _adapter_key(p[1])):
                batch = list(group)
                outs = self._generate_batch([r for _, r in batch])
                results.update({i: out for (i, _), out in zip(batch, outs, strict=True)})
        return [results[i] for i in range(len(requests))]

    def _generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        tok = self._tokenizer
        adapter = requests[0].adapter
        prompts, truncated = [], []
        for req in requests:
            ids = tok.apply_chat_template(req.messages, add_generation_prompt=True, tokenize=True)
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
            ids = list(ids)
            cut = len(ids) > self.max_input_tokens
            if cut:
                ids = ids[:8] + ids[-(self.max_input_tokens - 8):]  # keep the system start and the question
            prompts.append(ids)
            truncated.append(cut)
        width = max(len(p) for p in prompts)
        pad = tok.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        max_new = max(req.max_new_tokens or self.max_new_tokens for req in requests)
        deadline = time.monotonic() + self.timeout_s
        timed_out = threading.Event()

        class _Deadline(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                if time.monotonic() > deadline:
                    timed_out.set()
                    return torch.ones(input_ids.shape[0], dtype=torch.bool)
                return torch.zeros(input_ids.shape[0], dtype=torch.bool)

        model = self._model
        if adapter is not None:
            model = self._use_adapter(adapter)
            model.set_adapter(adapter.name)
        # Base-model requests on a model that carries adapters run with them switched off.
        scope = model.disable_adapter() if adapter is None and self._adapters else nullcontext()
        try:
            with torch.inference_mode(), scope:
                out = model.generate(input_ids=input_ids, attention_mask=attention, max_new_tokens=max_new,
                                     do_sample=self.do_sample, pad_token_id=pad,
                                     stopping_criteria=StoppingCriteriaList([_Deadline()]))
        except Exception as exc:
            raise GenerationError(f"local generation failed: {exc.__class__.__name__}: {exc}") from exc
        gens = []
        eos = {tok.eos_token_id, *([tok.convert_tokens_to_ids("<|im_end|>")] if tok.eos_token else [])}
        for row, req, cut, prompt in zip(out, requests, truncated, prompts, strict=True):
            new = row[width:].tolist()
            cap = req.max_new_tokens or self.max_new_tokens
            new = new[:cap]
            stop_at = next((i for i, t in enumerate(new) if t in eos or t == pad), None)
            finished = stop_at is not None
            if finished:
                new = new[:stop_at]
            reason = "stop" if finished else ("timeout" if timed_out.is_set() and len(new) < cap else "length")
            gens.append(Generation(text=tok.decode(new, skip_special_tokens=True).strip(),
                                   prompt_tokens=len(prompt), completion_tokens=len(new),
                                   finish_reason=reason, input_truncated=cut))
        return gens


def _adapter_key(req: GenerationRequest) -> tuple[str, int]:
    return (req.adapter.name, req.adapter.version) if req.adapter else ("", 0)
