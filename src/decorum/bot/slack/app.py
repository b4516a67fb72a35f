"""The Slack surface: a Bolt ``AsyncApp`` on ``POST /slack/events`` (or Socket Mode), its Web API client, its jobs.

One URL takes events, slash commands and interactivity; Bolt verifies the signature and the 5-minute
timestamp window. The Web API client honours 429 ``Retry-After``, retries 5xx with backoff and retries
dropped connections. With ``SLACK_CLIENT_ID``/``SLACK_CLIENT_SECRET`` the app is installable in many
workspaces (``/slack/install``, ``/slack/oauth_redirect``, installations in the database).

Example::

    surface = SlackSurface(runtime)
    routes.extend(surface.routes())
    await surface.start()   # ASGI lifespan: Socket Mode connects, the sweep for lapsed claims starts
    ...
    surface.begin_drain()   # SIGTERM: new Slack requests get 503 (Slack retries them elsewhere)
    await surface.drain()   # queued work released, answers in flight finish (up to ``drain_s``); still serving
    await surface.stop()    # then disconnect
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
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
from decorum.bot.runtime import Runtime
from decorum.bot.slack import audit_admin, knowledge_admin, listeners, policy_admin, prompts_admin, reports
from decorum.bot.slack.answerer import Answerer, Job
from decorum.bot.slack.blocks import apology_message, use_why_keys, why_key
from decorum.bot.slack.commands import SlackFeatures
from decorum.bot.slack.config import SlackSettings
from decorum.bot.slack.dedupe import EventClaims, StaleClaim, parse_message_key
from decorum.bot.slack.feedback import FeedbackStore
from decorum.bot.slack.installations import SqlInstallationStore, SqlOAuthStateStore
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
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)  # X-Slack-Request-Timestamp: Unix seconds
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}", re.ASCII)  # X-Slack-Signature: HMAC-SHA256, hex
SIGNATURE_WINDOW_S = 300  # a timestamp further from now is refused (replays), as Bolt does
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
        self.claims = EventClaims(runtime.db, lease_s=self.config.lease_s, max_attempts=self.config.max_attempts)
        self.notices = FirstContact(runtime.db)
        self.feedback = FeedbackStore(runtime.db)
        self.answerer = Answerer(runtime, self.config, self.claims, self.notices)
        # "Why this answer?" values are signed with keys derived from the pseudonym keys (``blocks.why_value``);
        # the secret is read from the key object here, in one place (Pseudonymiser has no public accessor).
        self.why_keys = {k.key_id: why_key(k._key) for k in runtime.pseudonymiser.keys()}
        use_why_keys(self.why_keys)
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
        self.features = SlackFeatures()
        self._register_features()
        self.handler = AsyncSlackRequestHandler(self.bolt)
        self._signing_key = (_secret(s.slack_signing_secret) or "").encode()  # HTTP mode always has one
        quiet_slack_libraries()
        self.socket: Any = None
        self._session: Any = None
        self._sweeper: asyncio.Task[None] | None = None
        self._drain: asyncio.Future[int] | None = None
        self.draining = False

    # --- HTTP ------------------------------------------------------------------------------------------

    def _register_features(self) -> None:
        """Every listener, subcommand and App Home section, in the order Bolt and Home use them: the core
        listeners, then each admin feature (templates, knowledge, policy: their Home sections in that order;
        audit; the "This was wrong" reports), then the catch-all action listener and App Home."""
        listeners.register(self.bolt, self)
        for feature in (prompts_admin, knowledge_admin, policy_admin, audit_admin, reports):
            feature.register(self.bolt, self)
        listeners.register_fallbacks(self.bolt, self)

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
        While this process drains, every request gets 503 before Bolt acks it: Slack retries an event that was
        not acked, and the load balancer sends the retry to a replica that stays. A request without a
        well-formed, valid signature over a fresh timestamp is 401 here, before Bolt parses its body.
        """
        if self.draining:
            return PlainTextResponse("draining", status_code=503, headers={"Retry-After": "1"})
        if not await self.signed(request):
            logger.warning("slack request refused: bad signature or stale timestamp")
            return PlainTextResponse("invalid request", status_code=401)
        try:
            return await self.handler.handle(request)
        except Exception as exc:  # a body Bolt cannot parse (after a valid signature): Slack's own never are
            logger.warning("slack request rejected: %s", exc.__class__.__name__)
            return PlainTextResponse("bad request", status_code=400)

    async def signed(self, request: HttpRequest) -> bool:
        """Whether ``request`` carries Slack's signature of its body over a timestamp within five minutes.

        The headers are checked for form first (a stranger's ``abc``, ``-1``, a 5,000-digit or a non-ASCII value
        would otherwise fail inside the verifier); Bolt verifies the same again before it acts.
        """
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        sig = request.headers.get("x-slack-signature", "")
        if not (_TIMESTAMP.fullmatch(timestamp) and _SIGNATURE.fullmatch(sig)):
            return False
        if abs(time.time() - int(timestamp)) > SIGNATURE_WINDOW_S:
            return False
        # Slack's v0 scheme over the raw bytes (a signed body that is not UTF-8 is Bolt's 400, not a failure here)
        base = b"v0:" + timestamp.encode("ascii") + b":" + await request.body()
        return hmac.compare_digest(sig, "v0=" + hmac.new(self._signing_key, base, hashlib.sha256).hexdigest())

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
        self.draining, self._drain = False, None
        self._sweeper = asyncio.get_running_loop().create_task(self.sweep_forever(), name="slack-sweep")

    def begin_drain(self) -> None:
        """Take no new Slack work here (503 to Slack, which retries elsewhere); called on SIGTERM."""
        self.draining = True

    async def drain(self) -> int:
        """No new work, no more sweeps, queued work released to other replicas, answers in flight finish (up to
        ``drain_s``; those cut off are released too). Returns how many were cut off. The listeners keep serving
        meanwhile (``decorum serve`` closes them after this), so Slack gets 503, not a refused connection; callers
        share one drain."""
        self.begin_drain()
        if self._drain is None:
            self._drain = asyncio.ensure_future(self._drain_once())
        return await asyncio.shield(self._drain)

    async def _drain_once(self) -> int:
        if self._sweeper is not None and not self._sweeper.done():
            self._sweeper.cancel()
        self._sweeper = None
        if self.socket is not None:  # no new events arrive; the acked ones are claimed
            await self.socket.close_async()
            self.socket = None
        return await self.answerer.drain(self.config.drain_s)

    async def stop(self) -> None:
        """Drain (``drain``, unless done already), then disconnect."""
        left = await self.drain()
        self._drain = None  # a later start (tests reuse a surface) drains anew
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

    async def sweep_forever(self) -> None:
        """Every ``sweep_s``: take over the messages whose owner stopped renewing its lease, and answer them."""
        pruned_at = 0.0
        while True:
            loop = asyncio.get_running_loop()
            if loop.time() - pruned_at > 3600:
                pruned_at = loop.time()
                try:
                    pruned = await asyncio.to_thread(self.claims.prune, self.config.keep_days)
                    if pruned:
                        logger.info("slack claims pruned: %s", pruned)
                except Exception as exc:
                    logger.error("slack claim pruning failed: %s", exc.__class__.__name__)
            await self.recover_lapsed()
            await asyncio.sleep(self.config.sweep_s)

    async def recover_lapsed(self) -> int:
        """Take over each lapsed claim and answer its message here (fetched from Slack: the database keeps ids,
        never text); after ``max_attempts`` owners, or when the message cannot be read, apologise in its thread."""
        if self.draining:
            return 0
        try:
            taken = await asyncio.to_thread(self.claims.take_lapsed, skip=set(self.answerer.held))
        except Exception as exc:
            logger.error("slack lapsed-claim sweep failed: %s", exc.__class__.__name__)
            return 0
        for claim in taken:
            job = None
            if claim.attempts <= self.config.max_attempts:
                try:
                    job = await self._recovered_job(claim)
                except Exception as exc:  # Slack unreachable or the message gone: apologise instead
                    logger.warning("slack message of lapsed claim unreadable key=%s error=%s", claim.key,
                                   exc.__class__.__name__)
            if job is not None:
                logger.warning("slack answering a message taken over key=%s team=%s attempt=%s", claim.key,
                               claim.team, claim.attempts)
                self.answerer.submit(job)
            else:
                await self._apologise(claim)
        return len(taken)

    async def _recovered_job(self, claim: StaleClaim) -> Job | None:
        """The job of a message taken over: its text and author from Slack (``conversations.replies``)."""
        where = parse_message_key(claim.key)
        client = await self.client_for(claim.team)
        if where is None or client is None:
            return None
        channel, ts = where
        bot_user_id, bot_id = await self._bot_identity(claim.team)
        resp = await client.conversations_replies(channel=channel, ts=claim.thread_ts or ts, oldest=ts, latest=ts,
                                                  inclusive=True, limit=20)
        msg = next((m for m in resp.get("messages") or [] if str(m.get("ts")) == ts), None)
        if msg is None or not msg.get("user"):
            return None
        return Job(kind=claim.kind, key=claim.key, client=client, user=str(msg["user"]), channel=channel,
                   text=str(msg.get("text") or ""), team=claim.team,
                   channel_type="im" if channel.startswith("D") else "channel", ts=ts,
                   thread_ts=claim.thread_ts or ts, bot_user_id=bot_user_id, bot_id=bot_id, claimed=True)

    async def _bot_identity(self, team: str | None) -> tuple[str | None, str | None]:
        if self.installations is None:
            auth = await self.authorize()
            return auth.bot_user_id, auth.bot_id
        bot = await self.installations.async_find_bot(enterprise_id=None, team_id=team)
        return (bot.bot_user_id, bot.bot_id) if bot is not None else (None, None)

    async def _apologise(self, claim: StaleClaim) -> None:
        ref = await self.answerer.record_lost(claim, max_attempts=self.config.max_attempts)  # the audit record first
        try:
            client = await self.client_for(claim.team)
            if client is None or not claim.channel:
                raise LookupError("no client for the workspace")
            msg = apology_message(messages.slack_restarted_apology(ref), ref)
            await client.chat_postMessage(channel=claim.channel, thread_ts=claim.thread_ts, **msg.kwargs())
            status = "abandoned"
        except (SlackApiError, LookupError) as exc:
            logger.error("slack apology failed key=%s error=%s", claim.key, exc.__class__.__name__)
            status = "lost"
        await asyncio.to_thread(self.claims.finish, claim.key, status, ref)
        logger.warning("slack claim given up key=%s team=%s ref=%s status=%s attempts=%s", claim.key, claim.team,
                       ref, status, claim.attempts)

def _secret(value: Any) -> str | None:
    if value is None:
        return None
    return str(value.get_secret_value()) if hasattr(value, "get_secret_value") else str(value)
