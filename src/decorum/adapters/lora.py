"""Fine-tuned LoRA adapters on the base LLM (peft), verified by SHA-256 before they are attached.

An adapter is loaded only against an expected digest kept apart from its folder (the model registry's
row, a digest pinned in code for the shipped adapters, or the configuration): one without is refused,
and so is a folder holding pickle-format weights (``adapter_model.bin`` and the like), which peft would
otherwise fall back to. The digest covers ``adapter_config.json`` and ``adapter_model.safetensors``,
every file peft reads; a version's ``router.safetensors`` has its own digest (see ``load_router_index``).

Example::

    ref = AdapterRef("helpdesk-lora", 1, SHIPPED_DIR / "helpdesk-lora", SHIPPED["helpdesk-lora"])
    verified_sha256(ref)          # the digest, or ModelLoadError
    model = attach_adapter(model, ref, attached={})
"""

from __future__ import annotations

import hashlib
import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from decorum.adapters.base import AdapterRef
from decorum.adapters.weights import refuse_pickles
from decorum.errors import ModelLoadError

logger = logging.getLogger(__name__)

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def adapter_sha256(path: Path) -> str:
    """One digest over an adapter folder's config and weights (what the note records).

    Cached per file identity (modification and change time, size, inode), so a rewrite is always seen:
    the change time cannot be set back.

    Raises:
        ModelLoadError: A file is missing, or the folder holds pickle-format weights.
    """
    refuse_pickles(path, "adapter folder")
    stamps = []
    for name in ADAPTER_FILES:
        try:
            st = (path / name).stat()
        except FileNotFoundError:
            stamps.append((0, 0, 0, 0))
            continue
        stamps.append((st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino))
    return _digest(str(path), tuple(stamps))


@lru_cache(maxsize=64)
def _digest(folder: str, _stamps: tuple[tuple[int, int, int, int], ...]) -> str:
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
    """The adapter files' digest, checked against the recorded one before any use.

    Raises:
        ModelLoadError: No recorded digest (an adapter nobody vouched for is never loaded), a malformed
            one, pickle-format weights in the folder, or files that do not match.
    """
    if not adapter.sha256:
        raise ModelLoadError(f"adapter {adapter.name}@{adapter.version} at {adapter.path} has no recorded sha256 and "
                             f"was not loaded: register it (decorum finetune does) or configure its sha256")
    if not _SHA256.fullmatch(adapter.sha256):
        raise ModelLoadError(f"adapter {adapter.name}@{adapter.version}: recorded sha256 {adapter.sha256!r} is not "
                             f"64 lower-case hex digits")
    digest = adapter_sha256(adapter.path)
    if digest != adapter.sha256:
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

    # peft reads adapter_model.safetensors when it exists (the digest requires it) and the folder has no
    # adapter_model.bin to fall back to (refused above).
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
