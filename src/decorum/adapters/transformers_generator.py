"""Local generation with transformers on CPU: the reference engine (fp32), LoRA adapters via peft.

The default engine is onnxruntime-genai (``onnx_generator``); this one stays as the reference its greedy
answers are compared against, and for sites that want plain PyTorch. It streams like the default engine.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from decorum.adapters.base import (
    DEFAULT_DECODING,
    AdapterRef,
    Decoding,
    FinishReason,
    Generation,
    GenerationRequest,
    ModelInfo,
    generate_by_adapter,
    truncate_prompt,
)
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
        decoding: the settings against repetition a request runs with unless it names its own: ``generate``'s
            ``repetition_penalty`` and ``no_repeat_ngram_size`` (as onnxruntime-genai applies them; ``Decoding``).
    """

    def __init__(self, cache_dir: Path, *, source: Path | None = None, name: str = SMOLLM2_NAME,
                 max_input_tokens: int = 1024, max_new_tokens: int = 128, timeout_s: float = 60.0,
                 threads: int | None = None, do_sample: bool = False, decoding: Decoding = DEFAULT_DECODING) -> None:
        self.cache_dir = cache_dir
        self.source = source
        self.max_input_tokens = max_input_tokens
        self.max_new_tokens = max_new_tokens
        self.timeout_s = timeout_s
        self.threads = threads
        self.do_sample = do_sample
        self.decoding = decoding
        self.info = ModelInfo(backend="local", name=name, revision="", engine="transformers", precision="fp32")
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
                # safetensors only: ensure_converted refused any pickle-format weights in the folder.
                model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, local_files_only=True,
                                                             use_safetensors=True)
            except Exception as exc:
                raise ModelLoadError(f"cannot load {folder}: {exc.__class__.__name__}: {exc}") from exc
            tok.padding_side = "left"
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
            model.eval()
            self._tokenizer, self._model = tok, model
            self.info = replace(self.info, revision=revision)
            logger.info("loaded %s revision %s", self.info.name, revision[:12])

    @property
    def tokenizer(self) -> Any:
        self.load()
        return self._tokenizer

    def prepare(self, adapters: Sequence[AdapterRef]) -> None:
        self.load()
        with self._lock:
            for ref in adapters:
                self._use_adapter(ref)

    def _use_adapter(self, adapter: AdapterRef) -> Any:
        """Return the peft model with ``adapter`` loaded (once)."""
        from decorum.adapters.lora import attach_adapter

        self._model = attach_adapter(self._model, adapter, self._adapters)
        return self._model

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        self.load()
        with self._lock:
            return generate_by_adapter(requests, self._generate_batch)

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
            ids, cut = truncate_prompt(list(ids), self.max_input_tokens)
            prompts.append(ids)
            truncated.append(cut)
        width = max(len(p) for p in prompts)
        pad = tok.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        caps = [req.max_new_tokens or self.max_new_tokens for req in requests]
        deadline = time.monotonic() + self.timeout_s
        timed_out = threading.Event()
        # End of answer: the end-of-sequence token, <|im_end|> (SmolLM2's end of turn) or the pad token.
        stops = {tok.eos_token_id, pad, *([tok.convert_tokens_to_ids("<|im_end|>")] if tok.eos_token else [])}
        streamer = _RowStreamer(tok, requests, caps=caps, stops=stops)
        decoding = (requests[0].decoding or self.decoding).local()  # one per batch, like the temperature

        class _Stop(StoppingCriteria):
            """Per row: stop at the deadline (all rows) or when a row's sink said stop."""

            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                if time.monotonic() > deadline:
                    timed_out.set()
                    return torch.ones(input_ids.shape[0], dtype=torch.bool)
                return torch.tensor(streamer.cancelled, dtype=torch.bool)

        model = self._model
        if adapter is not None:
            model = self._use_adapter(adapter)
            model.set_adapter(adapter.name)
        # Base-model requests on a model that carries adapters run with them switched off.
        scope = model.disable_adapter() if adapter is None and self._adapters else nullcontext()
        try:
            with torch.inference_mode(), scope:
                temperature = requests[0].temperature or 0.0  # one per batch (generate_by_adapter groups by it)
                sampling: dict[str, Any] = {"do_sample": True, "temperature": temperature, "top_k": 50, "top_p": 0.95} \
                    if temperature > 0 else {"do_sample": self.do_sample}
                out = model.generate(input_ids=input_ids, attention_mask=attention, max_new_tokens=max(caps),
                                     **sampling, **decoding, pad_token_id=pad, streamer=streamer,
                                     stopping_criteria=StoppingCriteriaList([_Stop()]))
        except Exception as exc:
            raise GenerationError(f"local generation failed: {exc.__class__.__name__}: {exc}") from exc
        gens = []
        for i, (row, cap, cut, prompt) in enumerate(zip(out, caps, truncated, prompts, strict=True)):
            new = row[width:].tolist()
            if streamer.cancelled[i]:  # what the sink saw, not the pad tokens generated after it said stop
                new = new[:streamer.counts[i]]
            new = new[:cap]
            stop_at = next((k for k, t in enumerate(new) if t in stops), None)
            finished = stop_at is not None
            if finished:
                new = new[:stop_at]
            reason: FinishReason = ("cancelled" if streamer.cancelled[i] else "stop" if finished else
                                    "timeout" if timed_out.is_set() and len(new) < cap else "length")
            streamer.finish(i, new)
            gens.append(Generation(text=tok.decode(new, skip_special_tokens=True).strip(),
                                   prompt_tokens=len(prompt), completion_tokens=len(new),
                                   finish_reason=reason, input_truncated=cut, token_ids=tuple(new),
                                   decoding=decoding))
        return gens


