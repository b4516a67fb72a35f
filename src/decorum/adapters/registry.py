"""The ``models:`` section of the YAML configuration and the generator registry.

Example YAML::

    models:
      generator:
        kind: onnx                  # the default; or transformers (the reference), openai_compat
        # openai_compat: base_url (required), api_key, connect_timeout_s 5, read_timeout_s 30, retries 3,
        # backoff_s 0.5, backoff_max_s 8, adapter_model "{name}@{version}", concurrency 8
        precision: int8             # onnx: fp32 | int8 | int4
        max_new_tokens: 128
        repetition_penalty: 1.1     # onnx, transformers: 1.0 = off (see decorum.adapters.base.Decoding)
        no_repeat_ngram_size: 4     # onnx, transformers: 0 = off
        # openai_compat: frequency_penalty 0, presence_penalty 0 (sent only when not 0)
      adapters:
        helpdesk-lora: {version: 1, path: /srv/adapters/helpdesk-lora}
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from decorum.adapters.base import DEFAULT_DECODING, AdapterRef, Decoding, Generator
from decorum.errors import ConfigError


class GeneratorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["onnx", "transformers", "openai_compat"] = "onnx"
    source: Path | None = None  # onnx, transformers: a GGUF file or model folder; default: packaged SmolLM2
    precision: Literal["fp32", "int8", "int4"] = "int8"  # onnx only (transformers runs fp32)
    name: str = "smollm2-135m-instruct"
    base_url: str | None = None  # openai_compat: the API root, http(s)://host:port/v1
    api_key: str | None = None
    max_input_tokens: int = Field(1024, ge=16, le=32768)
    max_new_tokens: int = Field(128, ge=1, le=4096)
    timeout_s: float = Field(60.0, gt=0)  # one answer's wall time (openai_compat: retries and waits included)
    threads: int | None = Field(None, ge=1)
    # openai_compat only: see decorum.adapters.openai_compat
    connect_timeout_s: float = Field(5.0, gt=0, le=300)  # to open a connection
    read_timeout_s: float = Field(30.0, gt=0, le=3600)  # each read: a plain answer's first byte, a stream's next event
    retries: int = Field(3, ge=0, le=10)  # after connection errors, time-outs, 5xx, 429; never once text was shown
    backoff_s: float = Field(0.5, ge=0, le=60)  # the first wait; doubled each retry, 50-100% jitter
    backoff_max_s: float = Field(8.0, ge=0, le=300)  # cap on a wait, Retry-After included
    adapter_model: str = Field("{name}@{version}", min_length=1, max_length=200)  # an adapter's name as the model
    concurrency: int = Field(8, ge=1, le=64)  # answers of one batch requested at once
    # Against repetition (decorum.adapters.base.Decoding). Local engines: on by default, the same in both.
    repetition_penalty: float = Field(DEFAULT_DECODING.repetition_penalty, ge=1.0, le=2.0)  # 1.0 = off
    no_repeat_ngram_size: int = Field(DEFAULT_DECODING.no_repeat_ngram_size, ge=0, le=16)  # 0 = off
    # openai_compat: what the server is sent (only when not 0); its own defaults otherwise.
    frequency_penalty: float = Field(DEFAULT_DECODING.frequency_penalty, ge=-2.0, le=2.0)
    presence_penalty: float = Field(DEFAULT_DECODING.presence_penalty, ge=-2.0, le=2.0)

    @property
    def decoding(self) -> Decoding:
        return Decoding(repetition_penalty=self.repetition_penalty, no_repeat_ngram_size=self.no_repeat_ngram_size,
                        frequency_penalty=self.frequency_penalty, presence_penalty=self.presence_penalty)

    @model_validator(mode="after")
    def _precision_is_onnx_only(self) -> GeneratorConfig:
        if "precision" in self.model_fields_set and self.kind != "onnx":
            raise ValueError(f"precision applies to kind: onnx only (kind {self.kind} runs its own precision)")
        local = {"repetition_penalty", "no_repeat_ngram_size"} & self.model_fields_set
        remote = {"frequency_penalty", "presence_penalty"} & self.model_fields_set
        if self.kind == "openai_compat" and local:
            raise ValueError(f"{', '.join(sorted(local))}: local engines only (openai_compat sends "
                             f"frequency_penalty and presence_penalty)")
        if self.kind != "openai_compat" and remote:
            raise ValueError(f"{', '.join(sorted(remote))}: kind openai_compat only (local engines use "
                             f"repetition_penalty and no_repeat_ngram_size)")
        return self

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {value!r})")
        return value

    @field_validator("adapter_model")
    @classmethod
    def _names_the_adapter(cls, value: str) -> str:
        try:
            probe = value.format(name="\x00", version=1)
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            raise ValueError(f"may use only {{name}} and {{version}} (got {value!r})") from exc
        if "\x00" not in probe:
            raise ValueError(f"must contain {{name}} (got {value!r})")
        return value


class AdapterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    path: Path
    # Mandatory: the files must match what the admin vouched for (`decorum models show` or sha256 of the files
    # as `adapter_sha256` computes it); an adapter is never vouched for by its own files.
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ModelsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    generator: GeneratorConfig = GeneratorConfig()
    adapters: dict[str, AdapterConfig] = {}

    def adapter(self, name: str) -> AdapterRef:
        if name not in self.adapters:
            known = ", ".join(sorted(self.adapters)) or "none configured"
            raise ConfigError(f"unknown adapter {name!r}; available: {known}")
        a = self.adapters[name]
        return AdapterRef(name=name, version=a.version, path=a.path, sha256=a.sha256)  # checked when attached


def _onnx(cfg: GeneratorConfig, cache_dir: Path) -> Generator:
    from decorum.adapters.onnx_generator import OnnxGenerator

    return OnnxGenerator(cache_dir, source=cfg.source, name=cfg.name, precision=cfg.precision,
                         max_input_tokens=cfg.max_input_tokens, max_new_tokens=cfg.max_new_tokens,
                         timeout_s=cfg.timeout_s, threads=cfg.threads, decoding=cfg.decoding)


def _transformers(cfg: GeneratorConfig, cache_dir: Path) -> Generator:
    from decorum.adapters.transformers_generator import TransformersGenerator

    return TransformersGenerator(cache_dir, source=cfg.source, name=cfg.name, max_input_tokens=cfg.max_input_tokens,
                                 max_new_tokens=cfg.max_new_tokens, timeout_s=cfg.timeout_s, threads=cfg.threads,
                                 decoding=cfg.decoding)


def _openai_compat(cfg: GeneratorConfig, cache_dir: Path) -> Generator:
    from decorum.adapters.openai_compat import OpenAICompatGenerator

    if not cfg.base_url:
        raise ConfigError("models.generator.base_url is required for kind: openai_compat")
    return OpenAICompatGenerator(cfg.base_url, cfg.name, api_key=cfg.api_key, max_new_tokens=cfg.max_new_tokens,
                                 timeout_s=cfg.timeout_s, connect_timeout_s=cfg.connect_timeout_s,
                                 read_timeout_s=cfg.read_timeout_s, retries=cfg.retries, backoff_s=cfg.backoff_s,
                                 backoff_max_s=cfg.backoff_max_s, adapter_model=cfg.adapter_model,
                                 concurrency=cfg.concurrency, decoding=cfg.decoding)


GENERATORS: dict[str, Callable[[GeneratorConfig, Path], Generator]] = {
    "onnx": _onnx,
    "transformers": _transformers,
    "openai_compat": _openai_compat,
}


def build_generator(cfg: GeneratorConfig, cache_dir: Path) -> Generator:
    return GENERATORS[cfg.kind](cfg, cache_dir)


