"""Rendering, bounded in time and size. The asker's text is a variable, never template code.

Two syntaxes (a template's ``syntax``). ``plain``, the default for new templates: logic-less ``{{ name }}``
substitution and nothing else (no tags, filters, expressions or comments; anything else is refused at save
time), done in one pass, so a value that itself contains ``{{ ... }}`` stays text. ``jinja``, by opting in:
Jinja2 in a sandbox, bounded as below. Versions saved before the choice existed are ``jinja``.

Jinja2's ``SandboxedEnvironment`` refuses attribute tricks (``''.__class__``) and ``StrictUndefined``
turns a misspelt variable into an error instead of an empty string. The sandbox alone bounds neither time
nor memory (``{{ ('a'*10**8)|length }}`` builds 100 MB, two nested ``range(2000)`` loops run four million
times), so rendering here also keeps a budget (``RenderLimits``):

- time: every loop step, call, filter and operator checks the wall clock; past ``timeout_s`` it stops.
- size: no value a template builds may be larger than ``max_output_chars`` (estimated before the work for
  the operations that multiply size: ``*``, ``**``, ``%``, ``|join``, ``|replace``, ``|indent``,
  ``|wordwrap``, ``|format``; checked after it for the rest), the characters a template produces (captured
  blocks and macros included) stay under four times that, and the rendered text under ``max_output_chars``.
- str methods are limited to ones that cannot grow a string (``format``, ``center``, ``join`` ... are
  refused: their filters are bounded instead), and the ``lipsum`` global is gone.

Both limits raise ``TemplateRenderError``; at save time (``validate``) the template is ``TemplateInvalid``.
Saving checks against ``DEFAULT_RENDER_LIMITS``; the pipeline renders with the configured ``limits.template_*``
(off the event loop). This bounds a template's cost; it is no process sandbox (no memory limit of the OS).

Example::

    render_text("Hi {{ name }}", {"name": "Ada"})                      # 'Hi Ada'
    render_text(src, values, RenderLimits(timeout_s=0.2, max_output_chars=20_000))
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from contextvars import ContextVar
from dataclasses import dataclass, replace
from functools import lru_cache, wraps
from typing import Any

from decorum.errors import TemplateInvalid, TemplateRenderError
from decorum.prompts.base import Template

MAX_TEMPLATE_CHARS = 20_000
MAX_INT_BITS = 16_384  # about 4,900 digits; Python itself refuses to print ints over 4,300 digits
PRODUCED_FACTOR = 4  # characters produced (captured blocks, macro bodies) may reach this many times the cap


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """How long one template message may take to render, and how large it (and any value in it) may be."""

    timeout_s: float = 0.5
    max_output_chars: int = 100_000


DEFAULT_RENDER_LIMITS = RenderLimits()

# str methods a template may call: none of them returns more than it was given.
_STR_METHODS = frozenset({
    "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha", "isascii", "isdecimal",
    "isdigit", "isidentifier", "islower", "isnumeric", "isprintable", "isspace", "istitle", "isupper", "lower",
    "lstrip", "partition", "removeprefix", "removesuffix", "rfind", "rindex", "rpartition", "rsplit", "rstrip",
    "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper",
})
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?[a-zA-Z%]")
_ITER_FILTER = "decorum_bounded_iter"
_SIZED_FILTER = "decorum_bounded_value"


class _Budget:
    """One render's allowance: a deadline and the characters produced so far."""

    __slots__ = ("deadline", "limits", "produced")

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.deadline = time.perf_counter() + limits.timeout_s
        self.produced = 0

    def tick(self) -> None:
        if time.perf_counter() > self.deadline:
            raise TemplateRenderError(f"template rendering took longer than {self.limits.timeout_s:g} s "
                                      f"(too many loop steps or calls)")

    def size(self, value: Any, what: str = "a value") -> None:
        """Refuse ``value`` (already built) when it is over the cap."""
        _refuse_if_large(_size(value, self.limits.max_output_chars), self.limits.max_output_chars, what)

    def emit(self, chars: int) -> None:
        self.tick()
        self.produced += chars
        cap = self.limits.max_output_chars * PRODUCED_FACTOR
        if self.produced > cap:
            raise TemplateRenderError(f"template produces more than {cap:,} characters")


_BUDGET: ContextVar[_Budget | None] = ContextVar("decorum_render_budget", default=None)


class _NoBudget(RuntimeError):
    """A guarded operation ran outside ``render_text`` (Jinja tries constant folding at compile time)."""


