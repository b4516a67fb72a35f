"""Builds the services of one process from the settings: database, stores, models, pipeline.

Models load on first use (or ``load_models()``), so ``decorum audit ...`` never touches torch.

Example::

    rt = Runtime.open()
    answer = asyncio.run(rt.pipeline.answer(Request(text="Hi")))
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from functools import cached_property
from typing import Any, cast

from decorum.access import AccessControl
from decorum.adapters.base import Generator
from decorum.adapters.model_registry import ModelRegistry
from decorum.adapters.registry import GeneratorConfig, build_generator
from decorum.audit.chain_key import ChainKey
from decorum.audit.log import SqlAuditLog
from decorum.audit.pseudonyms import Pseudonymiser
from decorum.bot.config import AppConfig, load_config
from decorum.bot.live_config import LiveConfig
from decorum.bot.pipeline import Pipeline, Request, validate_request
from decorum.bot.router import Router, RoutingConfig
from decorum.errors import UsageError
from decorum.guardrails.base import Classifier
from decorum.guardrails.checks import Guardrails
from decorum.guardrails.policy import ClassifierConfig, Policy
from decorum.knowledge.index import KnowledgeIndex
from decorum.knowledge.registry import KnowledgeRegistry
from decorum.knowledge.store import KnowledgeStore
from decorum.offline import ensure_offline
from decorum.prompts.base import Template, TemplateRef
from decorum.prompts.registry import Registry
from decorum.prompts.sql_store import SqlTemplateStore
from decorum.settings import Settings
from decorum.store import Database

logger = logging.getLogger(__name__)


# Loaded models, shared by every Runtime of this process with the same configuration: weights load once.
_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


def _shared(key: str, build: Callable[[], Any]) -> Any:
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = build()
        return _MODELS[key]


def build_classifier(cfg: ClassifierConfig, settings: Settings) -> Classifier:
    """The classifier that serves the checks (the project's own by default), one per process."""

    def build() -> Classifier:
        from decorum.guardrails import classifier

        return cast(Classifier, classifier.build_classifier(cfg, settings.cache_dir / "classifiers"))

    fields = {"artifact", "detoxify_model", "max_length", "batch_size", "optimize", "stereotype_model",
              "stereotype_artifact"}
    key = f"classifier:{settings.cache_dir}:{cfg.model_dump_json(include=fields)}"
    return cast(Classifier, _shared(key, build))


def shared_generator(cfg: GeneratorConfig, settings: Settings) -> Generator:
    """The configured generator, one per process and configuration."""
    key = f"generator:{settings.cache_dir}:{cfg.model_dump_json()}"
    return cast(Generator, _shared(key, lambda: build_generator(cfg, settings.cache_dir)))


class Runtime:
    """One process's services. Pass ``classifier``/``generator`` to replace the configured ones (tests)."""

    def __init__(self, settings: Settings, config: AppConfig, db: Database, *,
                 classifier: Classifier | None = None, generator: Generator | None = None) -> None:
        self.settings = settings
        self.config = config
        self.db = db
        self._classifier = classifier
        self._generator = generator

    @classmethod
    def open(cls, settings: Settings | None = None, **overrides: Any) -> Runtime:
        ensure_offline()
        settings = settings or Settings()
        config = load_config(settings)
        settings.ensure_data_dir()
        db = Database.open(settings.resolved_database_url)
        rt = cls(settings, config, db, **overrides)
        rt.templates.seed()
        rt.models.seed()
        rt.knowledge.seed()
        return rt

    @cached_property
    def templates(self) -> SqlTemplateStore:
        return SqlTemplateStore(self.db, cache_check_s=self.config.prompts.cache_check_s)

    @cached_property
    def knowledge(self) -> KnowledgeStore:
        return KnowledgeStore(self.db)

    @cached_property
    def knowledge_index(self) -> KnowledgeIndex:
        """Retrieval over the published entries; another process's publish is seen within prompts.cache_check_s."""
        from decorum.adapters.embeddings import shared_embedder

        return KnowledgeIndex(self.knowledge, shared_embedder(), cache_check_s=self.config.prompts.cache_check_s)

    def knowledge_registry(self, surface: str) -> KnowledgeRegistry:
        """Knowledge-base changes acting for ``surface`` (cli, console, slack): guarded, roles checked, recorded."""
        return KnowledgeRegistry(self.knowledge, self.audit,
                                 guard=lambda texts, stage: self.guardrails.run(texts, stage=stage),
                                 surface=surface, access=self.access, four_eyes=self.config.prompts.four_eyes)

    @cached_property
    def models(self) -> ModelRegistry:
        return ModelRegistry(self.db)

    @cached_property
    def access(self) -> AccessControl:
        return AccessControl(self.db, self.config.access)

    @cached_property
    def audit(self) -> SqlAuditLog:
        """The audit log, its chain keyed with the key outside the database (made only for an empty log)."""
        return SqlAuditLog(self.db, chain_key=ChainKey.open(self.settings.audit_chain_key_path, self.db))

    @cached_property
    def pseudonymiser(self) -> Pseudonymiser:
        key = self.settings.audit_key.get_secret_value() if self.settings.audit_key else None
        return Pseudonymiser.from_settings(key, self.settings.data_dir)

    @cached_property
    def classifier(self) -> Classifier:
        return self._classifier or build_classifier(self.config.policy.classifier, self.settings)

    @cached_property
    def live(self) -> LiveConfig:
        """The admins' live routing/policy versions; what this process applies (see ``decorum.bot.live_config``)."""
        return LiveConfig(self.db, self.config.policy, self.config.routing, access=self.access, audit=self.audit,
                          tester=self._live_tester, validate_routing=self._validate_routing,
                          cache_check_s=self.config.prompts.cache_check_s)

    def live_config(self, surface: str) -> LiveConfig:
        """``live`` acting for ``surface`` (cli, console, slack)."""
        return self.live.for_surface(surface)

    @cached_property
    def guardrails(self) -> Guardrails:
        guardrails = Guardrails(self.config.policy, self.classifier)
        self.live.on_change(lambda policy, _routing, _active: guardrails.set_policy(policy))
        self.live.refresh(force=True)
        return guardrails

    @cached_property
    def generator(self) -> Generator:
        return self._generator or shared_generator(self.config.models.generator, self.settings)

    @cached_property
    def router(self) -> Router:
        router = Router(self.config.routing, self.config.models, self.models, self.templates)
        self.live.on_change(lambda _policy, routing, _active: router.set_config(routing))
        self.live.refresh(force=True)
        return router

    @cached_property
    def pipeline(self) -> Pipeline:
        pipeline = Pipeline(guardrails=self.guardrails, router=self.router, templates=self.templates,
                            generator=self.generator, audit=self.audit, pseudonymiser=self.pseudonymiser,
                            limits=self.config.limits)
        pipeline.live = self.live
        pipeline.audit_config = self.config.audit
        self._with_knowledge(pipeline)
        return pipeline

    def _with_knowledge(self, pipeline: Pipeline) -> None:
        pipeline.knowledge_config = self.config.knowledge
        if self.config.knowledge.enabled:
            pipeline.knowledge = self.knowledge_index

    def _validate_routing(self, routing: RoutingConfig) -> None:
        """Refuse routing this deployment cannot serve: unknown domains or adapters, templates not published."""
        Router(routing, self.config.models, self.models, self.templates)  # domains, rules, patterns
        names = [routing.default_template, *(r.template for r in routing.rules if r.template)]
        for spec in names:
            ref = TemplateRef.parse(spec)
            self.templates.get(ref.name, ref.version)  # TemplateNotFound names what exists
        if routing.default_strategy == "fine_tuned" and not routing.default_domain:
            raise UsageError("routing.default_strategy fine_tuned needs routing.default_domain")

    def _live_tester(self, policy: Policy, routing: RoutingConfig, actor: str) -> list[dict[str, Any]]:
        """The test gate of a live version: every production template's test cases, answered by a pipeline
        built with the candidate policy and routing (cases that expect a strategy are routed, not pinned)."""
        from decorum.prompts.registry import judge

        pipeline = Pipeline(guardrails=Guardrails(policy, self.classifier),
                            router=Router(routing, self.config.models, self.models, self.templates),
                            templates=self.templates, generator=self.generator, audit=self.audit,
                            pseudonymiser=self.pseudonymiser, limits=self.config.limits)
        self._with_knowledge(pipeline)
        results = []
        try:
            for row in self.templates.overview():
                if row["production"] is None:
                    continue
                tpl = self.templates.get(row["name"], row["production"])
                for i, case in enumerate(tpl.test_cases):
                    expect = case.get("expect") or {}
                    routed = bool(expect.get("strategy"))
                    req = Request(text=case["question"], surface="cli", user=f"live-config-test:{actor}",
                                  strategy="auto" if routed else tpl.strategy, template=None if routed else tpl.ref,
                                  command="live_config.test")
                    answer = asyncio.run(pipeline.answer(req, rate_checked=True))
                    outcome = {"answer": answer.text, "verdict": answer.verdict,
                               "strategy": (answer.note.get("route") or {}).get("strategy")}
                    failures = judge(expect, outcome)
                    results.append({"template": tpl.ref, "case": i, "question": case["question"],
                                    "verdict": answer.verdict, "strategy": outcome["strategy"], "note_id": answer.id,
                                    "routed": routed, "passed": not failures, "failures": failures})
        finally:
            pipeline.close()
        return results

    def change_model_stage(self, verb: str, name: str, version: int, *, actor: str, reason: str,
                           surface: str) -> tuple[Any, str]:
        """``decorum models promote|retire`` and the console's buttons: the registry's change, and a
        ``model.promote``/``model.retire`` audit record when the stage moved. Returns the version and its stage
        before."""
        reg = self.models
        before = reg.get(name, version).stage
        do = reg.promote if verb == "promote" else reg.retire
        after = do(name, version, actor=actor, reason=reason)
        if after.stage != before:
            self.audit.append_change(f"model.{verb}", actor=actor, surface=surface, model=name, version=version,
                                     reason=reason, from_stage=before)
        return after, before

    def template_registry(self, surface: str) -> Registry:
        """The template registry acting for ``surface`` (cli, console, slack): guarded, roles checked."""
        return Registry(self.templates, self.audit, guard=lambda texts, stage: self.guardrails.run(texts, stage=stage),
                        config=self.config.prompts, surface=surface, access=self.access, tester=self.template_tester)

    def template_tester(self, tpl: Template, case: dict[str, Any], actor: str) -> dict[str, Any]:
        """Answer one template test case through the pipeline (checks, routing, generation, audit note)."""
        req = Request(text=case["question"], surface="cli", user=f"prompts-test:{actor}", strategy=tpl.strategy,
                      template=tpl.ref, command="prompts.test")
        answer = asyncio.run(self.pipeline.answer(req, rate_checked=True))  # from a worker thread in servers
        return {"answer": answer.text, "verdict": answer.verdict, "note_id": answer.id,
                "strategy": (answer.note.get("route") or {}).get("strategy")}

    def validate(self, req: Request) -> None:
        """Check a request's usage (text, template, strategy) without loading any model."""
        validate_request(req, self.templates, self.router)

    def load_models(self) -> None:
        """Load the classifier, the generator and the configured adapters now (building what is missing)."""
        self.guardrails.run(["warm-up"], stage="input")
        self.generator.load()
        self.generator.prepare(self.router.adapters())
        if self.config.routing.semantic:
            self.router.semantic_scores("warm-up")  # loads the sentence encoder and each router index
        if self.config.knowledge.enabled:
            self.knowledge_index.refresh(force=True)  # embeds the published entries

    def close(self) -> None:
        self.db.dispose()
