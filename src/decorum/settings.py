"""Environment settings (``DECORUM_*``, ``SLACK_*``) and the raw YAML configuration file.

Only the environment is read here. The YAML sections are validated by the subpackage that owns them
(policy by ``decorum.guardrails.policy``, routes by ``decorum.bot.router``, models by
``decorum.adapters.registry``), composed in ``decorum.bot.config``.

Example::

    settings = Settings()            # reads the environment
    settings.data_dir                # all state and caches
    settings.database_url            # SQLAlchemy URL, SQLite in the data dir by default
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from decorum.errors import ConfigError, UsageError


def default_data_dir() -> Path:
    """The per-user data directory: ``$XDG_DATA_HOME/decorum`` or ``~/.local/share/decorum``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "decorum"


def local_actor(given: str | None = None) -> str:
    """Who acts on the CLI, for the record: ``--as USER`` when given (1-128 characters), else ``local:<OS user>``."""
    if given is not None:
        if not 0 < len(given) <= 128:
            raise UsageError("--as takes a name of 1 to 128 characters")
        return given
    import getpass

    try:
        return f"local:{getpass.getuser()}"
    except Exception:
        return "local"


class Settings(BaseSettings):
    """Process settings from the environment. Secrets are ``SecretStr`` so they never print."""

    model_config = SettingsConfigDict(env_prefix="DECORUM_", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    cache_dir_override: Path | None = Field(
        default=None, validation_alias=AliasChoices("DECORUM_CACHE_DIR", "cache_dir_override")
    )
    config: Path | None = None
    audit_key: SecretStr | None = None
    audit_signing_key: Path | None = None  # Ed25519 PEM that signs audit checkpoints; default in data_dir
    audit_chain_key: Path | None = None  # the HMAC key of the audit chain; default in data_dir
    # An append-only JSON-lines file that every signed audit checkpoint is appended to (`decorum serve`'s
    # checkpoints, `decorum audit checkpoint`), read by `decorum audit verify`; keep it on other storage.
    audit_witness: Path | None = None
    encryption_key: SecretStr | None = None  # Fernet key(s), comma-separated: Slack OAuth tokens at rest
    log_level: str | None = None  # default: INFO for `serve`, WARNING for one-shot commands
    log_format: Literal["json", "text"] = "json"

    # The admin listener (console, /api/*, /metrics); the public one (Slack, /healthz) is `serve --host/--port`.
    admin_host: str = "127.0.0.1"
    admin_port: int = Field(default=8001, ge=0, le=65535)
    # Host names the admin listener answers to besides localhost, 127.0.0.1, ::1 and admin_host
    # (comma-separated; a request with any other Host header is refused: DNS rebinding).
    allowed_hosts: str = ""
    # Host names the public listener answers to (comma-separated); "*" (default) takes any, since Slack
    # reaches it through whatever public name a proxy or tunnel gives it.
    public_hosts: str = "*"

    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token")
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret")
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token")
    )
    slack_mode: Literal["http", "socket"] = "http"
    slack_api_url: str | None = None

    @property
    def audit_chain_key_path(self) -> Path:
        """Where the audit chain's HMAC key is (outside the database)."""
        return self.audit_chain_key or self.data_dir / "audit-chain.key"

    @property
    def audit_signing_key_path(self) -> Path:
        """Where the audit checkpoint key is (outside the database; ``.pub`` beside it)."""
        return self.audit_signing_key or self.data_dir / "audit-signing.key"

    @field_validator("data_dir", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        return Path(value).expanduser() if isinstance(value, str | Path) else value

    def admin_host_names(self) -> list[str]:
        """The Host header values the admin listener accepts (ports aside)."""
        names = ["localhost", "127.0.0.1", "::1", "[::1]"]
        if self.admin_host not in ("0.0.0.0", "::", ""):
            names.append(self.admin_host)
        names += [h.strip() for h in self.allowed_hosts.split(",") if h.strip()]
        return list(dict.fromkeys(names))

    def public_host_names(self) -> list[str]:
        return [h.strip() for h in self.public_hosts.split(",") if h.strip()] or ["*"]

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL; ``postgresql://`` is served by psycopg 3."""
        url = self.database_url or f"sqlite:///{self.data_dir / 'decorum.db'}"
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    @property
    def cache_dir(self) -> Path:
        """Converted weights and built checkpoints: ``DECORUM_CACHE_DIR`` or ``<data dir>/cache``."""
        return self.cache_dir_override or self.data_dir / "cache"

    @cached_property
    def raw_config(self) -> dict[str, Any]:
        """The YAML file named by ``DECORUM_CONFIG`` as a dict (empty when unset)."""
        if self.config is None:
            return {}
        import yaml

        try:
            text = Path(self.config).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"DECORUM_CONFIG={self.config}: cannot read ({exc.strerror})") from exc
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"DECORUM_CONFIG={self.config}: invalid YAML ({exc})") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"DECORUM_CONFIG={self.config}: top level must be a mapping")
        return data

    def ensure_data_dir(self) -> Path:
        """Create the data directory (owner-only) and return it."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.data_dir
