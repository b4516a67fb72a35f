"""Which strategy answers: explicit choice > configured rules > default template.

Semantic routing to fine-tuned domains comes with the fine-tuning pipeline; it will sit between rules
and the default and record ``reason: semantic`` with its score and threshold.

Example YAML::

    routing:
      default_template: general
      domains:
        helpdesk: {template: helpdesk, adapter: helpdesk-lora}
      rules:
        - {name: it-channel, match: {channel: [C0123]}, template: helpdesk}
        - {name: vpn, match: {pattern: "(?i)\\bvpn\\b"}, strategy: fine_tuned, domain: helpdesk}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from decorum.adapters.base import AdapterRef
from decorum.adapters.registry import ModelsConfig
from decorum.errors import UsageError
from decorum.prompts.base import TemplateRef

Strategy = Literal["prompt_engineering", "fine_tuned"]
STRATEGIES: tuple[str, ...] = ("auto", "prompt_engineering", "fine_tuned")


class RouteMatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    surface: list[str] | None = None
    team: list[str] | None = None
    channel: list[str] | None = None
    command: str | None = None
    pattern: str | None = None  # a regular expression searched in the question

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from exc
        return value


class RouteRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    match: RouteMatch
    strategy: Strategy = "prompt_engineering"
    template: str | None = None
    domain: str | None = None

    @model_validator(mode="after")
    def _target(self) -> RouteRule:
        if self.strategy == "fine_tuned" and not self.domain:
            raise ValueError(f"rule {self.name!r}: fine_tuned needs a domain")
        if self.strategy == "prompt_engineering" and not self.template:
            raise ValueError(f"rule {self.name!r}: prompt_engineering needs a template")
        return self


class Domain(BaseModel):
    """A fine-tuned domain: its template and its adapter (a name under ``models.adapters``)."""

    model_config = ConfigDict(extra="forbid")

    template: str
    adapter: str


class RoutingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_template: str = "general"
    default_strategy: Strategy = "prompt_engineering"
    default_domain: str | None = None
    domains: dict[str, Domain] = {}
    rules: list[RouteRule] = []


@dataclass(frozen=True, slots=True)
class RouteContext:
    """What the router may look at."""

    question: str
    surface: str
    team: str | None = None
    channel: str | None = None
    command: str | None = None


@dataclass(frozen=True, slots=True)
class RouteDecision:
    strategy: Strategy
    reason: str  # explicit | rule | default (| semantic, later)
    template: TemplateRef
    adapter: AdapterRef | None = None
    rule: str | None = None
    score: float | None = None
    threshold: float | None = None

    def as_note(self) -> dict[str, object]:
        out: dict[str, object] = {"strategy": self.strategy, "reason": self.reason}
        if self.rule:
            out["rule"] = self.rule
        if self.score is not None:
            out["score"], out["threshold"] = round(self.score, 4), self.threshold
        return out


class Router:
    """Decides the strategy, template and adapter for a request, and says why."""

    def __init__(self, config: RoutingConfig, models: ModelsConfig) -> None:
        self.config = config
        self.models = models
        for name, dom in config.domains.items():
            models.adapter(dom.adapter)  # unknown adapter names fail at start-up
            TemplateRef.parse(dom.template)
            _ = name
        for rule in config.rules:
            if rule.domain and rule.domain not in config.domains:
                raise UsageError(f"rule {rule.name!r} names unknown domain {rule.domain!r}")
        self._patterns = {r.name: re.compile(r.match.pattern) for r in config.rules if r.match.pattern}

    def route(self, ctx: RouteContext, *, strategy: str = "auto", template: str | None = None) -> RouteDecision:
        if strategy not in STRATEGIES:
            raise UsageError(f"unknown strategy {strategy!r}; available: {', '.join(STRATEGIES)}")
        explicit_tpl = TemplateRef.parse(template) if template else None
        if strategy == "fine_tuned":
            return self._fine_tuned(self._domain_for(explicit_tpl), "explicit", explicit_tpl)
        if strategy == "prompt_engineering" or explicit_tpl:
            return RouteDecision("prompt_engineering", "explicit",
                                 explicit_tpl or TemplateRef.parse(self.config.default_template))
        for rule in self.config.rules:
            if self._matches(rule, ctx):
                if rule.strategy == "fine_tuned":
                    assert rule.domain is not None
                    return self._fine_tuned(rule.domain, "rule", None, rule.name)
                assert rule.template is not None
                return RouteDecision("prompt_engineering", "rule", TemplateRef.parse(rule.template), rule=rule.name)
        if self.config.default_strategy == "fine_tuned":
            return self._fine_tuned(self._domain_for(None), "default", None)
        return RouteDecision("prompt_engineering", "default", TemplateRef.parse(self.config.default_template))

    def _domain_for(self, tpl: TemplateRef | None) -> str:
        if not self.config.domains:
            raise UsageError("no fine-tuned domain is configured (routing.domains); use --strategy prompt_engineering")
        if tpl is not None:
            for name, dom in self.config.domains.items():
                if TemplateRef.parse(dom.template).name == tpl.name:
                    return name
            raise UsageError(f"template {tpl.name!r} has no fine-tuned domain; domains: "
                             f"{', '.join(sorted(self.config.domains))}")
        return self.config.default_domain or next(iter(self.config.domains))

    def _fine_tuned(self, domain: str, reason: str, tpl: TemplateRef | None, rule: str | None = None) -> RouteDecision:
        dom = self.config.domains[domain]
        return RouteDecision("fine_tuned", reason, tpl or TemplateRef.parse(dom.template),
                             adapter=self.models.adapter(dom.adapter), rule=rule)

    def _matches(self, rule: RouteRule, ctx: RouteContext) -> bool:
        m = rule.match
        if m.surface is not None and ctx.surface not in m.surface:
            return False
        if m.team is not None and ctx.team not in m.team:
            return False
        if m.channel is not None and ctx.channel not in m.channel:
            return False
        if m.command is not None and ctx.command != m.command:
            return False
        pattern = self._patterns.get(rule.name)
        return not (pattern and not pattern.search(ctx.question))
