"""The ASGI app: ``/healthz``, ``/metrics``, the JSON API and the web console; Slack is mounted when set.

Example::

    app = create_app(Runtime.open())
    uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from decorum import metrics
from decorum.bot.pipeline import Request
from decorum.bot.runtime import Runtime
from decorum.bot.slack import mount_slack
from decorum.errors import DecorumError, UsageError

logger = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
CONSOLE = Path(__file__).parent / "console.html"


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
            self.error = f"{exc.__class__.__name__}: {exc}"
            logger.error("model loading failed: %s", exc.__class__.__name__)


async def _json_body(request: HttpRequest) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise UsageError(f"request body is {len(body)} bytes; the limit is {MAX_BODY}")
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError("request body is not valid UTF-8") from exc
    except ValueError as exc:
        raise UsageError(f"request body is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise UsageError("request body must be a JSON object")
    return data


def create_app(runtime: Runtime, *, load_models: bool = True) -> Starlette:
    loader = ModelLoader(runtime)

    async def healthz(_: HttpRequest) -> JSONResponse:
        if loader.error:
            return JSONResponse({"status": "error", "error": loader.error}, status_code=500)
        if not loader.ready.is_set():
            return JSONResponse({"status": "loading"}, status_code=503)
        info = runtime.generator.info
        return JSONResponse({"status": "ok", "model": info.name, "engine": info.engine, "precision": info.precision,
                             "classifier": runtime.guardrails.scores.scorer,
                             "policy": runtime.config.policy.ref})

    async def metrics_endpoint(_: HttpRequest) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def api_ask(request: HttpRequest) -> JSONResponse:
        try:
            data = await _json_body(request)
            text = data.get("text")
            if not isinstance(text, str):
                raise UsageError('"text" must be a string')
            req = Request(text=text, surface="web", strategy=str(data.get("strategy") or "auto"),
                          template=data.get("template") or None)
            answer = await runtime.pipeline.answer(req)
        except UsageError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except DecorumError as exc:
            return JSONResponse({"error": str(exc)}, status_code=500)
        return JSONResponse(answer.as_json(), status_code=200 if answer.verdict != "error" else 500)

    async def api_audit_list(request: HttpRequest) -> JSONResponse:
        try:
            limit = min(500, max(1, int(request.query_params.get("limit", "50"))))
        except ValueError:
            return JSONResponse({"error": "limit must be an integer"}, status_code=400)
        verdict = request.query_params.get("verdict") or None
        notes = await asyncio.to_thread(runtime.audit.list, limit=limit, verdict=verdict)
        return JSONResponse(notes)

    async def api_audit_show(request: HttpRequest) -> JSONResponse:
        try:
            note = await asyncio.to_thread(runtime.audit.get, request.path_params["id"])
        except UsageError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        return JSONResponse(note)

    async def api_audit_verify(_: HttpRequest) -> JSONResponse:
        v = await asyncio.to_thread(runtime.audit.verify)
        return JSONResponse({"ok": v.ok, "checked": v.checked, "first_bad_id": v.first_bad_id, "reason": v.reason},
                            status_code=200 if v.ok else 409)

    async def console(_: HttpRequest) -> HTMLResponse:
        return HTMLResponse(CONSOLE.read_text(encoding="utf-8"))

    routes = [
        Route("/", console),
        Route("/healthz", healthz),
        Route("/metrics", metrics_endpoint),
        Route("/api/ask", api_ask, methods=["POST"]),
        Route("/api/audit", api_audit_list),
        Route("/api/audit/verify", api_audit_verify),
        Route("/api/audit/{id}", api_audit_show),
    ]
    slack = mount_slack(routes, runtime)  # POST /slack/events (+ OAuth pages) when SLACK_* are set

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if load_models:
            loader.start()
        if slack is not None:
            await slack.start()  # Socket Mode connects here
        yield
        if slack is not None:
            await slack.stop()  # answers in flight finish first

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.loader = loader
    app.state.slack = slack
    return app
