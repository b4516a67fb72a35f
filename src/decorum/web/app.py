"""The two ASGI apps of ``decorum serve``: the public one (Slack, ``/healthz``) and the admin one (console, API).

Only Slack's endpoint may face the internet; everything else sits on the admin listener (127.0.0.1:8001 by
default) and needs a role (``decorum.access``). Both apps sit behind ``decorum.web.security`` (Host
allow-list, body cap while streaming, security headers).

Example::

    apps = create_apps(Runtime.open())
    # uvicorn serves apps.public on --host/--port and apps.admin on DECORUM_ADMIN_HOST/PORT
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from decorum import metrics
from decorum.access import ROLES, Principal, permissions_of
from decorum.audit.jobs import AuditJobs, Poster, slack_poster
from decorum.audit.review import (
    REFUSED,
    RefusedTexts,
    ReportRefused,
    ReviewNotFound,
    file_report,
    is_asker,
)
from decorum.bot import messages
from decorum.bot.note import append_unanswered, unanswered_note
from decorum.bot.pipeline import Answer, Request, refusal_ref
from decorum.bot.runtime import Runtime
from decorum.bot.slack import mount_slack
from decorum.bot.slack.feedback import FeedbackStore
from decorum.errors import Busy, DecorumError, RateLimited, Unauthenticated, UsageError
from decorum.web.audit_api import audit_routes
from decorum.web.auth import COOKIE, CsrfRefused, bearer, check_csrf, current_session, json_required, needs, refusal
from decorum.web.knowledge_api import knowledge_routes
from decorum.web.models_api import models_routes
from decorum.web.policy_api import policy_routes
from decorum.web.security import ASGIApp, guard, json_body
from decorum.web.templates_api import template_routes

if TYPE_CHECKING:
    from decorum.bot.slack.app import SlackSurface

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

MAX_BODY = 256 * 1024  # any /api body
SLACK_MAX_BODY = 1024 * 1024  # Slack's payloads are far smaller; anything bigger is not Slack
STATIC = Path(__file__).parent
CONSOLE_FILES = {"/": ("console.html", "text/html; charset=utf-8"),
                 "/console.js": ("console.js", "text/javascript; charset=utf-8"),
                 "/console.css": ("console.css", "text/css; charset=utf-8")}


def audit_jobs_for_server(runtime: Runtime, slack: SlackSurface | None) -> AuditJobs | None:
    """The periodic audit jobs ``decorum serve`` runs (``decorum.audit.jobs``; None when none is configured),
    posting with the Slack bot token."""
    cfg = runtime.config.audit
    post: Poster | None = None
    if cfg.witness_channel or cfg.summary_channel:
        if slack is not None and slack.token:
            post = slack_poster(slack.bot_client)
        elif runtime.settings.slack_bot_token:
            from decorum.bot.slack.app import build_client

            post = slack_poster(build_client(runtime.settings.slack_bot_token.get_secret_value(),
                                             runtime.settings.slack_api_url))
        else:
            logger.warning("audit.witness_channel/summary_channel are set but no Slack bot token is: nothing is "
                           "posted (checkpoints are still signed)")
    jobs = AuditJobs(runtime.db, cfg, runtime.settings.audit_signing_key_path, post=post, audit=runtime.audit,
                     witness=runtime.settings.audit_witness)
    return jobs if jobs.enabled else None


class ModelLoader:
    """Loads the models in a background thread; ``/healthz`` reports its state."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.ready = threading.Event()
        self.error: str | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._load, name="decorum-load", daemon=True)
            self._thread.start()

    def _load(self) -> None:
        try:
            self.runtime.load_models()
            self.ready.set()
            metrics.MODELS_READY.set(1)
            logger.info("models loaded")
        except Exception as exc:
            self.error = exc.__class__.__name__
            logger.error("model loading failed: %s", exc.__class__.__name__)


