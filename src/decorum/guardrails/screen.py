"""A cheap first reader for long texts: which parts the full classifier must read.

A 4,000-character message is about 100 parts (:mod:`decorum.guardrails.windows`), and the full classifier costs a
few milliseconds per part. The screen is a logistic regression over the WordPiece tokens and token pairs of a
part (the main classifier's own uncased vocabulary), distilled from the main classifier's toxicity score on its
training texts and their sentences (``decorum guardrails screen``). It costs microseconds per part.

The full classifier still reads, for every long text:

* every part whose screen score reaches the screen's threshold (set so that the screen passes on nearly every
  part the full classifier would score at or above a fraction of the check's threshold: the card says how many);
* the ``top_k`` parts the screen ranks worst, so the note always holds a score of the full model;
* every part that names a group (the bias check reads those, and they are few).

A part the screen clears is not scored; the text's score is the worst of the parts the full model read. Short
texts (one part) never meet the screen.

Example::

    screen = PartScreen.load()
    screen.scores(["Thanks for the update.", "I will find you and hurt you."])   # [-5.1, 1.9]: logits
    screen.must_read(parts, top_k=4)   # indices of the parts the full model reads
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from decorum.guardrails.classifier import ArtifactIntegrityError, base_model_dir

logger = logging.getLogger(__name__)

SCREEN_ARTIFACT = Path(__file__).resolve().parent / "models" / "screen"
BUCKETS = 1 << 18  # hashed token pairs
_MIX = 1_000_003


def feature_ids(token_ids: Sequence[int], vocab_size: int) -> np.ndarray:
    """The distinct features of one part: its token ids and hashed pairs of neighbouring tokens."""
    ids = np.asarray(token_ids, dtype=np.int64)
    pairs = vocab_size + (ids[:-1] * _MIX + ids[1:]) % BUCKETS if len(ids) > 1 else np.empty(0, np.int64)
    return np.unique(np.concatenate([ids, pairs]))


def screen_tokenizer() -> Any:
    """The main classifier's uncased WordPiece tokenizer, reading whole parts: its file pads and truncates to 128
    tokens for the classifier, which the screen turns off."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(base_model_dir() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def encode(tokenizer: Any, texts: Sequence[str]) -> list[np.ndarray]:
    """The :func:`feature_ids` of each text."""
    vocab_size = int(tokenizer.get_vocab_size())
    return [feature_ids(e.ids, vocab_size) for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]


class PartScreen:
    """The screen: weights over token and token-pair features, a bias, and the threshold it was tuned for."""

    def __init__(self, weights: np.ndarray, bias: float, threshold: float, tokenizer: Any, *,
                 name: str = "screen", revision: str = "", model_revision: str = "") -> None:
        self.weights = weights
        self.bias = float(bias)
        self.threshold = float(threshold)  # a logit
        self.tokenizer = tokenizer
        self.vocab_size = int(tokenizer.get_vocab_size())
        self.name = name
        self.revision = revision
        self.model_revision = model_revision  # the main classifier it was distilled from

    @classmethod
    def load(cls, artifact: Path = SCREEN_ARTIFACT) -> PartScreen:
        """Load a screen folder (``manifest.json`` and ``weights.npy``, checked against the manifest's SHA-256).

        Raises:
            ArtifactIntegrityError: If a file is missing, altered, or of the wrong shape.
        """
        try:
            manifest = json.loads((artifact / "manifest.json").read_text(encoding="utf-8"))
            raw = (artifact / "weights.npy").read_bytes()
        except (OSError, ValueError) as exc:
            raise ArtifactIntegrityError(f"screen artifact {artifact} is unreadable: {exc}") from exc
        digest = hashlib.sha256(raw).hexdigest()
        if digest != manifest.get("weights_sha256"):
            raise ArtifactIntegrityError(f"screen weights in {artifact} do not match the manifest's SHA-256")
        weights = np.load(io.BytesIO(raw), allow_pickle=False).astype(np.float32)
        tokenizer = screen_tokenizer()
        expected = tokenizer.get_vocab_size() + BUCKETS
        if weights.shape != (expected,):
            raise ArtifactIntegrityError(f"screen weights have shape {weights.shape}, expected ({expected},)")
        return cls(weights, manifest["bias"], manifest["threshold_logit"], tokenizer,
                   name=manifest.get("name", "screen"), revision=digest[:12],
                   model_revision=str(manifest.get("model_revision", "")))

    def scores(self, texts: Sequence[str]) -> list[float]:
        """The screen's logit per text (higher: more likely the full classifier scores it high)."""
        if not texts:
            return []
        return [self.bias + float(self.weights[ids].sum()) for ids in encode(self.tokenizer, texts)]

    def must_read(self, texts: Sequence[str], *, top_k: int) -> set[int]:
        """Indices of the texts the full classifier must read: at or above the threshold, and the ``top_k`` worst."""
        logits = self.scores(texts)
        ranked = sorted(range(len(texts)), key=lambda i: -logits[i])
        return set(ranked[:top_k]) | {i for i, z in enumerate(logits) if z >= self.threshold}


_loaded: dict[Path, PartScreen] = {}
_lock = threading.Lock()


def screen_for(classifier: Any, artifact: Path | None = None) -> PartScreen | None:
    """The screen for ``classifier``, or None where it does not apply: a screen was distilled from one main model
    (its manifest's ``model_revision``) and says nothing about another (another artifact, an official detoxify
    model, a test's fake), so those read every part. Loaded once per process and artifact."""
    path = (artifact or SCREEN_ARTIFACT).resolve()
    with _lock:
        screen = _loaded.get(path)
        if screen is None:
            if artifact is None and not (path / "manifest.json").exists():
                logger.warning("no part screen at %s: long texts are read part by part in full", path)
                return None
            screen = _loaded[path] = PartScreen.load(path)
    main = getattr(classifier, "main", classifier)
    if getattr(main, "revision", None) != screen.model_revision:
        logger.info("part screen %s was distilled from %s, not %s: long texts are read in full", screen.revision,
                    screen.model_revision, getattr(main, "revision", "?"))
        return None
    return screen
