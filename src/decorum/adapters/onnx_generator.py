"""Local generation on onnxruntime-genai: the default engine (int8 by default), about 10x transformers on CPU.

The model is built once per weights hash and precision into the cache (``onnx_build``); a fine-tuned LoRA
adapter is merged and built once per adapter hash, and its hash is checked before every use. Requests
given together run as one batch (right-padded, as onnxruntime-genai expects), each streamed token by
token to its ``on_text`` sink, each with its own token cap, and stopped early when its sink says so.

Example::

    gen = OnnxGenerator(cache_dir, precision="int8")
    gen.load()                      # builds on the first start (a progress line), then loads in seconds
    [out] = gen.generate([GenerationRequest(messages=[{"role": "user", "content": "Hi"}])])
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
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
from decorum.adapters.lora import verified_sha256
from decorum.adapters.onnx_build import OnnxArtifact, ensure_onnx_model
from decorum.adapters.weights import SMOLLM2_NAME, ensure_converted
from decorum.errors import GenerationError, ModelLoadError

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Engine:
    """One loaded ONNX model (the base, or the base with one adapter merged)."""

    artifact: OnnxArtifact
    model: Any
    tokenizer: Any
    context_length: int


class OnnxGenerator:
    """SmolLM2 (or any model folder the builder supports) on onnxruntime-genai, greedy, with a repetition penalty.

    Args:
        cache_dir: where converted weights and built ONNX models are kept.
        source: a GGUF file or a model folder; ``None`` = the packaged SmolLM2 GGUF.
        precision: ``fp32``, ``int8`` (default) or ``int4`` weights.
        max_input_tokens: prompts longer than this lose their oldest tokens (recorded as truncated).
        max_new_tokens: default cap on generated tokens.
        timeout_s: generation stops at this wall time (finish reason ``timeout``).
        threads: ONNX Runtime intra-op threads (default: the CPUs this process may use).
        decoding: the settings against repetition a request runs with unless it names its own: onnxruntime-genai's
            ``repetition_penalty`` and ``no_repeat_ngram_size`` search options (its CPU search implements both
            as transformers does; ``Decoding``).
    """

    def __init__(self, cache_dir: Path, *, source: Path | None = None, name: str = SMOLLM2_NAME,
                 precision: str = "int8", max_input_tokens: int = 1024, max_new_tokens: int = 128,
                 timeout_s: float = 60.0, threads: int | None = None, show_progress: bool = True,
                 decoding: Decoding = DEFAULT_DECODING) -> None:
        self.cache_dir = cache_dir
        self.source = source
        self.precision = precision
        self.max_input_tokens = max_input_tokens
        self.max_new_tokens = max_new_tokens
        self.timeout_s = timeout_s
        self.threads = threads or len(os.sched_getaffinity(0))
        self.show_progress = show_progress
        self.decoding = decoding
        self.info = ModelInfo(backend="local", name=name, revision="", engine="onnx", precision=precision)
        self._folder: Path | None = None
        self._base: _Engine | None = None
        self._tuned: dict[str, _Engine] = {}  # adapter sha256 -> its merged build
        self._lock = threading.RLock()

    # --- loading ---------------------------------------------------------------------------------------

    def load(self) -> None:
        with self._lock:
            if self._base is not None:
                return
            folder, revision = ensure_converted(self.source, self.cache_dir, self.info.name)
            art = ensure_onnx_model(folder, revision, self.cache_dir, self.precision,
                                    show_progress=self.show_progress)
            self._folder = folder
            self._base = self._open(art)
            self.info = replace(self.info, revision=revision, artifact_revision=art.revision)
            logger.info("loaded %s revision %s as onnx %s artifact %s%s", self.info.name, revision[:12],
                        self.precision, art.revision[:12], " (built now)" if art.built else "")

    def prepare(self, adapters: Sequence[AdapterRef]) -> None:
        for ref in adapters:
            self._engine(ref)

    def _open(self, art: OnnxArtifact) -> _Engine:
        import onnxruntime_genai as og

        og.disable_telemetry_events()
        try:
            config = og.Config(str(art.folder))
            # In memory only (the built files stay as hashed): one session, this process's CPUs.
            config.overlay(json.dumps({"model": {"decoder": {"session_options": {
                "intra_op_num_threads": self.threads, "inter_op_num_threads": 1}}}}))
            model = og.Model(config)
            tokenizer = og.Tokenizer(model)
            meta = json.loads((art.folder / "genai_config.json").read_text())
        except Exception as exc:
            raise ModelLoadError(f"cannot load the ONNX model in {art.folder}: {exc.__class__.__name__}: {exc}"
                                 ) from exc
        return _Engine(artifact=art, model=model, tokenizer=tokenizer,
                       context_length=int(meta["model"].get("context_length") or 2048))

    def _engine(self, adapter: AdapterRef | None) -> _Engine:
        """The loaded model for ``adapter`` (the base for ``None``); the adapter's hash is checked every time."""
        self.load()
        assert self._base is not None and self._folder is not None
        if adapter is None:
            return self._base
        digest = verified_sha256(adapter)  # cached per file identity (mtime, ctime, size, inode)
        with self._lock:
            if digest not in self._tuned:
                ref = AdapterRef(name=adapter.name, version=adapter.version, path=adapter.path, sha256=digest)
                art = ensure_onnx_model(self._folder, self.info.revision, self.cache_dir, self.precision,
                                        adapter=ref, show_progress=self.show_progress)
                self._tuned[digest] = self._open(art)
                logger.info("loaded adapter %s@%s as onnx artifact %s", adapter.name, adapter.version,
                            art.revision[:12])
            return self._tuned[digest]

    # --- generation ------------------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        self.load()
        with self._lock:  # one batch at a time on this model: the batch already uses every core
            return generate_by_adapter(requests, lambda batch: self._generate_batch(self._engine(batch[0].adapter),
                                                                                    batch))

    def _prompt(self, engine: _Engine, req: GenerationRequest, cap: int) -> tuple[list[int], bool]:
        text = engine.tokenizer.apply_chat_template(json.dumps(req.messages), add_generation_prompt=True)
        ids = [int(t) for t in engine.tokenizer.encode(text)]
        return truncate_prompt(ids, max(16, min(self.max_input_tokens, engine.context_length - cap)))

    def _generate_batch(self, engine: _Engine, requests: list[GenerationRequest]) -> list[Generation]:
        import numpy as np
        import onnxruntime_genai as og

        tok = engine.tokenizer
        caps = [req.max_new_tokens or self.max_new_tokens for req in requests]
        prompts, truncated = zip(*(self._prompt(engine, r, c) for r, c in zip(requests, caps, strict=True)),
                                 strict=True)
        width = max(len(p) for p in prompts)
        pad = int(tok.pad_token_id)
        eos = {int(t) for t in tok.eos_token_ids}
        n = len(requests)
        new: list[list[int]] = [[] for _ in range(n)]
        pieces: list[list[str]] = [[] for _ in range(n)]
        reasons: list[FinishReason | None] = [None] * n
        streams = [tok.create_stream() for _ in range(n)]
        deadline = time.monotonic() + self.timeout_s
        try:
            params = og.GeneratorParams(engine.model)
            temperature = requests[0].temperature or 0.0  # one per batch (generate_by_adapter groups by it)
            sampling = {"do_sample": True, "temperature": temperature, "top_k": 50, "top_p": 0.95} \
                if temperature > 0 else {"do_sample": False}
            decoding = (requests[0].decoding or self.decoding).local()  # one per batch, like the temperature
            params.set_search_options(**sampling, **decoding,
                                      max_length=min(engine.context_length, width + max(caps)), batch_size=n)
            generator = og.Generator(engine.model, params)
            if n == 1:
                generator.append_tokens(np.asarray(prompts[0], dtype=np.int32))
            else:  # right-padded with the pad token, as onnxruntime-genai's own encode_batch does
                generator.append_tokens(np.asarray([p + [pad] * (width - len(p)) for p in prompts], dtype=np.int32))
            while not generator.is_done() and None in reasons:
                if time.monotonic() > deadline:
                    break
                generator.generate_next_token()
                for i, token in enumerate(generator.get_next_tokens()):
                    if reasons[i] is not None:
                        continue
                    token = int(token)
                    if token in eos:
                        reasons[i] = "stop"
                        continue
                    new[i].append(token)
                    piece = streams[i].decode(token)
                    if piece:
                        pieces[i].append(piece)
                        if not requests[i].emit(piece):
                            reasons[i] = "cancelled"
                            continue
                    if len(new[i]) >= caps[i]:
                        reasons[i] = "length"
        except Exception as exc:
            raise GenerationError(f"onnx generation failed: {exc.__class__.__name__}: {exc}") from exc
        out = []
        for i in range(n):
            # No reason yet: the deadline passed, or the engine reached its length limit first.
            reason: FinishReason = reasons[i] or ("timeout" if time.monotonic() > deadline else "length")
            out.append(Generation(text="".join(pieces[i]).strip(), prompt_tokens=len(prompts[i]),
                                  completion_tokens=len(new[i]), finish_reason=reason,
                                  input_truncated=truncated[i], artifact_revision=engine.artifact.revision,
                                  token_ids=tuple(new[i]), decoding=decoding))
        return out
