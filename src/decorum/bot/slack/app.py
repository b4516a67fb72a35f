"""The Slack surface: a Bolt ``AsyncApp`` on ``POST /slack/events`` (or Socket Mode), its Web API client, its jobs.

One URL takes events, slash commands and interactivity; Bolt verifies the signature and the 5-minute
timestamp window. The Web API client honours 429 ``Retry-After``, retries 5xx with backoff and retries
dropped connections. With ``SLACK_CLIENT_ID``/``SLACK_CLIENT_SECRET`` the app is installable in many
workspaces (``/slack/install``, ``/slack/oauth_redirect``, installations in the database).

Example::

    surface = SlackSurface(runtime)
    routes.extend(surface.routes())
    await surface.start()   # ASGI lifespan: Socket Mode connects, stale claims get their apology
    ...
    await surface.stop()    # answers in flight finish (up to ``drain_s``)
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request as HttpRequest
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from decorum.bot import messages
from decorum.bot.note import new_id
from decorum.bot.runtime import Runtime
from decorum.bot.slack.answerer import Answerer
from decorum.bot.slack.blocks import apology_message
from decorum.bot.slack.config import SlackSettings
from decorum.bot.slack.dedupe import EventClaims
from decorum.bot.slack.feedback import FeedbackStore
from decorum.bot.slack.installations import SqlInstallationStore, SqlOAuthStateStore
from decorum.bot.slack.listeners import register
from decorum.bot.slack.notices import FirstContact

logger = logging.getLogger(__name__)

SLACK_API = "https://slack.com/api/"
# Exactly what the listeners use; deploy/slack/manifest.yaml lists the same (a test compares them).
BOT_SCOPES = (
    "app_mentions:read",  # app_mention
    "assistant:write",  # assistant threads: status, suggested prompts, assistant_thread_* events
    "channels:history",  # message.channels (thread replies) and conversations.replies there
    "chat:write",  # answers, refusals, notices
    "commands",  # /decorum
    "groups:history",  # message.groups and conversations.replies in private channels
    "im:history",  # message.im and conversations.replies in DMs
    "mpim:history",  # message.mpim and conversations.replies in group DMs
    "reactions:write",  # the progress reaction
    "users:read",  # users.info: workspace admins and owners get access.slack_workspace_admins' role
)
BOT_EVENTS = (
    "app_home_opened", "app_mention", "app_uninstalled", "assistant_thread_context_changed",
    "assistant_thread_started", "message.channels", "message.groups", "message.im", "message.mpim",
    "tokens_revoked",
)


class IdsOnly(logging.Filter):
    """Bolt and slack_sdk log request and response bodies (message text) at DEBUG and INFO; keep ids only."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        if msg.startswith("Invalid request signature detected"):  # Bolt logs the whole body here, at INFO
            record.msg, record.args = "slack request refused: bad signature or stale timestamp", ()
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            return True
        if "`token` will be unused" in msg:  # Bolt reads SLACK_BOT_TOKEN itself; the client given holds it
            return False
        return record.levelno >= logging.WARNING


def _quiet_logger(name: str) -> logging.Logger:
    log = logging.getLogger(name)
    if not any(isinstance(f, IdsOnly) for f in log.filters):
        log.addFilter(IdsOnly())
    return log


def quiet_slack_libraries() -> None:
    """Keep slack_sdk / slack_bolt at WARNING (their DEBUG records quote bodies) and filter their loggers."""
    for name in ("slack_sdk", "slack_bolt"):
        logging.getLogger(name).setLevel(logging.WARNING)  # inherited by module loggers created later
    for name, log in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith(("slack_sdk", "slack_bolt")) and isinstance(log, logging.Logger):
            _quiet_logger(name)


