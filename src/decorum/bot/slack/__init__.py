"""The Slack surface (Bolt ``AsyncApp``): mentions, DMs, thread replies, ``/decorum``, assistant threads.

``mount_slack`` is all the web app calls: it adds ``POST /slack/events`` (and the OAuth pages) when Slack
is configured, and returns the surface whose ``start``/``stop`` belong in the ASGI lifespan. Bolt is
imported only then, so a process without Slack never loads it.

Example::

    surface = mount_slack(routes, runtime)    # None when SLACK_* are unset
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from decorum.bot.slack.config import SlackSettings
from decorum.errors import ConfigError

if TYPE_CHECKING:
    from decorum.bot.runtime import Runtime
    from decorum.bot.slack.app import SlackSurface
    from decorum.settings import Settings


def slack_enabled(settings: Settings, config: SlackSettings) -> bool:
    """Whether Slack is configured; a half-done configuration fails with what is missing."""
    token, secret, app_token = settings.slack_bot_token, settings.slack_signing_secret, settings.slack_app_token
    if settings.slack_mode == "socket":
        missing = [n for n, v in (("SLACK_APP_TOKEN", app_token), ("SLACK_BOT_TOKEN", token)) if not v]
        if missing:
            raise ConfigError(f"DECORUM_SLACK_MODE=socket needs {' and '.join(missing)}")
        return True
    if not (token or secret or config.client_id or config.client_secret):
        return False
    if not secret:
        raise ConfigError("Slack needs SLACK_SIGNING_SECRET (Basic Information > App Credentials) to verify requests")
    if bool(config.client_id) != bool(config.client_secret):
        raise ConfigError("OAuth install needs both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET")
    if not (token or config.oauth):
        raise ConfigError("Slack needs SLACK_BOT_TOKEN, or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for OAuth")
    return True


def mount_slack(routes: list[Any], runtime: Runtime) -> SlackSurface | None:
    """Add the Slack routes (starlette ``BaseRoute``s) to ``routes`` when configured; returns the surface or None."""
    config = SlackSettings()
    if not slack_enabled(runtime.settings, config):
        return None
    from decorum.bot.slack.app import SlackSurface

    surface = SlackSurface(runtime, config)
    routes.extend(surface.routes())
    return surface


__all__ = ["SlackSettings", "mount_slack", "slack_enabled"]
