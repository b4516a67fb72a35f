"""The knowledge base on the admin listener: list, one entry, history, diff, add, edit, publish, roll back.

The console's Knowledge page is ``decorum knowledge`` over HTTP. Every route asks ``AccessControl`` for its
permission (``needs``: ``knowledge.read`` to read, ``knowledge.edit`` to save, ``knowledge.publish`` and
``knowledge.rollback`` to move what is served) and then acts through ``Runtime.knowledge_registry("console")``,
which checks the role again (an override also needs ``override``), runs the guardrails on a saved entry and
records each change as a knowledge event and an audit record with verdict ``change``.

Answers: 400 bad input (JSON, a field of the wrong type, too long, control characters, an unknown field), 401/403
from ``AccessControl`` or the registry, 404 an unknown entry or version (naming similar ids), 409 a change refused
in the current state (the entry exists, identical content, a stale form, already published, failed checks
without an override, four eyes, nothing to roll back to), **422 an entry the guardrails refused at save**: nothing
is stored, and the body carries the failing checks (``check``, ``field``, ``score``, ``threshold``) beside
``error``. Every error body is ``{"error": message}``. Bodies are capped by the listener (``MAX_BODY``: 413).

Example::

    routes = [*template_routes(runtime), *knowledge_routes(runtime)]
    # POST /api/knowledge {"id": "it-printer-jam", "title": "...", "body": "...", "message": "new"} -> 201
    # POST /api/knowledge/it-printer-jam/publish {"reason": "reviewed"}                            -> 200
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import replace
from typing import Any

from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from decorum.access import Principal
from decorum.bot.runtime import Runtime
from decorum.errors import DecorumError, UsageError
from decorum.knowledge.base import ID_RE, Entry, KnowledgeInvalid, dump_entry, entry_from_mapping
from decorum.knowledge.registry import MAX_REASON, KnowledgeRefused
from decorum.knowledge.store import EntryNotFound, KnowledgeStore
from decorum.web.auth import needs
from decorum.web.templates_api import MAX_MESSAGE, json_object, positive_int, side_by_side, text_field
from decorum.web.templates_api import failure as template_failure

logger = logging.getLogger(__name__)

CONTENT = ("title", "body", "topic", "domain")
ADD_FIELDS = ("id", *CONTENT, "message", "override", "reason")
EDIT_FIELDS = (*CONTENT, "message", "base", "override", "reason")


class StaleForm(UsageError):
    """An edit made on a version that is no longer the latest (HTTP 409): saving it would lose a change."""


def api_words(text: str) -> str:
    """The registry speaks to the CLI; here its flags are the request's fields."""
    text = re.sub(r"use `decorum knowledge edit (\S+) --file F`", r"send a new version to /api/knowledge/\1/versions",
                  text)
    text = text.replace("(`decorum knowledge list`)", "(GET /api/knowledge)")
    return (text.replace("--override --reason TEXT", '"override": true with a "reason"')
            .replace("--reason TEXT", 'a "reason"').replace("--reason", '"reason"'))


def failure(exc: DecorumError, *, conflict: bool = False) -> JSONResponse:
    """The error's answer: 422 with the failing checks for a refused entry, 404 for an unknown entry or version,
    400 bad input, 409 (``conflict``) a ``UsageError`` raised after the input was accepted; refusals and the
    rest as ``templates_api.failure``."""
    if isinstance(exc, KnowledgeRefused):
        failed = [{k: r[k] for k in ("check", "field", "score", "threshold", "explanation")}
                  for r in exc.checks.get("results", []) if not r["passed"]]
        return JSONResponse({"error": api_words(str(exc)), "saved": False, "checks": failed}, status_code=422)
    if isinstance(exc, EntryNotFound):
        return JSONResponse({"error": api_words(str(exc))}, status_code=404)
    if isinstance(exc, UsageError):
        return JSONResponse({"error": api_words(str(exc))}, status_code=409 if conflict else 400)
    return template_failure(exc)  # 401/403 in the server's words; anything else a logged 500


def _state(version: int, published: int | None) -> str:
    """The CLI's words: ``published``, ``draft`` (newer than what is served, or nothing is) or ``earlier version``."""
    if published == version:
        return "published"
    return "draft" if published is None or version > published else "earlier version"


