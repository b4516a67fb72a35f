"""A knowledge entry and its file formats (YAML through the strict loader; JSON lines for bulk files).

An entry is one short article of a domain's knowledge: ``id`` (a slug, stable across versions), ``title``,
``body`` (the text retrieval puts in the prompt and the grounding check compares answers with), ``domain``
(the fine-tuned domain whose answers it grounds, e.g. ``helpdesk``) and ``topic`` (free, e.g. ``hr``).

Files: ``decorum knowledge add|edit --file F`` read one entry (YAML mapping, or a JSON object); ``import``
reads a YAML list (``entries: [...]``) or JSON lines (``{"id", "title", "fact"|"body", "topic"?}``, the
package's ``facts.jsonl``); ``export`` writes YAML with each entry's published version and hash.

Example::

    entry = entry_from_mapping({"id": "hr-annual-leave", "title": "Annual leave", "body": "..."})
    entry.sha256        # content hash over title, body, domain and topic
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from decorum.errors import UsageError

ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_TITLE = 160
MAX_BODY = 4000
MAX_TOPIC = 64
MAX_FILE_BYTES = 5 * 1024 * 1024
DEFAULT_DOMAIN = "helpdesk"
ENTRY_KEYS = {"id", "title", "body", "fact", "domain", "topic", "message"}
# export's facts about an entry: read back by import for nothing but the id match
EXPORT_KEYS = {"version", "sha256", "published", "author", "created_at"}


class KnowledgeInvalid(UsageError):
    """An entry or knowledge file that cannot be saved (named field and reason)."""


@dataclass(frozen=True)
class Entry:
    """One version of a knowledge entry (``version`` 0: not stored yet)."""

    id: str
    title: str
    body: str
    domain: str = DEFAULT_DOMAIN
    topic: str = ""
    version: int = 0
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def content(self) -> dict[str, str]:
        return {"title": self.title, "body": self.body, "domain": self.domain, "topic": self.topic}

    @property
    def sha256(self) -> str:
        canonical = json.dumps(self.content(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @property
    def ref(self) -> str:
        return f"{self.id} v{self.version}" if self.version else self.id

    def text(self) -> str:
        """What retrieval embeds and the prompt carries: ``title: body``."""
        return f"{self.title}: {self.body}"


def _clean(value: Any, key: str, limit: int, *, required: bool, where: str) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise KnowledgeInvalid(f"{where}{key}: expected text, got {type(value).__name__}")
    value = value.strip()
    if required and not value:
        raise KnowledgeInvalid(f"{where}{key}: required and empty")
    if len(value) > limit:
        raise KnowledgeInvalid(f"{where}{key}: {len(value)} characters; the limit is {limit}")
    bad = next((c for c in value if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0
                or 0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069), None)
    if bad is not None:
        raise KnowledgeInvalid(f"{where}{key}: control or bidi-override character U+{ord(bad):04X} refused")
    return value


def check_id(value: Any, where: str = "") -> str:
    if not isinstance(value, str) or not ID_RE.match(value):
        raise KnowledgeInvalid(f"{where}id: {value!r} is not an entry id (lower-case letters, digits and '-', "
                               f"1-64, starting with a letter or digit)")
    return value


def entry_from_mapping(row: Any, *, where: str = "", entry_id: str | None = None) -> tuple[Entry, str]:
    """An entry from a file's mapping (``fact`` is read as ``body``); returns it with the change message."""
    if not isinstance(row, dict):
        raise KnowledgeInvalid(f"{where}expected a mapping with id, title and body")
    unknown = sorted(set(row) - ENTRY_KEYS - EXPORT_KEYS)
    if unknown:
        raise KnowledgeInvalid(f"{where}unknown key(s) {', '.join(map(repr, unknown))}; an entry has "
                               f"{', '.join(sorted(ENTRY_KEYS - {'fact'}))}")
    if "body" in row and "fact" in row:
        raise KnowledgeInvalid(f"{where}give body or fact, not both")
    eid = check_id(row.get("id", entry_id), where)
    if entry_id is not None and eid != entry_id:
        raise KnowledgeInvalid(f"{where}id: the file says {eid!r}, the command names {entry_id!r}")
    body = row.get("body", row.get("fact"))
    entry = Entry(id=eid,
                  title=_clean(row.get("title"), "title", MAX_TITLE, required=True, where=where),
                  body=_clean(body, "body", MAX_BODY, required=True, where=where),
                  domain=_clean(row.get("domain") or DEFAULT_DOMAIN, "domain", MAX_TOPIC, required=True, where=where),
                  topic=_clean(row.get("topic"), "topic", MAX_TOPIC, required=False, where=where))
    if not ID_RE.match(entry.domain):
        raise KnowledgeInvalid(f"{where}domain: {entry.domain!r} is not a domain name")
    message = _clean(row.get("message"), "message", 1000, required=False, where=where)
    return entry, message


def _read(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise KnowledgeInvalid(f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if b"\x00" in raw:
        raise KnowledgeInvalid(f"{path}: binary content (NUL bytes); expected YAML or JSON text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KnowledgeInvalid(f"{path}: not UTF-8 (byte {exc.start})") from exc


def parse_document(text: str, source: str) -> Any:
    """A YAML or JSON document through the strict loader (JSON is YAML), naming line and column."""
    import yaml

    from decorum.prompts.strict_yaml import StrictYamlError, load_strict_yaml

    if not text.strip():
        raise KnowledgeInvalid(f"{source}: empty")
    try:
        return load_strict_yaml(text)
    except StrictYamlError as exc:
        raise KnowledgeInvalid(f"{source}: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise KnowledgeInvalid(f"{source}: malformed YAML/JSON{at}: {getattr(exc, 'problem', None) or exc}") from exc


def load_entry_file(path: Path, *, entry_id: str | None = None) -> tuple[Entry, str]:
    """One entry from a YAML (or JSON) file."""
    return entry_from_mapping(parse_document(_read(path), str(path)), where=f"{path}: ", entry_id=entry_id)


def load_entries_file(path: Path) -> list[tuple[Entry, str]]:
    """Every entry of an import file: JSON lines (``*.jsonl``) or YAML ``{entries: [...]}`` / a YAML list."""
    text = _read(path)
    rows: list[Any] = []
    if path.suffix == ".jsonl":
        for n, line in enumerate(text.split("\n"), 1):
            if line.strip():
                rows.append((f"{path}:{n}: ", parse_document(line, f"{path}:{n}")))
    else:
        doc = parse_document(text, str(path))
        items = doc.get("entries") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            raise KnowledgeInvalid(f"{path}: expected a list of entries (or a mapping with 'entries: [...]')")
        rows = [(f"{path}: entries[{i}]: ", item) for i, item in enumerate(items)]
    if not rows:
        raise KnowledgeInvalid(f"{path}: no entries")
    entries = [entry_from_mapping(row, where=where) for where, row in rows]
    seen: set[str] = set()
    for entry, _ in entries:
        if entry.id in seen:
            raise KnowledgeInvalid(f"{path}: entry {entry.id!r} appears twice")
        seen.add(entry.id)
    return entries


def entry_document(entry: Entry, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": entry.id, "title": entry.title, "domain": entry.domain}
    if entry.topic:
        doc["topic"] = entry.topic
    doc["body"] = entry.body
    doc.update(meta or {})
    return doc


def dump_entry(entry: Entry) -> str:
    from decorum.prompts.yaml_format import dump_yaml

    return dump_yaml(entry_document(entry))
