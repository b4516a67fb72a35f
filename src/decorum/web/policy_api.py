"""Routing and guardrail policy on the admin listener: what applies now, versions, change, test, publish, roll back.

Every route asks ``AccessControl`` for its permission (``needs``: ``routing.read`` to read, ``policy.edit`` to
change) and then acts through ``Runtime.live_config("console")`` (``decorum.bot.live_config``), which checks the
role again (an override also needs ``override``) and records each change as a live configuration event and an
audit record with verdict ``change``. A change is a new version of the live *overlay*: the keys that may change
without a restart, over the configuration file. It travels as YAML (``yaml``, what ``GET`` returns for each
version) or as ``decorum policy set``-style assignments over the active overlay (``set``).

Answers: 400 bad input (JSON, fields, YAML, an overlay the guard refuses: an unknown or non-live key, a value
out of range, a template without a production version, a domain this deployment cannot serve), 401/403 from
``AccessControl`` or the live configuration, 404 an unknown version, 409 a change refused in the current state
(identical content, already active, the test gate failed, nothing to roll back to). Every error body is
``{"error": message}``.

Example::

    routes = [*template_routes(runtime), *policy_routes(runtime)]
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from decorum.access import Principal
from decorum.bot.live_config import (
    LIVE_CHECK_KEYS,
    LIVE_POLICY_KEYS,
    LIVE_ROUTING_KEYS,
    MAX_REASON,
    LiveConfig,
    set_value,
)
from decorum.bot.runtime import Runtime
from decorum.errors import DecorumError, UsageError
from decorum.prompts.yaml_format import MAX_FILE_BYTES, dump_yaml, parse_yaml
from decorum.web.auth import needs
from decorum.web.templates_api import MAX_MESSAGE, json_object, positive_int, side_by_side, text_field
from decorum.web.templates_api import failure as template_failure

logger = logging.getLogger(__name__)

MAX_ASSIGNMENTS = 100  # ``set`` items in one request


class VersionNotFound(UsageError):
    """No live configuration version of that number (HTTP 404)."""


def failure(exc: DecorumError, *, conflict: bool = False) -> JSONResponse:
    """``templates_api.failure`` with ``VersionNotFound`` as the 404."""
    return template_failure(exc, conflict=conflict, not_found=(VersionNotFound,))


def known(live: LiveConfig, version: int) -> dict[str, Any]:
    """The stored version; ``VersionNotFound`` (naming the versions there are) when there is none."""
    try:
        return live.get(version)
    except UsageError as exc:
        raise VersionNotFound(str(exc)) from exc


def overlay_yaml(overlay: dict[str, Any]) -> str:
    """An overlay as the YAML an edit sends back (an empty one shows both sections, as ``decorum policy edit``)."""
    return dump_yaml(overlay or {"policy": {}, "routing": {}})


def last_run(version: dict[str, Any]) -> dict[str, Any] | None:
    """The latest test run of a version, without its per-case results (``None``: never tested)."""
    if not version["tests"]:
        return None
    run = version["tests"][-1]
    return {k: run[k] for k in ("passed", "summary", "at", "actor")}


def overview(live: LiveConfig) -> dict[str, Any]:
    """What applies now (policy and routing in full), every version with its latest test run, and the events."""
    live.refresh()  # as before each answer: ``applied`` then says what this process serves
    effective = live.effective()
    hist = live.history()
    versions = [{**{k: v[k] for k in ("version", "sha256", "author", "message", "created_at", "overlay")},
                 "yaml": overlay_yaml(v["overlay"]), "tests": last_run(v), "runs": len(v["tests"])}
                for v in hist["versions"]]
    return {"active": hist["active"], "applied": live.applied, "effective": effective,
            "yaml": overlay_yaml(effective["overlay"]), "versions": versions, "events": hist["events"],
            "live_keys": {"policy": list(LIVE_POLICY_KEYS), "checks": list(LIVE_CHECK_KEYS),
                          "routing": list(LIVE_ROUTING_KEYS)}}


def parse_overlay(text: Any) -> Any:
    """The overlay in ``text`` (YAML); its shape is checked by ``check_overlay``."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError('"yaml" must be the YAML text of a live configuration (policy and routing)')
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise UsageError(f"yaml: over {MAX_FILE_BYTES:,} bytes; a live configuration may have at most that")
    if "\x00" in text:
        raise UsageError("yaml: holds NUL characters; a live configuration is text")
    return parse_yaml(text, "yaml")


def assignments(value: Any) -> list[tuple[str, str]]:
    """``set``: a list of ``KEY=VALUE`` strings, as ``decorum policy set`` takes them."""
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise UsageError('"set" must be a non-empty list of "KEY=VALUE" strings')
    if len(value) > MAX_ASSIGNMENTS:
        raise UsageError(f'"set" has {len(value)} items; the limit is {MAX_ASSIGNMENTS}')
    out = []
    for item in value:
        key, sep, raw = item.partition("=")
        if not sep:
            raise UsageError(f"{item!r}: expected KEY=VALUE")
        out.append((key.strip(), raw))
    return out


def guarded(live: LiveConfig, data: dict[str, Any]) -> dict[str, Any]:
    """The overlay a save request asks for, through the guard: shape, merged over the file, routing servable."""
    if ("yaml" in data) == ("set" in data):
        raise UsageError('send either "yaml" (the whole overlay) or "set" (["KEY=VALUE", ...] over the active one)')
    if "yaml" in data:
        overlay = parse_overlay(data["yaml"])
    else:
        items = assignments(data["set"])
        active = live.active()
        overlay = active["overlay"] if active else {}
        for key, raw in items:
            overlay = set_value(overlay, key, raw)
    return live.guard(overlay)


