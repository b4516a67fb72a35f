"""Which strategy answers: explicit choice > configured rules > semantic match to a domain > default.

A fine-tuned domain is configured (``routing.domains``) or comes from the model registry: each production
version of a fine-tuned model serves its domain, with the template it was trained under, and carries
the embeddings of its training questions and a calibrated threshold (``reason: semantic``, with the
score, the threshold and the version that scored it, in every note).

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

import logging
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from decorum.adapters.base import AdapterRef
from decorum.adapters.model_registry import ModelRegistry, ModelVersion, load_router_index
from decorum.adapters.registry import ModelsConfig
from decorum.errors import ModelLoadError, UsageError
from decorum.prompts.base import TemplateRef, TemplateStore

logger = logging.getLogger(__name__)

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
    """A fine-tuned domain: its template and its adapter (a name under ``models.adapters`` or in the registry)."""

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
    semantic: bool = True  # route by similarity to each registered domain's training questions
    # A question whose score passes a domain's threshold by less than this stays on the default template
    # (reason "uncertain"): near the threshold the router is as often wrong as right, and a general request
    # answered by a domain adapter invents domain facts. Calibrated on held-out general requests (README,
    # "A router that abstains"); 0 turns the band off.
    uncertain_band: float = Field(default=0.03, ge=0.0, le=1.0)


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
    reason: str  # explicit | rule | semantic | uncertain | default
    template: TemplateRef
    adapter: AdapterRef | None = None
    rule: str | None = None
    score: float | None = None
    threshold: float | None = None
    router: str | None = None  # the model version whose router index scored it (semantic)
    domain: str | None = None
    band: float | None = None  # uncertain: the band above the threshold the score fell in

    def as_note(self) -> dict[str, object]:
        out: dict[str, object] = {"strategy": self.strategy, "reason": self.reason}
        if self.domain:
            out["domain"] = self.domain
        if self.rule:
            out["rule"] = self.rule
        if self.score is not None:
            out["score"], out["threshold"] = round(self.score, 4), self.threshold
        if self.router:
            out["router"] = self.router
        if self.band is not None:
            out["band"] = self.band
        return out


@dataclass(frozen=True, slots=True)
class _Domain:
    """A domain as served now: from the configuration, or from the registry's production version."""

    name: str
    template: str
    adapter: AdapterRef
    source: str  # config | registry
    version: ModelVersion | None = None