def _active() -> _Budget:
    budget = _BUDGET.get()
    if budget is None:
        raise _NoBudget("template code runs only inside render_text")
    return budget


def _refuse_if_large(size: int, cap: int, what: str) -> None:
    if size > cap:
        raise TemplateRenderError(f"template builds {what} larger than {cap:,} characters")


def _size(value: Any, limit: int) -> int:
    """About how many characters ``str(value)`` has, counting to a little past ``limit`` at most (cheap)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 5
    if isinstance(value, int):
        return value.bit_length() // 3 + 1
    if isinstance(value, float | complex):
        return 24
    if isinstance(value, range):
        return 20  # prints as ``range(0, 100000)``; iterating one is what the clock bounds
    if not isinstance(value, list | tuple | set | frozenset | dict):
        return 1  # other objects (undefined, namespaces, macros) print short or not at all
    total = 0
    stack: list[Iterator[Any]] = [iter(value.items() if isinstance(value, dict) else value)]
    while stack:
        try:
            item = next(stack[-1])
        except StopIteration:
            stack.pop()
            total += 2
            continue
        if isinstance(item, list | tuple | set | frozenset | dict):
            stack.append(iter(item.items() if isinstance(item, dict) else item))
        else:
            total += _size(item, limit) + 2
        if total > limit:
            return total
    return total


def _check_args(budget: _Budget, args: Iterable[Any], *, counts: Iterable[Any] = ()) -> None:
    """Every argument within the size cap; ``counts`` (a filter's widths, batch sizes ...) within it as numbers."""
    cap = budget.limits.max_output_chars
    for arg in counts:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > cap:
            raise TemplateRenderError(f"template passes a number over {cap:,} to a filter")
    for arg in args:
        _refuse_if_large(_size(arg, cap), cap, "an argument")


def _materialize(value: Any, budget: _Budget) -> Any:
    """A generator (``|map``, ``|select`` ...) as a list, refused once it grows over the cap."""
    if not isinstance(value, Iterator):
        return value
    cap = budget.limits.max_output_chars
    out, size = [], 0
    for item in value:
        budget.tick()
        size += _size(item, cap) + 2
        _refuse_if_large(size, cap, "a sequence")
        out.append(item)
    return out


def _check_mul(left: Any, right: Any, cap: int) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise TemplateRenderError(f"template builds a number over {MAX_INT_BITS:,} bits")
        return
    for seq, n in ((left, right), (right, left)):
        if isinstance(n, int) and isinstance(seq, str | list | tuple) and n > 0:
            _refuse_if_large(_size(seq, cap) * n, cap, "a value")


def _check_pow(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        if left.bit_length() * right > MAX_INT_BITS:
            raise TemplateRenderError(f"template builds a number over {MAX_INT_BITS:,} bits")


def _check_percent(fmt: Any, values: Any, cap: int) -> None:
    """``fmt % values``: the format's own length, its widths and precisions, and the values' sizes."""
    if not isinstance(fmt, str):
        return
    size = len(fmt) + _size(values, cap)
    star = False
    for m in _PERCENT_SPEC.finditer(fmt):
        for part in m.groups():
            if part == "*":
                star = True
            elif part:
                size += int(part)
    if star:
        items = values if isinstance(values, tuple | list) else (values,)
        size += sum(abs(v) for v in items if isinstance(v, int) and not isinstance(v, bool))
    _refuse_if_large(size, cap, "a formatted string")


def _str(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


# Filters that can return much more than they are given: an estimate of the result before it is built.
def _pre_join(cap: int, value: Any, d: Any = "", *_: Any, **__: Any) -> None:
    if isinstance(value, Sized):
        _refuse_if_large(_size(value, cap) + len(value) * len(_str(d)), cap, "a joined string")


def _pre_replace(cap: int, value: Any, old: Any = "", new: Any = "", count: Any = None, **__: Any) -> None:
    s, old, new = _str(value), _str(old), _str(new)
    hits = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    _refuse_if_large(len(s) + hits * max(0, len(new) - len(old)), cap, "a replaced string")


def _pre_indent(cap: int, value: Any, width: Any = 4, *_: Any, **__: Any) -> None:
    s = _str(value)
    w = width if isinstance(width, int) else len(_str(width))
    _refuse_if_large(len(s) + (s.count("\n") + 1) * max(0, w), cap, "an indented string")


def _pre_wordwrap(cap: int, value: Any, width: Any = 79, break_long_words: Any = True, wrapstring: Any = None,
                  *_: Any, **__: Any) -> None:
    s = _str(value)
    lines = 2 * len(s) // max(1, width if isinstance(width, int) else 1) + s.count("\n") + 1
    _refuse_if_large(len(s) + lines * len(_str(wrapstring or "\n")), cap, "a wrapped string")


def _pre_format(cap: int, value: Any, *args: Any, **kwargs: Any) -> None:
    _check_percent(value, kwargs or args, cap)


_PRECHECKS: dict[str, Callable[..., None]] = {
    "join": _pre_join, "replace": _pre_replace, "indent": _pre_indent, "wordwrap": _pre_wordwrap,
    "format": _pre_format,
}


def _guard_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with the budget: time, materialized generators, size estimates before, size checks after."""
    skip = 1 if getattr(fn, "jinja_pass_arg", None) is not None else 0  # context/environment comes first
    pre = _PRECHECKS.get(name)

    @wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = _active()
        budget.tick()
        head, values = args[:skip], [_materialize(a, budget) for a in args[skip:]]
        kwargs = {k: _materialize(v, budget) for k, v in kwargs.items()}
        _check_args(budget, [*values, *kwargs.values()], counts=[*values[1:], *kwargs.values()])
        if pre is not None:
            pre(budget.limits.max_output_chars, *values, **kwargs)
        result = fn(*head, *values, **kwargs)
        budget.size(result, f"a value (filter {name})")
        return result

    return guarded


def _bounded_iter(value: Any) -> Iterator[Any]:
    """What every ``{% for %}`` iterates: the budget's clock is checked at each step."""
    budget = _active()  # here, not in the generator: outside a render (constant folding) this must raise

    def steps() -> Iterator[Any]:
        for item in value:
            budget.tick()
            yield item

    return steps()


def _bounded_value(value: Any) -> Any:
    """What ``~`` and list, tuple and dict literals build, checked against the size cap."""
    _active().size(value)
    return value


@lru_cache(maxsize=1)
def _env() -> Any:
    from jinja2 import StrictUndefined, nodes
    from jinja2.compiler import CodeGenerator, Frame
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.utils import pass_context
    from jinja2.visitor import NodeTransformer

    def wrap(node: Any, name: str) -> Any:
        return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)

    class Bound(NodeTransformer):
        """Routes loops, concatenation and literals through the budget's filters."""

        def visit_For(self, node: Any) -> Any:
            node = self.generic_visit(node)
            node.iter = wrap(node.iter, _ITER_FILTER)
            return node

        def visit_Concat(self, node: Any) -> Any:
            return wrap(self.generic_visit(node), _SIZED_FILTER)

        visit_List = visit_Dict = visit_Concat

        def visit_Tuple(self, node: Any) -> Any:
            node = self.generic_visit(node)
            return wrap(node, _SIZED_FILTER) if node.ctx == "load" else node

    class CountingCodeGenerator(CodeGenerator):
        """Counts literal template text as it is produced (expressions are counted by ``finalize``)."""

        def visit_Output(self, node: Any, frame: Frame) -> None:
            literal = sum(len(c.data) for c in node.nodes if isinstance(c, nodes.TemplateData))
            if literal:
                self.writeline(f"environment.decorum_emit({literal})")
            super().visit_Output(node, frame)

    @pass_context
    def finalize(_context: Any, value: Any) -> Any:
        budget = _active()
        budget.emit(_size(value, budget.limits.max_output_chars))
        return value

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
        code_generator_class = CountingCodeGenerator

        def __init__(self) -> None:
            super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False,
                             finalize=finalize)
            self.globals.pop("lipsum", None)
            self.filters = {name: _guard_filter(name, fn) for name, fn in self.filters.items()}
            self.filters[_ITER_FILTER] = _bounded_iter
            self.filters[_SIZED_FILTER] = _bounded_value

        def _parse(self, source: str, name: str | None, filename: str | None) -> Any:
            return Bound().visit(super()._parse(source, name, filename))

        def decorum_emit(self, chars: int) -> None:
            _active().emit(chars)

        def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
            if isinstance(obj, str) and attr not in _STR_METHODS:
                return False
            return bool(super().is_safe_attribute(obj, attr, value))

        def wrap_str_format(self, value: Any) -> None:
            return None  # str.format is refused (is_safe_attribute); the |format filter is bounded

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            budget = _active()
            budget.tick()
            cap = budget.limits.max_output_chars
            if operator == "*":
                _check_mul(left, right, cap)
            elif operator == "**":
                _check_pow(left, right)
            elif operator == "%":
                _check_percent(left, right, cap)
            result = self.binop_table[operator](left, right)
            if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
                raise TemplateRenderError(f"template builds a number over {MAX_INT_BITS:,} bits")
            budget.size(result)
            return result

        def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            budget = _active()
            budget.tick()
            _check_args(budget, [*args, *kwargs.values()])
            result = super().call(context, obj, *args, **kwargs)
            budget.size(result, "a value (call)")
            return result

    return BoundedSandbox()


_PLAIN_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_PLAIN_OTHER = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
SYNTAXES = ("plain", "jinja")


def check_plain(field_name: str, source: str) -> None:
    """Refuse anything in a plain template but ``{{ variable }}``, naming the line and what was found."""
    rest = _PLAIN_VAR.sub("", source)
    found = _PLAIN_OTHER.search(rest)
    if found is None:
        return
    line = rest.count("\n", 0, found.start()) + 1
    snippet = rest[found.start():found.start() + 24].splitlines()[0]
    hint = "an expression, filter or tag" if found.group() in ("{{", "}}", "{%", "%}") else "a comment"
    raise TemplateInvalid(f"{field_name}: line {line}: {snippet!r} is {hint}; plain templates take only "
                          f"{{{{ variable }}}}. Set `syntax: jinja` to opt in to sandboxed Jinja2 "
                          f"(if/for), or remove it")


def _render_plain(source: str, variables: Mapping[str, Any], limits: RenderLimits) -> str:
    missing = [m.group(1) for m in _PLAIN_VAR.finditer(source) if m.group(1) not in variables]
    if missing:
        raise TemplateRenderError(f"template uses an undefined variable: {missing[0]!r} is undefined")
    out = _PLAIN_VAR.sub(lambda m: _plain_value(variables[m.group(1)]), source)  # one pass: values stay text
    if len(out) > limits.max_output_chars:
        raise TemplateRenderError(f"template output is longer than {limits.max_output_chars:,} characters")
    return out.strip()


def _plain_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@lru_cache(maxsize=256)
def _compile(source: str) -> Any:
    from jinja2 import TemplateSyntaxError

    try:
        return _env().from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateInvalid(f"template syntax error on line {exc.lineno}: {exc.message}") from exc


def render_text(source: str, variables: Mapping[str, Any], limits: RenderLimits = DEFAULT_RENDER_LIMITS,
                syntax: str = "jinja") -> str:
    """Render one template string with ``variables`` (plain substitution, or Jinja2 in the sandbox) within
    ``limits``."""
    if syntax == "plain":
        return _render_plain(source, variables, limits)
    from jinja2 import UndefinedError
    from jinja2.exceptions import SecurityError

    template = _compile(source)
    budget = _Budget(limits)
    token = _BUDGET.set(budget)
    parts: list[str] = []
    size = 0
    try:
        for part in template.generate(**variables):
            size += len(part)
            if size > limits.max_output_chars:
                raise TemplateRenderError(f"template output is longer than {limits.max_output_chars:,} characters")
            budget.tick()
            parts.append(part)
    except TemplateRenderError:
        raise
    except UndefinedError as exc:
        raise TemplateRenderError(f"template uses an undefined variable: {exc.message}") from exc
    except SecurityError as exc:
        raise TemplateRenderError(f"template tried an unsafe operation: {exc}") from exc
    except (MemoryError, RecursionError) as exc:
        raise TemplateRenderError(f"template needs too much memory or nesting: {exc.__class__.__name__}") from exc
    except Exception as exc:  # a template's own runtime error (e.g. division by zero)
        raise TemplateRenderError(f"template failed to render: {exc.__class__.__name__}: {exc}") from exc
    finally:
        _BUDGET.reset(token)
    return "".join(parts).strip()


def render_messages(template: Template, *, question: str, history: list[dict[str, str]] | None = None,
                    safer: bool = False, variables: dict[str, Any] | None = None,
                    limits: RenderLimits = DEFAULT_RENDER_LIMITS) -> list[dict[str, str]]:
    """Chat messages for the generator: system, earlier turns, then the rendered user turn."""
    optional = {v["name"]: _ZERO[v.get("type", "string")] for v in template.variables if not v.get("required")}
    values = {**optional, **template.defaults, **(variables or {}), "question": question}
    system_src = template.safer_system if safer and template.safer_system else template.system
    messages = [{"role": "system", "content": render_text(system_src, values, limits, template.syntax)}]
    messages.extend({"role": m["role"], "content": m["content"]} for m in (history or []))
    messages.append({"role": "user", "content": render_text(template.user, values, limits, template.syntax)})
    return messages


def template_variables(template: Template) -> set[str]:
    """The variables a template's system and user messages use."""
    sources = (template.system, template.user, template.safer_system)
    if template.syntax == "plain":
        return {m.group(1) for src in sources for m in _PLAIN_VAR.finditer(src)}
    from jinja2 import meta

    return set().union(*(meta.find_undeclared_variables(_env().parse(src)) for src in sources))


_ZERO: dict[str, Any] = {"string": "", "int": 0, "bool": False}
_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "int": (int,), "bool": (bool,)}
_FORBIDDEN_NODES = ("Import", "FromImport", "Include", "Extends")


