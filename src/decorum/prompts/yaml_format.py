"""The template file format: what ``prompts create|edit|import`` read and ``prompts export|diff`` write.

A file holds one template. Content fields (hashed into the version): ``description``, ``syntax``
(``plain``, the default: only ``{{ variable }}``; ``jinja``: sandboxed Jinja2, opted in), ``system``, ``user``,
``safer_system``, ``variables`` (``[{name, type: string|int|bool, required, max_length}]``), ``defaults``,
``generation`` (``{max_tokens, temperature}`` and the settings against repetition: ``repetition_penalty``,
``no_repeat_ngram_size`` for local engines, ``frequency_penalty``, ``presence_penalty`` for an OpenAI-compatible
server; those not given keep the engine's own, ``models.generator``), ``strategy`` (``prompt_engineering`` or
``fine_tuned`` with ``domain`` and optionally ``adapter``), ``test_cases`` (``[{question, expect: {must_contain,
must_not_contain, max_chars, guardrails_pass, strategy}}]``). ``name`` must match the command's NAME.
Export adds read-only facts that import and edit ignore as content: ``version``, ``sha256``, ``author``,
``created_at``, ``message``, ``labels`` (``{label: {version: N, sha256: ...}}``; see ``registry``).
Unknown keys, YAML aliases, binary or oversized files are refused with the field or reason named; so are
duplicate keys and control characters (``decorum.prompts.strict_yaml``, re-exported here as
``load_strict_yaml``), with the line, column and key.

Example::

    tpl, meta = load_template_file(Path("faq.yaml"))
    text = dump_template(tpl)          # the same YAML back (block style for multi-line text)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from decorum.errors import TemplateInvalid
from decorum.prompts.base import Template
from decorum.prompts.strict_yaml import StrictYamlError, load_strict_yaml

__all__ = ["CONTENT_FIELDS", "MAX_FILE_BYTES", "META_FIELDS", "StrictYamlError", "TemplateFile", "dump_template",
           "dump_yaml", "load_strict_yaml", "load_template_file", "parse_yaml", "read_yaml_file",
           "template_document", "template_from_data"]

MAX_FILE_BYTES = 256 * 1024
CONTENT_FIELDS = ("description", "syntax", "system", "user", "safer_system", "variables", "defaults", "generation",
                  "strategy", "domain", "adapter", "test_cases")
META_FIELDS = ("version", "sha256", "author", "created_at", "message", "labels")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VariableSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    type: Literal["string", "int", "bool"] = "string"
    required: bool = False
    max_length: int | None = Field(default=None, ge=1, le=100_000)


class GenerationSpec(_Strict):
    max_tokens: int | None = Field(default=None, ge=1, le=8192)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    # Against repetition (decorum.adapters.base.Decoding); unset: the engine's own settings (models.generator).
    repetition_penalty: float | None = Field(default=None, ge=1.0, le=2.0)  # local engines; 1.0 = off
    no_repeat_ngram_size: int | None = Field(default=None, ge=0, le=16)  # local engines; 0 = off
    frequency_penalty: float | None = Field(default=None, ge=0.0, le=2.0)  # OpenAI-compatible servers
    presence_penalty: float | None = Field(default=None, ge=0.0, le=2.0)  # OpenAI-compatible servers


class Expect(_Strict):
    must_contain: list[str] = Field(default_factory=list, max_length=50)
    must_not_contain: list[str] = Field(default_factory=list, max_length=50)
    max_chars: int | None = Field(default=None, ge=1)
    guardrails_pass: bool | None = None
    strategy: Literal["prompt_engineering", "fine_tuned"] | None = None


class TestCase(_Strict):
    question: str = Field(min_length=1, max_length=4000)
    expect: Expect = Expect()


class LabelRef(_Strict):
    version: int = Field(ge=1)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class TemplateFile(_Strict):
    name: str | None = None
    description: str = Field(default="", max_length=500)
    syntax: Literal["plain", "jinja"] = "plain"  # jinja: opt in to sandboxed Jinja2 (if/for)
    system: str
    user: str = "{{ question }}"
    safer_system: str = ""
    variables: list[VariableSpec] = Field(default_factory=list, max_length=50)
    defaults: dict[str, StrictBool | StrictInt | StrictStr] = Field(default_factory=dict, max_length=50)
    generation: GenerationSpec = GenerationSpec()
    strategy: Literal["prompt_engineering", "fine_tuned"] = "prompt_engineering"
    domain: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    adapter: str | None = Field(default=None, max_length=100)
    test_cases: list[TestCase] = Field(default_factory=list, max_length=100)
    # export's facts, not content
    version: int | None = None
    sha256: str | None = None
    author: str | None = None
    created_at: str | None = None
    message: str | None = None
    labels: dict[str, LabelRef | int] = Field(default_factory=dict)


def read_yaml_file(path: Path) -> Any:
    """Parse a template file: missing, oversized, binary, aliased, malformed or strict-YAML-refused files are
    ``TemplateInvalid``."""
    if not path.is_file():
        raise TemplateInvalid(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise TemplateInvalid(f"{path.name}: {size:,} bytes; a template file may have at most {MAX_FILE_BYTES:,}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateInvalid(f"{path.name}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})") \
            from exc
    return parse_yaml(text, path.name)  # NUL bytes and other control characters: refused naming the line


def parse_yaml(text: str, source: str) -> Any:
    """YAML text to data through ``load_strict_yaml``: duplicate keys, control characters, aliases ... are
    ``TemplateInvalid`` naming the line, the column and the key (``faq.yaml: line 3, column 1: system: ...``)."""
    try:
        return load_strict_yaml(text)
    except StrictYamlError as exc:
        raise TemplateInvalid(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        if isinstance(exc, yaml.reader.ReaderError):  # a character YAML cannot hold (U+FFFE, a lone surrogate)
            line_start = text.rfind("\n", 0, exc.position) + 1
            where = f" at line {text.count(chr(10), 0, exc.position) + 1}, column {exc.position - line_start + 1}"
            problem = f"U+{exc.character:04X} is not allowed in YAML" if isinstance(exc.character, int) else problem
        raise TemplateInvalid(f"{source}: not valid YAML{where}: {problem}") from exc


def template_from_data(data: Any, source: str, *, name: str | None = None) -> tuple[Template, TemplateFile]:
    """A ``Template`` (version 0, not stored) and the parsed file from loaded YAML data."""
    if not isinstance(data, dict):
        raise TemplateInvalid(f"{source}: expected a mapping of template fields, got {type(data).__name__}")
    try:
        spec = TemplateFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(file)"
        msg = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise TemplateInvalid(f"{source}: {where}: {msg}{more}") from exc
    tpl_name = spec.name or name
    if name is not None and spec.name is not None and spec.name != name:
        raise TemplateInvalid(f"{source}: name: the file names {spec.name!r}, the command {name!r}")
    if tpl_name is None:
        raise TemplateInvalid(f"{source}: name: missing")
    tpl = Template(
        name=tpl_name, version=0, syntax=spec.syntax, system=spec.system, user=spec.user,
        safer_system=spec.safer_system,
        description=spec.description, defaults=dict(spec.defaults), domain=spec.domain,
        variables=[v.model_dump() for v in spec.variables],
        generation=spec.generation.model_dump(exclude_none=True), strategy=spec.strategy, adapter=spec.adapter,
        test_cases=[t.model_dump() for t in spec.test_cases],
    )
    return tpl, spec


def load_template_file(path: Path, *, name: str | None = None) -> tuple[Template, TemplateFile]:
    """Read, parse and check one template file (``name``: the command's NAME, when it names one)."""
    return template_from_data(read_yaml_file(path), path.name, name=name)


class _Dumper(yaml.SafeDumper):
    """Block style (``|``) for multi-line strings, so diffs and files read line by line."""


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_presenter)


def template_document(tpl: Template, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The file form of ``tpl``: name, then the content fields in a fixed order, then ``meta``."""
    doc: dict[str, Any] = {"name": tpl.name}
    for key in CONTENT_FIELDS:
        value = tpl.description if key == "description" else tpl.body().get(key, getattr(tpl, key))
        if key == "syntax":
            value = tpl.syntax
        doc[key] = value
    return {**doc, **(meta or {})}


def dump_yaml(doc: dict[str, Any]) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


def dump_template(tpl: Template, meta: dict[str, Any] | None = None) -> str:
    """``tpl`` as the YAML text of a template file."""
    return dump_yaml(template_document(tpl, meta))