def version_detail(version: dict[str, Any]) -> dict[str, Any]:
    """One version in full: its overlay (also as YAML) and every test run with its per-case results."""
    return {**version, "yaml": overlay_yaml(version["overlay"])}


def move(live: LiveConfig, action: str) -> dict[str, Any]:
    """The publish or rollback just made, read back from its event, with what is active now."""
    event = next(e for e in reversed(live.events()) if e["action"] == action)
    active = live.active()
    return {"action": action, "version": event["version"], "from_version": event["from_version"],
            "override": event["override"], "reason": event["reason"],
            "sha256": active["sha256"] if active else None, "tests": last_run(active) if active else None}


def policy_routes(runtime: Runtime) -> list[Route]:
    """The routing and policy routes of the admin app."""
    live = runtime.live_config("console")

    @needs("routing.read", surface="console")
    async def api_overview(_: HttpRequest, __: Principal) -> JSONResponse:
        try:
            return JSONResponse(await asyncio.to_thread(overview, live))
        except DecorumError as exc:
            return failure(exc)

    @needs("routing.read", surface="console")
    async def api_version(request: HttpRequest, _: Principal) -> JSONResponse:
        try:
            version = positive_int(request.path_params["version"], "version", text=True)
            return JSONResponse(version_detail(await asyncio.to_thread(known, live, version)))
        except DecorumError as exc:
            return failure(exc)

    @needs("routing.read", surface="console")
    async def api_diff(request: HttpRequest, _: Principal) -> JSONResponse:
        try:
            a = positive_int(request.query_params.get("a"), "a", text=True)
            b = positive_int(request.query_params.get("b"), "b", text=True)

            def compare() -> dict[str, Any]:
                va, vb = known(live, a), known(live, b)
                rows = side_by_side(overlay_yaml(va["overlay"]).splitlines(), overlay_yaml(vb["overlay"]).splitlines())
                return {"a": a, "b": b, "unified": live.diff(a, b), "rows": rows,
                        "same": all(r["kind"] == "equal" for r in rows)}

            return JSONResponse(await asyncio.to_thread(compare))
        except DecorumError as exc:
            return failure(exc)

    @needs("policy.edit", surface="console")
    async def api_save(request: HttpRequest, who: Principal) -> JSONResponse:
        try:
            data = await json_object(request, ("yaml", "set", "message"))
            message = text_field(data, "message", required=True, limit=MAX_MESSAGE)
            overlay = await asyncio.to_thread(guarded, live, data)
        except DecorumError as exc:
            return failure(exc)
        try:
            saved = await asyncio.to_thread(live.save, overlay, by=who, message=message)
        except DecorumError as exc:
            return failure(exc, conflict=True)
        return JSONResponse(version_detail(saved), status_code=201)

    @needs("policy.edit", surface="console")
    async def api_test(request: HttpRequest, who: Principal) -> JSONResponse:
        try:
            version = positive_int(request.path_params["version"], "version", text=True)
            await json_object(request, ())
            await asyncio.to_thread(known, live, version)
        except DecorumError as exc:
            return failure(exc)
        try:
            run = await asyncio.to_thread(live.run_tests, version, by=who)
        except DecorumError as exc:
            return failure(exc, conflict=True)
        return JSONResponse({"version": version, **run})

    @needs("policy.edit", surface="console")
    async def api_publish(request: HttpRequest, who: Principal) -> JSONResponse:
        try:
            version = positive_int(request.path_params["version"], "version", text=True)
            data = await json_object(request, ("reason", "override"))
            reason = text_field(data, "reason", required=False, limit=MAX_REASON)
            override = data.get("override", False)
            if not isinstance(override, bool):
                raise UsageError(f'"override" must be true or false, got {json.dumps(override)}')
            if override and not reason:
                raise UsageError('"override" needs a "reason" (it is recorded with the change)')
            await asyncio.to_thread(known, live, version)
        except DecorumError as exc:
            return failure(exc)

        def publish() -> dict[str, Any]:
            live.publish(version, by=who, reason=reason, override=override)
            return move(live, "publish")

        try:
            return JSONResponse(await asyncio.to_thread(publish))
        except DecorumError as exc:
            return failure(exc, conflict=True)

    @needs("policy.edit", surface="console")
    async def api_rollback(request: HttpRequest, who: Principal) -> JSONResponse:
        try:
            data = await json_object(request, ("reason",))
            reason = text_field(data, "reason", required=False, limit=MAX_REASON)
        except DecorumError as exc:
            return failure(exc)

        def rollback() -> dict[str, Any]:
            live.rollback(by=who, reason=reason)
            return move(live, "rollback")

        try:
            return JSONResponse(await asyncio.to_thread(rollback))
        except DecorumError as exc:
            return failure(exc, conflict=True)

    return [
        Route("/api/policy", api_overview),
        Route("/api/policy", api_save, methods=["POST"]),
        Route("/api/policy/diff", api_diff),
        Route("/api/policy/rollback", api_rollback, methods=["POST"]),
        Route("/api/policy/{version}", api_version),
        Route("/api/policy/{version}/test", api_test, methods=["POST"]),
        Route("/api/policy/{version}/publish", api_publish, methods=["POST"]),
    ]


__all__ = ["policy_routes"]
