"""Pseudonyms of the audit log: keyed hashes of user ids and texts with the audit key, and the key's rotation.

Example::

    p = Pseudonymiser.from_settings(None, data_dir)   # <data_dir>/audit.key, made once
    p.user("U123")                                   # "hmac:..."
    p.fingerprint("the question")                    # {"hmac_sha256": "...", "chars": 12}
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any

from decorum.errors import UsageError
from decorum.secrets_files import read_or_create_secret

RETIRED_KEYS = "audit-keys"


class Pseudonymiser:
    """Keyed hashes (HMAC-SHA256 with the audit key) of user ids and texts: stable per key, not reversible.

    Without the key nobody can confirm a guessed question against a note; with it, an auditor can::

        hmac.new(key, question.encode(), hashlib.sha256).hexdigest() == note["request"]["hmac_sha256"]

    Keys rotate (``decorum audit rotate-pseudonym-key``): the retired ones stay in ``<data_dir>/audit-keys/``
    so that a person's older records are still found (``audit subject``) and kept texts still match their
    notes; each note names the key that made its pseudonyms (``pseudonym_key``).
    """

    def __init__(self, key: bytes, *, retired: tuple[Pseudonymiser, ...] = ()) -> None:
        if len(key) < 16:
            raise UsageError("the audit key must be at least 16 bytes")
        self._key = key
        self.retired = retired

    @classmethod
    def load(cls, secret: str | None, data_dir: Path) -> Pseudonymiser | None:
        """Like ``from_settings`` but reading only: None when there is no key yet (nothing made)."""
        key_file = data_dir / "audit.key"
        if not secret and not key_file.is_file():
            return None
        retired_dir = data_dir / RETIRED_KEYS
        retired = tuple(cls(p.read_text(encoding="utf-8").strip().encode())
                        for p in sorted(retired_dir.glob("*.key"))) if retired_dir.is_dir() else ()
        key = secret or key_file.read_text(encoding="ascii").strip()
        return cls(key.encode(), retired=retired)

    @classmethod
    def from_settings(cls, secret: str | None, data_dir: Path) -> Pseudonymiser:
        """Use ``DECORUM_AUDIT_KEY`` or a key generated once into ``<data_dir>/audit.key`` (0600 from the start);
        the retired keys in ``<data_dir>/audit-keys/`` come along for lookups."""
        retired_dir = data_dir / RETIRED_KEYS
        retired = tuple(cls(p.read_text(encoding="utf-8").strip().encode())
                        for p in sorted(retired_dir.glob("*.key"))) if retired_dir.is_dir() else ()
        if secret:
            return cls(secret.encode(), retired=retired)
        key = read_or_create_secret(data_dir / "audit.key", lambda: secrets.token_hex(32))
        return cls(key.encode(), retired=retired)

    @property
    def key_id(self) -> str:
        """A short public name of the key (not a secret: a hash of it)."""
        return "k" + hashlib.sha256(b"decorum-pseudonym-key:" + self._key).hexdigest()[:11]

    def keys(self) -> tuple[Pseudonymiser, ...]:
        """This key first, then the retired ones."""
        return (self, *self.retired)

    def for_key(self, key_id: str | None) -> Pseudonymiser | None:
        """The key (current or retired) named ``key_id``; notes without one were made by the current or oldest."""
        return next((k for k in self.keys() if k.key_id == key_id), None)

    def user(self, user_id: str) -> str:
        digest = hmac.new(self._key, user_id.encode(), hashlib.sha256).hexdigest()
        return f"hmac:{digest[:32]}"

    def fingerprint(self, text: str) -> dict[str, Any]:
        """What a note keeps of a question or answer: its keyed hash and length, never the text."""
        digest = hmac.new(self._key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        return {"hmac_sha256": digest, "chars": len(text)}

    @staticmethod
    def rotate(secret: str | None, data_dir: Path) -> tuple[str, str]:
        """Retire ``<data_dir>/audit.key`` into ``audit-keys/`` and make a new one; (old id, new id).

        Processes read the key at start: restart them to use the new one. A key given as ``DECORUM_AUDIT_KEY``
        is rotated by whoever set it (refused here).
        """
        if secret:
            raise UsageError("the pseudonym key comes from DECORUM_AUDIT_KEY: rotate it there, and keep the old "
                             f"value in {data_dir / RETIRED_KEYS}/<name>.key (0600) so older records stay findable")
        current = data_dir / "audit.key"
        old = Pseudonymiser.from_settings(None, data_dir)
        retired_dir = data_dir / RETIRED_KEYS
        retired_dir.mkdir(mode=0o700, exist_ok=True)
        target = retired_dir / f"{old.key_id}.key"
        read_or_create_secret(target, lambda: current.read_text(encoding="utf-8"))
        if target.read_text(encoding="utf-8").strip().encode() != old._key:
            raise UsageError(f"{target} exists with another key; nothing rotated")
        current.unlink()
        new = Pseudonymiser.from_settings(None, data_dir)
        return old.key_id, new.key_id

