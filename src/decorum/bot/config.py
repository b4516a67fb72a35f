"""The whole YAML configuration (``DECORUM_CONFIG``), composed from each subpackage's section.

Unknown keys fail at start-up with their path (``policy.checks.toxicity.treshold: extra inputs ...``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from decorum.access import AccessConfig
from decorum.adapters.registry import ModelsConfig
from decorum.audit.config import AuditConfig
from decorum.bot.limits import LimitsConfig
from decorum.bot.router import RoutingConfig
from decorum.errors import ConfigError
from decorum.guardrails.policy import Policy
from decorum.knowledge.config import KnowledgeConfig
from decorum.prompts.registry import PromptsConfig
from decorum.settings import Settings


class AppConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: Policy = Policy()
    routing: RoutingConfig = RoutingConfig()
    models: ModelsConfig = ModelsConfig()
    limits: LimitsConfig = LimitsConfig()
    access: AccessConfig = AccessConfig()
    prompts: PromptsConfig = PromptsConfig()
    audit: AuditConfig = AuditConfig()
    knowledge: KnowledgeConfig = KnowledgeConfig()


def load_config(settings: Settings) -> AppConfig:
    try:
        return AppConfig.model_validate(settings.raw_config)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"DECORUM_CONFIG={settings.config}: {where}: {first['msg']}"
                          + (f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else "")) from exc