class Router:
    """Decides the strategy, template and adapter for a request, and says why.

    Order: an explicit choice, then the configured rules, then semantic similarity to each domain's
    training questions (registered versions carry their index and calibrated threshold), then the default.
    """

    def __init__(self, config: RoutingConfig, models: ModelsConfig, registry: ModelRegistry | None = None,
                 templates: TemplateStore | None = None) -> None:
        self.models = models
        self.registry = registry
        self.templates = templates  # lets a template that names a domain run that domain's adapter
        self._indexes: dict[str, Any] = {}
        self.set_config(config)

    def set_config(self, config: RoutingConfig) -> None:
        """Check ``config`` (adapters, rule domains, patterns) and route by it from now on (live changes)."""
        registered = {(m.name, m.domain) for m in self.registry.list()} if self.registry is not None else set()
        for dom in config.domains.values():
            TemplateRef.parse(dom.template)
            if dom.adapter not in self.models.adapters and dom.adapter not in {n for n, _ in registered}:
                self.models.adapter(dom.adapter)  # an adapter neither configured nor registered fails at start-up
        known_domains = set(config.domains) | {d for _, d in registered}
        for rule in config.rules:
            if rule.domain and rule.domain not in known_domains:
                raise UsageError(f"rule {rule.name!r} names unknown domain {rule.domain!r}")
        patterns = {r.name: re.compile(r.match.pattern) for r in config.rules if r.match.pattern}
        self.config, self._patterns = config, patterns

    def domains(self) -> dict[str, _Domain]:
        """Every servable domain: configured ones first, then each production version in the registry."""
        out: dict[str, _Domain] = {}
        production = {v.name: v for v in self.registry.production()} if self.registry is not None else {}
        for name, dom in self.config.domains.items():
            if dom.adapter in self.models.adapters:
                out[name] = _Domain(name, dom.template, self.models.adapter(dom.adapter), "config")
            elif self.registry is not None:
                version = production.get(dom.adapter)
                if version is None:  # retired or never promoted: that domain is not served, the rest is
                    logger.warning("domain %s: model %s has no production version; not served", name, dom.adapter)
                    continue
                out[name] = _Domain(name, dom.template, version.adapter(), "registry", version)
            else:
                self.models.adapter(dom.adapter)
        if self.registry is not None:
            for version in production.values():
                if version.domain not in out:
                    out[version.domain] = _Domain(version.domain, version.template, version.adapter(), "registry",
                                                  version)
        return out

    def adapters(self) -> list[AdapterRef]:
        """The adapters routing can send requests to now (what a generator should prepare)."""
        refs = {d.adapter.name: d.adapter for d in self.domains().values()}
        for name in self.models.adapters:
            refs.setdefault(name, self.models.adapter(name))
        return list(refs.values())

    def route(self, ctx: RouteContext, *, strategy: str = "auto", template: str | None = None) -> RouteDecision:
        if strategy not in STRATEGIES:
            raise UsageError(f"unknown strategy {strategy!r}; available: {', '.join(STRATEGIES)}")
        explicit_tpl = TemplateRef.parse(template) if template else None
        if strategy == "fine_tuned":
            domains = self.domains()
            return self._fine_tuned(domains[self._domain_for(explicit_tpl, domains)], "explicit", explicit_tpl)
        if strategy == "prompt_engineering" or explicit_tpl:
            return RouteDecision("prompt_engineering", "explicit",
                                 explicit_tpl or TemplateRef.parse(self.config.default_template))
        for rule in self.config.rules:
            if self._matches(rule, ctx):
                if rule.strategy == "fine_tuned":
                    assert rule.domain is not None
                    domains = self.domains()
                    if rule.domain not in domains:
                        raise UsageError(f"rule {rule.name!r} names domain {rule.domain!r}, which has no "
                                         f"production model now")
                    return self._fine_tuned(domains[rule.domain], "rule", None, rule=rule.name)
                assert rule.template is not None
                return RouteDecision("prompt_engineering", "rule", TemplateRef.parse(rule.template), rule=rule.name)
        if ctx.question.strip() and self.config.semantic:
            domains = self.domains()
            passing = [s for s in self.semantic_scores(ctx.question, domains) if s["score"] >= s["threshold"]]
            if passing:
                top = max(passing, key=lambda s: s["score"] - s["threshold"])
                band = self.config.uncertain_band
                if band and top["score"] < top["threshold"] + band and self.config.default_strategy != "fine_tuned":
                    return RouteDecision("prompt_engineering", "uncertain",
                                         TemplateRef.parse(self.config.default_template), score=top["score"],
                                         threshold=top["threshold"], router=top["router"], band=band)
                return self._fine_tuned(domains[top["domain"]], "semantic", None, score=top["score"],
                                        threshold=top["threshold"], router=top["router"])
        if self.config.default_strategy == "fine_tuned":
            domains = self.domains()
            return self._fine_tuned(domains[self._domain_for(None, domains)], "default", None)
        return RouteDecision("prompt_engineering", "default", TemplateRef.parse(self.config.default_template))

    def semantic_scores(self, question: str, domains: dict[str, _Domain] | None = None) -> list[dict[str, Any]]:
        """Each registered domain's similarity score and threshold for ``question`` (highest first).

        A domain whose router index cannot be loaded is left out (and logged): it is then reached only by
        rules or an explicit choice, and every other request is still answered.
        """
        from decorum.adapters.embeddings import shared_embedder
        from decorum.adapters.finetune.routing import margin_scores

        candidates = [d for d in (domains if domains is not None else self.domains()).values()
                      if d.version is not None and d.version.card.get("router", {}).get("threshold") is not None]
        if not candidates:
            return []
        vectors = shared_embedder().encode([question])
        out = []
        for d in candidates:
            assert d.version is not None
            try:
                index = self._index(d.version)
            except ModelLoadError as exc:
                logger.warning("domain %s: router index of %s unusable (%s); semantic routing skips it",
                               d.name, d.version.ref, exc.__class__.__name__)
                continue
            [score] = margin_scores(vectors, index["questions"], index["general"])
            out.append({"domain": d.name, "router": d.version.ref, "score": score,
                        "threshold": float(d.version.card["router"]["threshold"])})
        return sorted(out, key=lambda s: -s["score"])

    def _index(self, version: ModelVersion) -> Any:
        key = f"{version.ref}:{version.sha256}"
        if key not in self._indexes:
            self._indexes[key] = load_router_index(version)
        return self._indexes[key]

    def explain(self, ctx: RouteContext) -> dict[str, Any]:
        """The decision for ``ctx`` and everything it was weighed against (``decorum route explain``)."""
        decision = self.route(ctx)
        rules = [{"rule": r.name, "matched": self._matches(r, ctx)} for r in self.config.rules]
        return {"route": decision.as_note(), "template": str(decision.template),
                "adapter": ({"name": decision.adapter.name, "version": decision.adapter.version,
                             "sha256": decision.adapter.sha256} if decision.adapter else None),
                "rules": rules,
                "semantic": (self.semantic_scores(ctx.question) if self.config.semantic and ctx.question.strip()
                             else []),
                "semantic_enabled": self.config.semantic,
                "default": {"strategy": self.config.default_strategy, "template": self.config.default_template}}

    def _domain_for(self, tpl: TemplateRef | None, domains: dict[str, _Domain]) -> str:
        if not domains:
            raise UsageError("no fine-tuned domain is configured or registered in production "
                             "(decorum models list); use --strategy prompt_engineering")
        if tpl is not None:
            for name, dom in domains.items():
                if TemplateRef.parse(dom.template).name == tpl.name:
                    return name
            if self.templates is not None:  # any template of the domain (the note records both)
                declared = self.templates.get(tpl.name, tpl.version).domain
                if declared in domains:
                    return declared
            raise UsageError(f"template {tpl.name!r} has no fine-tuned domain; domains: "
                             f"{', '.join(sorted(domains))}")
        if self.config.default_domain:
            if self.config.default_domain not in domains:
                raise UsageError(f"routing.default_domain {self.config.default_domain!r} has no production model")
            return self.config.default_domain
        return next(iter(domains))

    def _fine_tuned(self, dom: _Domain, reason: str, tpl: TemplateRef | None, *, rule: str | None = None,
                    score: float | None = None, threshold: float | None = None,
                    router: str | None = None) -> RouteDecision:
        return RouteDecision("fine_tuned", reason, tpl or TemplateRef.parse(dom.template), adapter=dom.adapter,
                             rule=rule, score=score, threshold=threshold, router=router, domain=dom.name)

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
