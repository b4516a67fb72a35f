"""Slack-only settings from the environment (the tokens themselves live in ``decorum.settings``).

Example::

    cfg = SlackSettings()          # DECORUM_SLACK_CONCURRENCY=8, DECORUM_SLACK_MAX_QUEUED=200, SLACK_CLIENT_ID=...
    cfg.concurrency, cfg.oauth
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SlackSettings(BaseSettings):
    """How the Slack surface runs. OAuth (multi-workspace install) is on when client id and secret are set."""

    model_config = SettingsConfigDict(env_prefix="DECORUM_SLACK_", extra="ignore", populate_by_name=True)

    client_id: str | None = Field(default=None, validation_alias=AliasChoices("SLACK_CLIENT_ID", "client_id"))
    client_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_CLIENT_SECRET", "client_secret"))
    redirect_uri: str | None = Field(default=None, validation_alias=AliasChoices("SLACK_REDIRECT_URI", "redirect_uri"))
    # Answers in flight at once; the rest wait in order (up to max_queued). The pipeline batches up to 8 generations.
    concurrency: int = Field(default=16, ge=1, le=512)
    # Jobs waiting for a slot at most; more are refused at once ("at capacity", claim status ``busy``).
    max_queued: int = Field(default=200, ge=0, le=100_000)
    queued_notice_s: float = Field(default=2.0, ge=0)  # a job waiting this long is told it is queued
    history_turns: int = Field(default=6, ge=0, le=50)  # earlier question/answer pairs of a thread given to the model
    history_chars: int = Field(default=2000, ge=100)  # per earlier message
    drain_s: float = Field(default=30.0, ge=0)  # on shutdown, how long answers in flight may finish
    # A claim is a lease the live process renews every lease_s/3; a replica that finds it lapsed (a dead or
    # hung owner) takes the message over and answers it: at Slack's retry, or at its sweep every sweep_s.
    lease_s: float = Field(default=30.0, ge=2, le=3600)
    sweep_s: float = Field(default=10.0, ge=0.2, le=3600)
    max_attempts: int = Field(default=3, ge=1, le=10)  # owners a message may have; then the asker gets an apology
    keep_days: float = Field(default=90.0, gt=0)  # claims (ids only) kept this long: dedupe and thread membership
    progress_reaction: str = "hourglass_flowing_sand"
    stream: bool = True  # show answers in threads as they are generated (checked sentences only)
    stream_interval_s: float = Field(default=1.0, ge=0.2)  # at most one chat.update per answer this often
    api_timeout_s: int = Field(default=30, ge=1)

    @property
    def oauth(self) -> bool:
        return bool(self.client_id and self.client_secret)
