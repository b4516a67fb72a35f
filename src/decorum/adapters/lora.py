"""Fine-tuned LoRA adapters on the base LLM (peft), verified by SHA-256 before they are attached."""

from __future__ import annotations

import hashlib
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from decorum.adapters.base import AdapterRef
from decorum.errors import ModelLoadError

logger = logging.getLogger(__name__)

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def adapter_sha256(path: Path) -> str:
    """One digest over an adapter folder's config and weights (what the note records)."""
    stamps = tuple((path / name).stat().st_mtime_ns if (path / name).exists() else 0 for name in ADAPTER_FILES)
    return _digest(str(path), stamps)


@lru_cache(maxsize=64)
def _digest(folder: str, _stamps: tuple[int, ...]) -> str:
    path = Path(folder)
    h = hashlib.sha256()
    for name in ADAPTER_FILES:
        file = path / name
        if not file.exists():
            raise ModelLoadError(f"adapter folder {path} lacks {name}")
        h.update(name.encode())
        h.update(file.read_bytes())
    return h.hexdigest()


def verified_sha256(adapter: AdapterRef) -> str:
    """The adapter files' digest, checked against the recorded one (when there is one) before any use."""
    digest = adapter_sha256(adapter.path)
    if adapter.sha256 and digest != adapter.sha256:
        raise ModelLoadError(f"adapter {adapter.name}@{adapter.version} at {adapter.path} does not match its "
                             f"recorded sha256 (expected {adapter.sha256[:12]}, found {digest[:12]})")
    return digest


def attach_adapter(model: Any, adapter: AdapterRef, attached: dict[str, AdapterRef]) -> Any:
    """Load ``adapter`` into ``model`` once (wrapping it in a ``PeftModel`` the first time)."""
    known = attached.get(adapter.name)
    if known is not None:
        if (known.version, known.path) != (adapter.version, adapter.path):
            raise ModelLoadError(f"adapter {adapter.name!r} is loaded at another version or path")
        return model
    verified_sha256(adapter)
    from peft import PeftModel

    try:
        if isinstance(model, PeftModel):
            model.load_adapter(str(adapter.path), adapter_name=adapter.name)
        else:
            model = PeftModel.from_pretrained(model, str(adapter.path), adapter_name=adapter.name)
    except Exception as exc:
        raise ModelLoadError(f"cannot attach adapter {adapter.name}: {exc.__class__.__name__}: {exc}") from exc
    model.eval()
    attached[adapter.name] = adapter
    logger.info("attached adapter %s@%s", adapter.name, adapter.version)
    return model