def entry_detail(store: KnowledgeStore, entry_id: str, version: int | None = None) -> dict[str, Any]:
    """One version (None: the published one, else the latest) with its record, state and checks."""
    published = store.published_version(entry_id)
    entry = store.get(entry_id, version if version is not None else published)
    infos = store.version_info(entry_id)
    info = next(v for v in infos if v["version"] == entry.version)
    return {"id": entry.id, "version": entry.version, "ref": entry.ref, "title": entry.title, "topic": entry.topic,
            "domain": entry.domain, "body": entry.body, "sha256": entry.sha256, "published": published,
            "latest": infos[-1]["version"], "state": _state(entry.version, published), "author": info["author"],
            "created_at": info["created_at"], "message": info["message"], "checks": info["checks"]}


def _flag(data: dict[str, Any], field: str) -> bool:
    value = data.get(field, False)
    if not isinstance(value, bool):
        raise UsageError(f'"{field}" must be true or false, got {json.dumps(value)[:40]}')
    return value


def _override(data: dict[str, Any]) -> tuple[bool, str]:
    """``override`` and ``reason`` of a change: an override needs a reason (it is recorded with the change)."""
    override = _flag(data, "override")
    reason = text_field(data, "reason", required=False, limit=MAX_REASON)
    if override and not reason:
        raise UsageError('"override" needs a "reason" (it is recorded with the change)')
    return override, reason


def _content(data: dict[str, Any]) -> dict[str, Any]:
    """The entry's fields of a body; JSON ``null`` is absent. Types and limits are ``entry_from_mapping``'s."""
    return {k: data[k] for k in CONTENT if data.get(k) is not None}