class Services:
    """What both apps share: model loading and the Slack surface, started by the first lifespan, stopped by the last."""

    def __init__(self, runtime: Runtime, *, load_models: bool = True) -> None:
        self.runtime = runtime
        self.loader = ModelLoader(runtime)
        self.load_models = load_models
        self.slack_routes: list[Any] = []
        self.slack = mount_slack(self.slack_routes, runtime)  # POST /slack/events (+ OAuth pages) when SLACK_* set
        self.audit_jobs: AuditJobs | None = None  # checkpoints and the weekly summary, when configured
        self.refused_texts = RefusedTexts()  # the playground's refused questions, briefly, for "This was wrong"
        self._users = 0
        self._lock = asyncio.Lock()
        self.draining = False

    @contextlib.asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        async with self._lock:
            self._users += 1
            if self._users == 1:
                if self.load_models:
                    self.loader.start()
                if self.slack is not None:
                    await self.slack.start()  # Socket Mode connects here
                self.audit_jobs = audit_jobs_for_server(self.runtime, self.slack)
                if self.audit_jobs is not None:
                    self.audit_jobs.start()
        try:
            yield
        finally:
            async with self._lock:
                self._users -= 1
                if self._users == 0 and self.audit_jobs is not None:
                    await self.audit_jobs.stop()  # before Slack's session closes: a post in flight is cancelled
                    self.audit_jobs = None
                if self._users == 0 and self.slack is not None:
                    await self.slack.stop()  # answers in flight finish first

    def begin_drain(self) -> None:
        """SIGTERM: readiness turns 503 (``draining``) and Slack requests get 503, so work goes to other replicas."""
        self.draining = True
        if self.slack is not None:
            self.slack.begin_drain()

    async def drain(self) -> None:
        """``begin_drain``, then wait for Slack's drain (answers in flight finish, up to ``drain_s``), while the
        listeners still serve: ``decorum serve`` stops them only after this returns."""
        self.begin_drain()
        if self.slack is not None:
            await self.slack.drain()

    def health(self, *, detail: bool) -> JSONResponse:
        if self.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        if self.loader.error:
            return JSONResponse({"status": "error", "error": self.loader.error}, status_code=500)
        if not self.loader.ready.is_set():
            return JSONResponse({"status": "loading"}, status_code=503)
        if not detail:
            return JSONResponse({"status": "ok"})
        rt = self.runtime
        info = rt.generator.info
        return JSONResponse({"status": "ok", "model": info.name, "engine": info.engine, "precision": info.precision,
                             "classifier": rt.guardrails.scores.scorer, "policy": rt.config.policy.ref,
                             "slack": self.slack is not None})


@dataclass(frozen=True, slots=True)
class Apps:
    public: ASGIApp
    admin: ASGIApp
    services: Services


MAX_TURNS = 20  # earlier turns a conversation sends along (the prompt's render limits bound the rest)
MAX_TURN_CHARS = 8000


class Turn(BaseModel):
    """One earlier turn of a conversation (``decorum chat --server`` sends them)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_TURN_CHARS)


class AskBody(BaseModel):
    """``POST /api/ask``: the question, and optionally a strategy, a template (empty means the default) and the
    conversation's earlier turns (at most ``MAX_TURNS``, oldest first)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    text: str
    strategy: str | None = None
    template: str | None = None
    history: list[Turn] | None = Field(default=None, max_length=MAX_TURNS)


def validated(model: type[M], data: dict[str, Any]) -> M:
    """``data`` as ``model``, or ``UsageError`` (400) naming the first field that is wrong and what it must be."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_context=False, include_input=False)[0]
        field = ".".join(str(part) for part in err["loc"]) or "body"
        raise UsageError(f'"{field}": {err["msg"]}') from None


class EventStream:
    """The playground's ``AnswerStream``: each checked part (and a retraction) queued as an event for the browser."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    async def show(self, text: str) -> None:
        await self.queue.put(("part", {"text": text}))

    async def retract(self) -> None:
        await self.queue.put(("retract", {}))