class _RowStreamer:
    """A transformers streamer for a batch: each row's new text goes to its request's ``on_text``.

    transformers calls ``put`` with the prompt first, then with one new token per row per step. Rows are
    decoded whole and the new suffix is sent, holding back an incomplete UTF-8 character; a row stops
    streaming at its end-of-sequence token, its cap, or when its sink says stop (``cancelled``).
    """

    def __init__(self, tokenizer: Any, requests: list[GenerationRequest], *, caps: list[int],
                 stops: set[int]) -> None:
        self.tokenizer = tokenizer
        self.requests = requests
        self.caps = caps
        self.stops = stops
        n = len(requests)
        self.tokens: list[list[int]] = [[] for _ in range(n)]
        self.sent = [""] * n
        self.counts = [0] * n  # tokens the sink has seen text of
        self.done = [not req.observed for req in requests]
        self.cancelled = [False] * n
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        column = value.reshape(-1).tolist()
        for i, token in enumerate(column):
            if self.done[i]:
                continue
            if token in self.stops:
                self.done[i] = True
                continue
            self.tokens[i].append(int(token))
            self._send(i)
            if len(self.tokens[i]) >= self.caps[i]:
                self.done[i] = True

    def _send(self, i: int) -> None:
        text = self.tokenizer.decode(self.tokens[i], skip_special_tokens=True)
        if text.endswith("\ufffd"):  # half a character: wait for the rest
            return
        piece, self.sent[i] = text[len(self.sent[i]):], text
        self.counts[i] = len(self.tokens[i])
        if piece and not self.requests[i].emit(piece):
            self.done[i] = self.cancelled[i] = True

    def finish(self, i: int, final_tokens: list[int]) -> None:
        """Send whatever the final text has beyond what was streamed (a held-back character)."""
        if self.cancelled[i] or not self.requests[i].observed:
            return
        text = self.tokenizer.decode(final_tokens, skip_special_tokens=True)
        if text.startswith(self.sent[i]) and len(text) > len(self.sent[i]):
            self.requests[i].emit(text[len(self.sent[i]):])

    def end(self) -> None:
        return None