def check_source(field_name: str, source: str) -> None:
    """Refuse template code that reaches for Python internals or other templates, in any branch.

    The sandbox already refuses these when they run; this finds them at save time even where a branch
    would never run, and names them: ``{{ ''.__class__.__mro__ }}`` (a private attribute),
    ``{% import 'os' as os %}`` (templates may not import, include or extend).
    """
    from jinja2 import nodes

    _compile(source)  # syntax errors first, with their line
    tree = _env().parse(source)
    for kind in _FORBIDDEN_NODES:
        for node in tree.find_all(getattr(nodes, kind)):
            raise TemplateInvalid(f"{field_name}: line {node.lineno}: templates may not import, include or extend "
                                  f"other templates (server-side template injection is refused)")
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        if isinstance(node, nodes.Getattr):
            attr = node.attr
        elif isinstance(node, nodes.Getitem):
            attr = node.arg.value if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str) else ""
        else:
            attr = node.name
        if attr.startswith("_"):
            raise TemplateInvalid(f"{field_name}: line {node.lineno}: {attr!r} is unsafe: templates may not reach "
                                  f"Python internals (server-side template injection)")


def check_variables(template: Template) -> None:
    """Declared variables against the text and the defaults (the pipeline supplies only ``question``)."""
    declared = {v["name"]: v for v in template.variables}
    if len(declared) != len(template.variables):
        raise TemplateInvalid("variables: a variable is declared twice")
    for name, spec in declared.items():
        if spec.get("required") and name not in template.defaults and name != "question":
            raise TemplateInvalid(f"variables.{name}: required but has no default, and the pipeline supplies "
                                  f"only 'question'; give it a default")
    for name, value in template.defaults.items():
        spec = declared.get(name)
        if spec is None:
            continue
        if not isinstance(value, _TYPES[spec.get("type", "string")]) or (
                spec.get("type") == "int" and isinstance(value, bool)):
            raise TemplateInvalid(f"defaults.{name}: {value!r} is not of the declared type {spec.get('type')}")
        limit = spec.get("max_length")
        if limit and isinstance(value, str) and len(value) > limit:
            raise TemplateInvalid(f"defaults.{name}: {len(value)} characters; the declared max_length is {limit}")
    for name in sorted(template_variables(template) - {"question"}):
        if name not in declared and name not in template.defaults:
            raise TemplateInvalid(f"variables: {name!r} is undefined: used in the text but neither declared "
                                  f"nor given a default")
    if template.strategy == "fine_tuned" and not template.domain:
        raise TemplateInvalid("domain: a fine_tuned template needs the domain it serves")


def validate(template: Template, limits: RenderLimits = DEFAULT_RENDER_LIMITS) -> None:
    """Refuse a template version that would fail at answer time. Used when a version is saved."""
    for field_name in ("system", "user", "safer_system"):
        source = getattr(template, field_name)
        if len(source) > MAX_TEMPLATE_CHARS:
            raise TemplateInvalid(f"{field_name} is {len(source)} characters; the limit is {MAX_TEMPLATE_CHARS}")
    if template.syntax not in SYNTAXES:
        raise TemplateInvalid(f"syntax: {template.syntax!r} is not one of {', '.join(SYNTAXES)}")
    for field_name in ("system", "user", "safer_system"):
        if template.syntax == "plain":
            check_plain(field_name, getattr(template, field_name))
        else:
            check_source(field_name, getattr(template, field_name))
    check_variables(template)
    if "question" not in template_variables(replace(template, system="", safer_system="")):
        raise TemplateInvalid("the user message must use the {{ question }} variable")
    try:
        render_messages(template, question="test question", limits=limits)
        if template.safer_system:
            render_messages(template, question="test question", safer=True, limits=limits)
    except TemplateRenderError as exc:
        raise TemplateInvalid(str(exc)) from exc