def sse(event: str, data: dict[str, Any]) -> str:
    """One server-sent event (the data is one line of JSON)."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _error(exc: DecorumError) -> JSONResponse:
    if isinstance(exc, Busy):  # refused before any work; the caller recorded the reference (api_ask)
        return JSONResponse({"error": str(exc), "ref": refusal_ref(exc)},
                            status_code=429 if isinstance(exc, RateLimited) else 503,
                            headers={"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))})
    if isinstance(exc, UsageError):
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse({"error": exc.__class__.__name__}, status_code=500)


def create_public_app(runtime: Runtime, services: Services) -> ASGIApp:
    """``/slack/*`` and ``/healthz`` (status only); everything else is 404 here."""

    async def healthz(_: HttpRequest) -> JSONResponse:
        return services.health(detail=False)

    async def livez(_: HttpRequest) -> JSONResponse:
        return JSONResponse({"status": "alive"})  # the process serves (models may still load: see /healthz)

    app = Starlette(routes=[Route("/healthz", healthz), Route("/livez", livez), *services.slack_routes],
                    lifespan=services.lifespan)
    app.state.runtime = runtime
    return guard(app, hosts=runtime.settings.public_host_names(), body_limits={"/slack/": SLACK_MAX_BODY},
                 default_body_limit=0, console=False)


def create_admin_app(runtime: Runtime, services: Services) -> ASGIApp:
    """The console, the JSON API and ``/metrics``: each route asks ``AccessControl`` for its permission."""
    access = runtime.access

    async def healthz(_: HttpRequest) -> JSONResponse:
        return services.health(detail=False)

    async def static(request: HttpRequest) -> Response:
        name, media = CONSOLE_FILES[request.url.path]
        return FileResponse(STATIC / name, media_type=media)

    @needs("metrics.read")
    async def metrics_endpoint(_: HttpRequest, __: Principal) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @needs("metrics.read")
    async def health_detail(_: HttpRequest, __: Principal) -> JSONResponse:
        return services.health(detail=True)

    async def login(request: HttpRequest) -> Response:
        bad = json_required(request)
        if bad is not None:
            return bad
        try:
            data = await json_body(request)
            token = data.get("token")
            if not isinstance(token, str) or not token:
                raise UsageError('"token" must be a non-empty string')
            secret, sess = await asyncio.to_thread(access.login, token)
        except Unauthenticated as exc:
            return refusal(exc)
        except UsageError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        resp = JSONResponse(_me(sess.principal, sess.csrf))
        resp.set_cookie(COOKIE, secret, max_age=int(runtime.config.access.session_hours * 3600), httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
        return resp

    async def logout(request: HttpRequest) -> Response:
        bad = json_required(request)
        if bad is not None:
            return bad
        secret = request.cookies.get(COOKIE)
        if secret:
            sess = await asyncio.to_thread(access.session, secret)
            if sess is not None:
                try:
                    check_csrf(request, sess)
                except CsrfRefused as exc:
                    return refusal(exc)
            await asyncio.to_thread(access.logout, secret)
        resp = JSONResponse({"ok": True})
        resp.delete_cookie(COOKIE, path="/")
        return resp

    async def me(request: HttpRequest) -> JSONResponse:
        token = bearer(request)
        if token is not None:
            who = await asyncio.to_thread(access.authenticate_token, token)
            csrf = None
        else:
            sess = await asyncio.to_thread(current_session, request, access)
            who, csrf = (sess.principal, sess.csrf) if sess else (None, None)
        if who is None:
            return refusal(Unauthenticated("not logged in"))
        return JSONResponse(_me(who, csrf))

    async def ask_request(request: HttpRequest, who: Principal) -> Request:
        body = validated(AskBody, await json_body(request))  # wrong types are 400 here, before any work
        return Request(text=body.text, surface="web", user=f"web:{who.name}", strategy=body.strategy or "auto",
                       template=body.template or None,
                       history=[{"role": t.role, "content": t.content} for t in body.history or []])

    async def unanswered(exc: Busy) -> None:
        """Refused before any work: the reference it carries is a record too."""
        ref = refusal_ref(exc)
        if ref is not None:
            note = unanswered_note(ref, error_type=exc.__class__.__name__, reason=exc.reason, where="api",
                                   surface="web")
            await append_unanswered(runtime.audit, note, "surface=web")

    def answered(req: Request, answer: Answer) -> dict[str, Any]:
        out = answer.as_json()
        if answer.verdict in REFUSED:  # the playground offers "This was wrong" (POST .../report)
            services.refused_texts.keep(answer.id, req.text)
            out["report"] = {"url": f"/api/ask/{answer.id}/report",
                             "retention_days": runtime.config.audit.text_retention_days}
        return out

    @needs("playground.ask", surface="console")
    async def api_ask(request: HttpRequest, who: Principal) -> JSONResponse:
        try:
            req = await ask_request(request, who)
            answer = await runtime.pipeline.answer(req)
        except Busy as exc:
            await unanswered(exc)
            return _error(exc)
        except DecorumError as exc:
            return _error(exc)
        return JSONResponse(answered(req, answer), status_code=200 if answer.verdict != "error" else 500)

    answering: set[asyncio.Task[Answer]] = set()

    @needs("playground.ask", surface="console")
    async def api_ask_stream(request: HttpRequest, who: Principal) -> Response:
        """``POST /api/ask/stream``: the same request as ``/api/ask``, answered as server-sent events.

        ``part`` events carry the checked text so far (``{"text"}``: only text that passed the output checks,
        as in Slack), ``retract`` withdraws it (a later part failed), and the last event is ``done`` (the
        note and answer, as ``/api/ask`` returns them) or ``error`` (``{"error", "status"}``). Bad input is
        refused before the stream starts, as a plain JSON 400.
        """
        try:
            req = await ask_request(request, who)
        except DecorumError as exc:
            return _error(exc)
        stream = EventStream()
        task = asyncio.create_task(runtime.pipeline.answer(req, stream))
        answering.add(task)  # held until done: a browser that goes away still gets its answer audited
        task.add_done_callback(answering.discard)

        async def events() -> AsyncIterator[str]:
            while not task.done() or not stream.queue.empty():
                get = asyncio.ensure_future(stream.queue.get())
                await asyncio.wait({get, task}, return_when=asyncio.FIRST_COMPLETED)
                if get.done():
                    yield sse(*get.result())
                else:
                    get.cancel()
            try:
                answer = task.result()
            except Busy as exc:
                await unanswered(exc)
                err = _error(exc)
                yield sse("error", {**json.loads(err.body), "status": err.status_code})
                return
            except DecorumError as exc:
                err = _error(exc)
                yield sse("error", {**json.loads(err.body), "status": err.status_code})
                return
            yield sse("done", answered(req, answer))

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    @needs("playground.ask", surface="console")
    async def api_report(request: HttpRequest, who: Principal) -> JSONResponse:
        """``POST /api/ask/ID/report {keep_text}``: the console user's "This was wrong" on their own refusal.

        201 filed, 200 filed before (nothing changed), 403 not their refusal, 404 no such refusal, 400 bad input.
        The text is kept only with ``keep_text`` and while this process still holds the refused question.
        """
        note_id = request.path_params["note_id"]
        try:
            data = await json_body(request)
            keep = data.get("keep_text", False)
            if not isinstance(keep, bool):
                raise UsageError('"keep_text" must be true or false')
            text = services.refused_texts.get(note_id) if keep else None
            report = await asyncio.to_thread(file_report, runtime.db, runtime.audit, runtime.pseudonymiser, note_id,
                                             asker=f"web:{who.name}", surface="web", keep_text=keep, text=text)
        except ReviewNotFound as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except ReportRefused as exc:
            return JSONResponse({"error": str(exc), "status": 403}, status_code=403)
        except DecorumError as exc:
            return _error(exc)
        services.refused_texts.forget(note_id)
        body = {**report.as_json(), "message": messages.report_filed(note_id, text_kept=report.text_kept,
                                                                     text_wanted=keep, again=not report.created)}
        return JSONResponse(body, status_code=201 if report.created else 200)

    @needs("playground.ask", surface="console")
    async def api_feedback(request: HttpRequest, who: Principal) -> JSONResponse:
        """``POST /api/ask/ID/feedback {value: 1|-1}``: the console user's 👍/👎 on their own answer.

        The same ``feedback`` table as Slack's buttons (one vote per person per note; a later vote replaces it),
        under the asker's pseudonym. 200 stored, 400 bad value, 403 not their answer, 404 no such answer.
        """
        note_id = request.path_params["note_id"]
        try:
            data = await json_body(request)
            value = data.get("value")
            if isinstance(value, bool) or value not in (1, -1):
                raise UsageError('"value" must be 1 (👍) or -1 (👎)')
            asker = f"web:{who.name}"

            def vote() -> dict[str, Any]:
                try:
                    note = runtime.audit.get(note_id)
                except UsageError:
                    raise ReviewNotFound(f"no answer with reference {note_id!r}") from None
                if note.get("verdict") == "change":
                    raise ReviewNotFound(f"record {note_id} is a change record, not an answer")
                if not is_asker(runtime.pseudonymiser, note, asker):
                    raise ReportRefused("only the person who asked may give feedback on this answer here")
                user = runtime.pseudonymiser.user(asker)
                store = FeedbackStore(runtime.db)
                store.vote(note_id, user, value)
                votes = list(store.votes(note_id).values())
                return {"note_id": note_id, "value": value, "up": votes.count(1), "down": votes.count(-1)}

            out = await asyncio.to_thread(vote)
        except ReviewNotFound as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except ReportRefused as exc:
            return JSONResponse({"error": str(exc), "status": 403}, status_code=403)
        except DecorumError as exc:
            return _error(exc)
        logger.info("console feedback on %s", note_id)
        return JSONResponse(out)

    @needs("templates.read")
    async def api_templates(_: HttpRequest, __: Principal) -> JSONResponse:
        return JSONResponse(await asyncio.to_thread(runtime.templates.overview))

    @needs("users.manage")
    async def api_users(request: HttpRequest, who: Principal) -> JSONResponse:
        if request.method == "GET":
            return JSONResponse(await asyncio.to_thread(access.list_users))
        try:
            data = await json_body(request)
            name, role = data.get("name"), data.get("role")
            if not isinstance(name, str) or not isinstance(role, str):
                raise UsageError('"name" and "role" must be strings')
            user, token = await asyncio.to_thread(access.add_user, name, role, by=who)
        except UsageError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({**user, "token": token}, status_code=201)

    @needs("users.manage")
    async def api_user_revoke(request: HttpRequest, who: Principal) -> JSONResponse:
        name = request.path_params["name"]
        if name == who.name:  # an admin locking themselves out leaves nobody to undo it: another admin must
            return JSONResponse({"error": f"you cannot revoke your own access ({name}); ask another admin to "
                                          "do it"}, status_code=409)
        try:
            user = await asyncio.to_thread(access.revoke_user, name, by=who)
        except UsageError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404 if "no user" in str(exc) else 409)
        return JSONResponse(user)

    @needs("users.manage")
    async def api_access_events(request: HttpRequest, _: Principal) -> JSONResponse:
        try:
            limit = min(1000, max(1, int(request.query_params.get("limit", "100"))))
        except ValueError:
            return JSONResponse({"error": "limit must be an integer"}, status_code=400)
        return JSONResponse(await asyncio.to_thread(access.events, limit=limit))

    routes = [
        *(Route(path, static) for path in CONSOLE_FILES),
        Route("/healthz", healthz),
        Route("/metrics", metrics_endpoint),
        Route("/api/health", health_detail),
        Route("/api/login", login, methods=["POST"]),
        Route("/api/logout", logout, methods=["POST"]),
        Route("/api/me", me),
        Route("/api/ask", api_ask, methods=["POST"]),
        Route("/api/ask/stream", api_ask_stream, methods=["POST"]),
        Route("/api/ask/{note_id}/report", api_report, methods=["POST"]),
        Route("/api/ask/{note_id}/feedback", api_feedback, methods=["POST"]),
        *audit_routes(runtime),  # search, stats, charts, one record, verify, exports, the review queue
        Route("/api/templates", api_templates),
        *template_routes(runtime),  # create, edit, diff, publish, roll back, test
        *knowledge_routes(runtime),  # list, one entry, history, diff, add, edit, publish, roll back
        *policy_routes(runtime),  # live routing and policy: versions, change, diff, test, publish, roll back
        *models_routes(runtime),  # every version, one whole (card, loss curve, evaluation, routing), promote, retire
        Route("/api/users", api_users, methods=["GET", "POST"]),
        Route("/api/users/{name}/revoke", api_user_revoke, methods=["POST"]),
        Route("/api/access/events", api_access_events),
    ]
    app = Starlette(routes=routes, lifespan=services.lifespan)
    app.state.runtime = runtime
    return guard(app, hosts=runtime.settings.admin_host_names(), body_limits={}, default_body_limit=MAX_BODY,
                 console=True)


def create_apps(runtime: Runtime, *, load_models: bool = True) -> Apps:
    """Both apps over one set of services (models load once, Slack starts once)."""
    services = Services(runtime, load_models=load_models)
    return Apps(public=create_public_app(runtime, services), admin=create_admin_app(runtime, services),
                services=services)


def _me(who: Principal, csrf: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"user": who.name, "role": who.role, "via": who.via, "permissions": permissions_of(who.role),
                           "roles": list(ROLES)}
    if csrf is not None:
        out["csrf"] = csrf
    return out