def build_client(token: str | None, base_url: str | None, *, timeout: int = 30) -> AsyncWebClient:
    """The Web API client: ``base_url`` (``DECORUM_SLACK_API_URL``) and retries for 429, 5xx and lost connections."""
    return AsyncWebClient(
        token=token, base_url=(base_url or SLACK_API).rstrip("/") + "/", timeout=timeout,
        logger=_quiet_logger("decorum.bot.slack.web"),
        retry_handlers=[AsyncConnectionErrorRetryHandler(max_retry_count=2),
                        AsyncRateLimitErrorRetryHandler(max_retry_count=4),
                        AsyncServerErrorRetryHandler(max_retry_count=3)])


class SlackSurface:
    """Everything Slack in one process: Bolt app, HTTP handler or Socket Mode, answerer, stores."""

    def __init__(self, runtime: Runtime, config: SlackSettings | None = None) -> None:
        self.runtime = runtime
        self.config = config or SlackSettings()
        s = runtime.settings
        self.mode = s.slack_mode
        self.bolt_logger = _quiet_logger("decorum.bot.slack.bolt")
        self.bolt_logger.setLevel(logging.INFO)  # Bolt copies it; IdsOnly rewrites the one INFO it needs
        self.claims = EventClaims(runtime.db)
        self.notices = FirstContact(runtime.db)
        self.feedback = FeedbackStore(runtime.db)
        self.answerer = Answerer(runtime, self.config, self.claims, self.notices)
        oauth = self.config.oauth and self.mode == "http"
        self.token = None if oauth else _secret(s.slack_bot_token)
        # Bolt's client holds no token: each request's copy gets the workspace's token from ``authorize``.
        self.client = build_client(None, s.slack_api_url, timeout=self.config.api_timeout_s)
        self.bot_client = build_client(self.token, s.slack_api_url, timeout=self.config.api_timeout_s)
        self.installations: SqlInstallationStore | None = None
        self._auth_test: dict[str, Any] | None = None
        kwargs: dict[str, Any] = {}
        if not oauth:
            async def authorize() -> AuthorizeResult:  # Bolt inspects argument names: no bound method
                return await self.authorize()

            kwargs["authorize"] = authorize
        else:
            self.installations = SqlInstallationStore(runtime.db, _secret(s.encryption_key))
            self.installations.migrate()  # plaintext rows and rows under a rotated-out key
            kwargs.update(installation_store=self.installations, installation_store_bot_only=True,
                          oauth_settings=AsyncOAuthSettings(
                              client_id=self.config.client_id, client_secret=_secret(self.config.client_secret),
                              scopes=list(BOT_SCOPES), redirect_uri=self.config.redirect_uri,
                              install_path="/slack/install", redirect_uri_path="/slack/oauth_redirect",
                              installation_store=self.installations, installation_store_bot_only=True,
                              state_store=SqlOAuthStateStore(runtime.db), logger=self.bolt_logger))
        # Not "decorum": Bolt gives the logger named after the app its own level, which would override
        # DECORUM_LOG_LEVEL for every decorum.* module.
        self.bolt = AsyncApp(name="decorum-slack", logger=self.bolt_logger, client=self.client,
                             signing_secret=_secret(s.slack_signing_secret) or "", process_before_response=False,
                             **kwargs)
        register(self.bolt, self)
        self.handler = AsyncSlackRequestHandler(self.bolt)
        quiet_slack_libraries()
        self.socket: Any = None
        self._session: Any = None
        self._recovery: asyncio.Task[int] | None = None

    # --- HTTP ------------------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """``POST /slack/events`` (HTTP mode), plus the OAuth install pages when OAuth is configured."""
        if self.mode == "socket":
            return []
        out: list[BaseRoute] = [Route("/slack/events", self.events, methods=["POST"])]
        if self.installations is not None:
            out += [Route("/slack/install", self.oauth, methods=["GET"]),
                    Route("/slack/oauth_redirect", self.oauth, methods=["GET"])]
        return out

    async def events(self, request: HttpRequest) -> Response:
        """Events, slash commands and interactivity, verified by Bolt, acked before any work.

        Bodies are bounded before they get here (``decorum.web.app.SLACK_MAX_BODY``, counted while they stream).
        """
        try:
            return await self.handler.handle(request)
        except Exception as exc:  # a body Bolt cannot parse (after a valid signature): Slack's own never are
            logger.warning("slack request rejected: %s", exc.__class__.__name__)
            return PlainTextResponse("bad request", status_code=400)

    async def oauth(self, request: HttpRequest) -> Response:
        return await self.handler.handle(request)

    # --- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Share one HTTP session, connect Socket Mode, and apologise for answers a dead process left."""
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession()
            self.client.session = self.bot_client.session = self._session  # Bolt's per-request clients too
        if self.installations is None:
            try:  # auth.test now, not while the first event waits for its ack
                await self.authorize()
            except SlackApiError as exc:
                logger.error("slack auth.test failed: %s", exc.response.get("error"))
        if self.mode == "socket" and self.socket is None:
            from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

            web = build_client(_secret(self.runtime.settings.slack_app_token), self.runtime.settings.slack_api_url)
            self.socket = AsyncSocketModeHandler(self.bolt, app_token=_secret(self.runtime.settings.slack_app_token),
                                                 logger=self.bolt_logger, web_client=web)
            quiet_slack_libraries()
            await self.socket.connect_async()
            logger.info("slack socket mode connected")
        self._recovery = asyncio.get_running_loop().create_task(self.recover_stale())

    async def stop(self) -> None:
        """Let answers in flight finish (up to ``drain_s``), then disconnect."""
        left = await self.answerer.drain(self.config.drain_s)
        if self._recovery is not None and not self._recovery.done():
            self._recovery.cancel()
        if self.socket is not None:
            await self.socket.close_async()
            self.socket = None
        if self._session is not None:
            self.client.session = self.bot_client.session = None
            await self._session.close()
            self._session = None
        logger.info("slack stopped; unfinished answers: %s", left)

    async def authorize(self) -> AuthorizeResult:
        """The one workspace's identity (single-workspace token): ``auth.test`` once, then from memory."""
        if self._auth_test is None:
            self._auth_test = dict((await self.bot_client.auth_test()).data)  # type: ignore[arg-type]
        return AuthorizeResult.from_auth_test_response(auth_test_response=self._auth_test, bot_token=self.token)

    async def client_for(self, team: str | None) -> AsyncWebClient | None:
        """A client authorised for ``team``: the bot token, or the workspace's stored installation."""
        if self.installations is None:
            return self.bot_client
        bot = await self.installations.async_find_bot(enterprise_id=None, team_id=team)
        if bot is None:
            return None
        client = build_client(bot.bot_token, self.runtime.settings.slack_api_url)
        client.session = self._session
        return client

    async def recover_stale(self) -> int:
        """Apologise in the thread of each message a process claimed and never answered (it died); prune old claims."""
        try:
            pruned = await asyncio.to_thread(self.claims.prune, self.config.keep_days)
            if pruned:
                logger.info("slack claims pruned: %s", pruned)
            stale = await asyncio.to_thread(self.claims.take_stale, self.config.stale_claim_s)
        except Exception as exc:
            logger.error("slack stale-claim sweep failed: %s", exc.__class__.__name__)
            return 0
        for claim in stale:
            ref = new_id()
            try:
                client = await self.client_for(claim.team)
                if client is None or not claim.channel:
                    raise LookupError("no client for the workspace")
                msg = apology_message(messages.slack_restarted_apology(ref), ref)
                await client.chat_postMessage(channel=claim.channel, thread_ts=claim.thread_ts, **msg.kwargs())
                status = "abandoned"
            except (SlackApiError, LookupError) as exc:
                logger.error("slack stale apology failed key=%s error=%s", claim.key, exc.__class__.__name__)
                status = "lost"
            await asyncio.to_thread(self.claims.finish, claim.key, status, ref)
            logger.warning("slack stale claim key=%s team=%s ref=%s status=%s", claim.key, claim.team, ref, status)
        return len(stale)


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    return str(value.get_secret_value()) if hasattr(value, "get_secret_value") else str(value)
