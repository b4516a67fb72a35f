"""The model registry on the admin listener: every adapter version, one version whole, promote and retire.

Reading needs ``models.read`` (viewer and above); promote and retire need ``models.promote`` (publisher and
above) and a reason, and call the registry's own ``promote``/``retire`` (``decorum.adapters.model_registry``),
as ``decorum models promote|retire`` does. Each change is a registry event and an audit record
(``model.promote`` / ``model.retire``: who, which version, why).

Routes::

    GET  /api/models                               [summary, ...]: every version with its stage
    GET  /api/models/NAME/VERSION                  {summary, card, history, evaluation, router, served, compare,
                                                   card_markdown}
    GET  /api/models/NAME/VERSION/loss.svg         train and eval loss per epoch (image/svg+xml)
    GET  /api/models/NAME/VERSION/compare.html     the ``decorum compare --register`` report kept with it (a download)
    POST /api/models/NAME/VERSION/promote {reason} the version, now production (the one before: archived)
    POST /api/models/NAME/VERSION/retire  {reason} the version, retired for good

Answers: 400 bad input (a missing reason, a retired version promoted), 401/403 from ``AccessControl``, 404 an
unknown name or version. Every error body is ``{"error": message}``.

Example::

    routes = [*models_routes(runtime)]
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from decorum.access import Principal
from decorum.adapters.finetune.card import loss_chart
from decorum.adapters.finetune.compare import html_report
from decorum.adapters.model_registry import ModelVersion
from decorum.audit.query import AuditFilter, stats
from decorum.bot.runtime import Runtime
from decorum.errors import DecorumError, UsageError
from decorum.web.auth import needs
from decorum.web.templates_api import json_object

logger = logging.getLogger(__name__)

MAX_REASON = 500


class ModelNotFound(UsageError):
    """No model by that name, or no such version (HTTP 404)."""


def _failure(exc: DecorumError) -> JSONResponse:
    if isinstance(exc, ModelNotFound):
        return JSONResponse({"error": str(exc)}, status_code=404)
    if isinstance(exc, UsageError):
        return JSONResponse({"error": str(exc)}, status_code=400)
    logger.error("models API request failed: %s", exc.__class__.__name__)
    return JSONResponse({"error": f"the server could not do this ({exc.__class__.__name__})"}, status_code=500)


def _version(request: HttpRequest) -> tuple[str, int]:
    raw = request.path_params["version"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise ModelNotFound(f"no version {raw[:20]!r}: a version is a whole number")
    return request.path_params["name"], int(raw)


def _reason(data: dict[str, Any]) -> str:
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise UsageError('"reason" is required: say why (it is recorded with the change)')
    if len(reason) > MAX_REASON:
        raise UsageError(f'"reason" has {len(reason)} characters; the limit is {MAX_REASON}')
    return reason.strip()


def models_routes(runtime: Runtime) -> list[Route]:
    """The ``/api/models`` routes of the admin app."""
    reg = runtime.models

    def get(name: str, version: int) -> ModelVersion:
        try:
            return reg.get(name, version)
        except UsageError as exc:
            raise ModelNotFound(str(exc)) from None

    async def run(fn: Callable[[], Any]) -> Response:
        try:
            return JSONResponse(await asyncio.to_thread(fn))
        except DecorumError as exc:
            return _failure(exc)

    @needs("models.read")
    async def api_list(_: HttpRequest, __: Principal) -> Response:
        return await run(lambda: [m.summary() for m in reg.list()])

    def whole(name: str, version: int) -> dict[str, Any]:
        m = get(name, version)
        card = m.card
        figures = stats(runtime.db, AuditFilter(adapter=m.ref))
        card_md = m.path / "MODEL_CARD.md"
        test = card.get("test") or None
        compare = card.get("compare") or None
        return {"summary": m.summary(), "card": {k: v for k, v in card.items() if k not in ("test", "compare")},
                "history": [e for e in reg.history(m.name) if e["version"] == m.version],
                "evaluation": test, "router": card.get("router") or None,
                # decorum compare --register: the strategies' figures side by side (the whole report: compare.html)
                "compare": {k: compare.get(k) for k in ("strategies", "winner", "test", "engine", "templates",
                                                        "default_route", "stored_at")} if compare else None,
                # what the log says this version did: answers routed to it, by verdict and by reason
                "served": {"records": figures["total"], "verdicts": figures["verdicts"],
                           "block_rate": figures["block_rate"]["rate"]},
                "card_markdown": card_md.read_text(encoding="utf-8") if card_md.is_file() else None}

    @needs("models.read")
    async def api_show(request: HttpRequest, _: Principal) -> Response:
        try:
            name, version = _version(request)
        except DecorumError as exc:
            return _failure(exc)
        return await run(lambda: whole(name, version))

    @needs("models.read")
    async def api_loss(request: HttpRequest, _: Principal) -> Response:
        try:
            name, version = _version(request)
            m = await asyncio.to_thread(get, name, version)
        except DecorumError as exc:
            return _failure(exc)
        return Response(loss_chart(m.card), media_type="image/svg+xml")

    @needs("models.read")
    async def api_compare(request: HttpRequest, _: Principal) -> Response:
        try:
            name, version = _version(request)
            m = await asyncio.to_thread(get, name, version)
            report = m.card.get("compare")
            if not report:
                raise ModelNotFound(f"{m.ref} has no compare report; run decorum compare --register")
        except DecorumError as exc:
            return _failure(exc)
        filename = f"decorum-compare-{m.name}-{m.version}.html"
        return Response(html_report(report), media_type="text/html; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{filename}"'})

    def change(verb: str) -> Callable[[HttpRequest], Any]:
        @needs("models.promote")
        async def endpoint(request: HttpRequest, who: Principal) -> Response:
            try:
                name, version = _version(request)
                reason = _reason(await json_object(request, ("reason",)))
            except DecorumError as exc:
                return _failure(exc)

            def act() -> dict[str, Any]:
                after, before = runtime.change_model_stage(verb, name, version, actor=who.name, reason=reason,
                                                           surface="console")  # what the CLI calls
                logger.info("model %s %s by %s", verb, after.ref, who.name)
                return {**after.summary(), "from_stage": before}

            return await run(act)

        return endpoint

    return [
        Route("/api/models", api_list),
        Route("/api/models/{name}/{version}", api_show),
        Route("/api/models/{name}/{version}/loss.svg", api_loss),
        Route("/api/models/{name}/{version}/compare.html", api_compare),
        Route("/api/models/{name}/{version}/promote", change("promote"), methods=["POST"]),
        Route("/api/models/{name}/{version}/retire", change("retire"), methods=["POST"]),
    ]


__all__ = ["models_routes"]
