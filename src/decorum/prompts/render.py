"""Sandboxed rendering. The asker's text is a variable, never template code.

Jinja2's ``SandboxedEnvironment`` refuses attribute tricks (``''.__class__``) and ``StrictUndefined``
turns a misspelt variable into an error instead of an empty string.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from decorum.errors import TemplateInvalid, TemplateRenderError
from decorum.prompts.base import Template

MAX_TEMPLATE_CHARS = 20_000


@lru_cache(maxsize=1)
def _env() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@lru_cache(maxsize=256)
def _compile(source: str) -> Any:
    from jinja2 import TemplateSyntaxError

    try:
        return _env().from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateInvalid(f"template syntax error on line {exc.lineno}: {exc.message}") from exc


def render_text(source: str, variables: dict[str, Any]) -> str:
    """Render one template string with ``variables`` in the sandbox."""
    from jinja2 import UndefinedError
    from jinja2.exceptions import SecurityError

    template = _compile(source)
    try:
        return str(template.render(**variables)).strip()
    except UndefinedError as exc:
        raise TemplateRenderError(f"template uses an undefined variable: {exc.message}") from exc
    except SecurityError as exc:
        raise TemplateRenderError(f"template tried an unsafe operation: {exc}") from exc
    except Exception as exc:  # a template's own runtime error (e.g. division by zero)
        raise TemplateRenderError(f"template failed to render: {exc.__class__.__name__}: {exc}") from exc


def render_messages(template: Template, *, question: str, history: list[dict[str, str]] | None = None,
                    safer: bool = False, variables: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """Chat messages for the generator: system, earlier turns, then the rendered user turn."""
    values = {**template.defaults, **(variables or {}), "question": question}
    system_src = template.safer_system if safer and template.safer_system else template.system
    messages = [{"role": "system", "content": render_text(system_src, values)}]
    messages.extend({"role": m["role"], "content": m["content"]} for m in (history or []))
    messages.append({"role": "user", "content": render_text(template.user, values)})
    return messages


def template_variables(template: Template) -> set[str]:
    """The variables a template's system and user messages use."""
    from jinja2 import meta

    sources = (template.system, template.user)
    return set().union(*(meta.find_undeclared_variables(_env().parse(src)) for src in sources))


def validate(template: Template) -> None:
    """Refuse a template version that would fail at answer time. Used when a version is saved."""
    for field_name in ("system", "user", "safer_system"):
        source = getattr(template, field_name)
        if len(source) > MAX_TEMPLATE_CHARS:
            raise TemplateInvalid(f"{field_name} is {len(source)} characters; the limit is {MAX_TEMPLATE_CHARS}")
    from jinja2 import meta

    _compile(template.user)  # a syntax error is reported as such first
    if "question" not in meta.find_undeclared_variables(_env().parse(template.user)):
        raise TemplateInvalid("the user message must use the {{ question }} variable")
    try:
        render_messages(template, question="test question")
        if template.safer_system:
            render_messages(template, question="test question", safer=True)
    except TemplateRenderError as exc:
        raise TemplateInvalid(str(exc)) from exc