def knowledge_routes(runtime: Runtime) -> list[Route]:
    """The knowledge routes of the admin app."""
    store = runtime.knowledge
    registry = runtime.knowledge_registry("console")

    @needs("knowledge.read", surface="console")
    async def api_list(request: HttpRequest, _: Principal) -> JSONResponse:
        domain = request.query_params.get("domain") or None
        if domain is not None and not ID_RE.match(domain):
            return failure(UsageError(f'"domain" must be a domain name (lower-case letters, digits and "-"), '
                                      f"got {json.dumps(domain[:64])}"))
        return JSONResponse(await asyncio.to_thread(store.overview, domain))

    @needs("knowledge.read", surface="console")
    async def api_entry(request: HttpRequest, _: Principal) -> JSONResponse:
        try:
            raw = request.query_params.get("version")
            version = None if raw is None else positive_int(raw, "version", text=True)
            return JSONResponse(await asyncio.to_thread(entry_detail, store, request.path_params["id"], version))
        except DecorumError as exc:
            return failure(exc)

    def history(entry_id: str) -> dict[str, Any]:
        hist = registry.history(entry_id)
        for v in hist["versions"]:
            v["state"] = _state(v["version"], hist["published"])
        return {**hist, "latest": hist["versions"][-1]["version"], "stack": registry.published_stack(entry_id)}

    @needs("knowledge.read", surface="console")
    async def api_history(request: HttpRequest, _: Principal) -> JSONResponse:
        try:
            return JSONResponse(await asyncio.to_thread(history, request.path_params["id"]))
        except DecorumError as exc:
            return failure(exc)

    @needs("knowledge.read", surface="console")
    async def api_diff(request: HttpRequest, _: Principal) -> JSONResponse:
        entry_id = request.path_params["id"]
        try:
            a = positive_int(request.query_params.get("a"), "a", text=True)
            b = positive_int(request.query_params.get("b"), "b", text=True)

            def compare() -> dict[str, Any]:
                ea, eb = store.get(entry_id, a), store.get(entry_id, b)
                rows = side_by_side(dump_entry(ea).splitlines(), dump_entry(eb).splitlines())
                return {"id": entry_id, "a": a, "b": b, "unified": registry.diff(ea, eb), "rows": rows,
                        "same": all(r["kind"] == "equal" for r in rows)}

            return JSONResponse(await asyncio.to_thread(compare))
        except DecorumError as exc:
            return failure(exc)

    async def save(request: HttpRequest, who: Principal, *, action: str) -> JSONResponse:
        try:
            data = await json_object(request, ADD_FIELDS if action == "add" else EDIT_FIELDS)
            given = _content(data)
            base: int | None = None
            new: Entry | None = None  # an edit's entry is the latest version with the given fields over it
            if action == "add":
                entry_id = data.get("id")
                if not isinstance(entry_id, str):
                    raise UsageError(f'"id" must be an entry id (lower-case letters, digits and "-"), got '
                                     f"{json.dumps(entry_id)[:40]}")
                new, _ = entry_from_mapping({"id": entry_id, **given})  # KnowledgeInvalid names the field
            else:
                entry_id = request.path_params["id"]
                if not given:
                    raise UsageError('an edit needs at least one of "title", "body", "topic", "domain"')
                base = None if data.get("base") is None else positive_int(data["base"], "base")
            message = text_field(data, "message", required=False, limit=MAX_MESSAGE)
            override, reason = _override(data)
        except DecorumError as exc:
            return failure(exc)

        def store_it() -> dict[str, Any]:
            entry = new
            if entry is None:  # as ``decorum knowledge edit ID --title/--body/--topic``
                latest = store.get(entry_id)  # EntryNotFound, naming similar ids
                if base is not None and latest.version != base:
                    raise StaleForm(f"{entry_id} v{latest.version} was saved after this form was opened (on "
                                    f"v{base}); reload the entry and make the change again so that none is lost")
                entry = replace(entry_from_mapping({"id": entry_id, **latest.content(), **given})[0], version=0)
            stored = registry.save(entry, action=action, by=who, message=message, override=override, reason=reason)
            return entry_detail(store, stored.id, stored.version)

        try:
            return JSONResponse(await asyncio.to_thread(store_it), status_code=201)
        except DecorumError as exc:  # a field of the merged entry is bad input (400); the rest is the state's
            return failure(exc, conflict=not isinstance(exc, KnowledgeInvalid))

    @needs("knowledge.edit", surface="console")
    async def api_add(request: HttpRequest, who: Principal) -> JSONResponse:
        return await save(request, who, action="add")

    @needs("knowledge.edit", surface="console")
    async def api_edit(request: HttpRequest, who: Principal) -> JSONResponse:
        return await save(request, who, action="edit")

    def moved(entry_id: str, change: Any) -> dict[str, Any]:
        entry = change()
        event = store.events(entry_id)[-1]  # the move just made: its from_version
        return {"id": entry_id, "version": entry.version, "ref": entry.ref, "from_version": event["from_version"],
                "action": event["action"], "override": event["override"], "reason": event["reason"],
                "published": store.published_version(entry_id)}

    @needs("knowledge.publish", surface="console")
    async def api_publish(request: HttpRequest, who: Principal) -> JSONResponse:
        entry_id = request.path_params["id"]
        try:
            data = await json_object(request, ("version", "reason", "override"))
            version = None if data.get("version") is None else positive_int(data["version"], "version")
            override, reason = _override(data)
        except DecorumError as exc:
            return failure(exc)
        try:
            out = await asyncio.to_thread(moved, entry_id, lambda: registry.publish(
                entry_id, version, by=who, reason=reason, override=override))
        except DecorumError as exc:
            return failure(exc, conflict=True)
        return JSONResponse(out)

    @needs("knowledge.rollback", surface="console")
    async def api_rollback(request: HttpRequest, who: Principal) -> JSONResponse:
        entry_id = request.path_params["id"]
        try:
            data = await json_object(request, ("reason",))
            reason = text_field(data, "reason", required=False, limit=MAX_REASON)
        except DecorumError as exc:
            return failure(exc)
        try:
            out = await asyncio.to_thread(moved, entry_id, lambda: registry.rollback(entry_id, by=who, reason=reason))
        except DecorumError as exc:
            return failure(exc, conflict=True)
        return JSONResponse(out)

    return [
        Route("/api/knowledge", api_list),
        Route("/api/knowledge", api_add, methods=["POST"]),
        Route("/api/knowledge/{id}", api_entry),
        Route("/api/knowledge/{id}/history", api_history),
        Route("/api/knowledge/{id}/diff", api_diff),
        Route("/api/knowledge/{id}/versions", api_edit, methods=["POST"]),
        Route("/api/knowledge/{id}/publish", api_publish, methods=["POST"]),
        Route("/api/knowledge/{id}/rollback", api_rollback, methods=["POST"]),
    ]


__all__ = ["entry_detail", "knowledge_routes"]
