"""The template model and the ``TemplateStore`` interface.

Example::

    store = SqlTemplateStore(db)
    tpl = store.get("helpdesk")              # the version labelled production
    tpl = store.get("helpdesk", version=3)   # an exact version
    messages = render_messages(tpl, question="How do I reset my VPN password?")
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from decorum.errors import UsageError

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
PRODUCTION = "production"


STRATEGIES = ("prompt_engineering", "fine_tuned")


@dataclass(frozen=True, slots=True)
class Template:
    """One immutable template version.

    ``system`` and ``user`` are Jinja2 text rendered in a sandbox; the asker's text only ever enters as
    the ``question`` variable. ``safer_system`` replaces ``system`` when an output failed its checks.
    ``variables`` declares the variables the text uses (``{"name", "type", "required", "max_length"}``),
    ``generation`` the settings it runs with, ``test_cases`` what ``prompts test`` checks.

    A version stored before these fields existed is ``legacy``: its content (and hash) is the original
    five fields, with the description kept beside it, so its recorded hash never changes.

    Example::

        Template(name="faq", version=0, system="You answer for {{ team }}.", defaults={"team": "IT"})
    """

    name: str
    version: int
    system: str
    user: str = "{{ question }}"
    safer_system: str = ""
    description: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)
    domain: str | None = None  # the fine-tuned domain this template serves, if any
    variables: list[dict[str, Any]] = field(default_factory=list)
    generation: dict[str, Any] = field(default_factory=dict)
    strategy: str = "prompt_engineering"
    adapter: str | None = None  # NAME[@VERSION] of the adapter a fine_tuned template runs with
    test_cases: list[dict[str, Any]] = field(default_factory=list)
    # "plain" ({{ var }} only) or "jinja" (sandboxed Jinja2, opted in). Files default to plain; versions
    # stored before the choice existed are jinja, and a jinja version's content (hash) has no syntax key.
    syntax: str = "jinja"
    legacy: bool = field(default=False, compare=False, repr=False)

    def body(self) -> dict[str, Any]:
        """The fields that make up the version's content (hashed, stored)."""
        old = {"system": self.system, "user": self.user, "safer_system": self.safer_system,
               "defaults": dict(sorted(self.defaults.items())), "domain": self.domain}
        if self.legacy:
            return old
        body = {**old, "description": self.description, "variables": list(self.variables),
                "generation": dict(sorted(self.generation.items())), "strategy": self.strategy,
                "adapter": self.adapter, "test_cases": list(self.test_cases)}
        if self.syntax != "jinja":  # so that every version saved before ``syntax`` keeps its hash
            body["syntax"] = self.syntax
        return body

    @property
    def sha256(self) -> str:
        return content_sha256(self.body())

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def content_sha256(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TemplateRef:
    """``NAME`` (the production version) or ``NAME@VERSION``."""

    name: str
    version: int | None = None

    @classmethod
    def parse(cls, spec: str) -> TemplateRef:
        name, sep, ver = spec.strip().partition("@")
        if not NAME_RE.match(name):
            raise UsageError(f"invalid template name {name!r}: use lower-case letters, digits, '-' and '_'")
        if not sep:
            return cls(name)
        if not ver.isdigit() or int(ver) < 1:
            raise UsageError(f"invalid template version {ver!r} in {spec!r}: expected NAME@N with N >= 1")
        return cls(name, int(ver))

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


class TemplateStore(Protocol):
    """Versions are added, never changed; a label points at one version."""

    def get(self, name: str, version: int | None = None, *, label: str = PRODUCTION) -> Template:
        """Return an exact version, or the version ``label`` points at. Unknown: ``TemplateNotFound``."""
        ...

    def names(self) -> list[str]: ...

    def add_version(self, template: Template, *, author: str, comment: str = "") -> Template: ...

    def set_label(self, name: str, version: int, label: str = PRODUCTION) -> int | None: ...
