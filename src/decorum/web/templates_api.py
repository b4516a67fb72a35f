"""The template registry on the admin listener: history, versions, create and edit, diff, publish, roll back, test.

Every route asks ``AccessControl`` for its permission (``needs``) and then acts through
``Runtime.template_registry("console")``, which checks the role again and records each change as a template
event and an audit record with verdict ``change``. A template travels as the YAML text of a template file
(``decorum.prompts.yaml_format``): what ``GET .../versions/N`` returns as ``yaml`` is what an edit sends back.

Answers: 400 bad input (JSON, fields, YAML, a template that fails validation such as template injection),
401/403 from ``AccessControl`` or the registry, 404 an unknown template or version, 409 a change the registry
refuses in the current state (identical content, label already there, failed checks or tests, nothing to roll
back to, four eyes). Every error body is ``{"error": message}``.

Example::

    routes = [Route("/api/templates", api_templates), *template_routes(runtime)]
"""

from __future__ import annotations

import asyncio
import difflib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from decorum.access import Principal
from decorum.bot.runtime import Runtime
from decorum.errors import (
    DecorumError,
    Forbidden,
    TemplateInvalid,
    TemplateNotFound,
    Unauthenticated,
    UsageError,
)
from decorum.prompts.base import NAME_RE, PRODUCTION, Template
from decorum.prompts.registry import LABEL_RE, MAX_REASON
from decorum.prompts.sql_store import SqlTemplateStore
from decorum.prompts.yaml_format import MAX_FILE_BYTES, dump_template, parse_yaml, template_from_data
from decorum.web.auth import needs, refusal
from decorum.web.security import json_body

logger = logging.getLogger(__name__)

MAX_MESSAGE = 1000  # as ``decorum prompts create|edit --message``
MAX_VERSION = 2**31 - 1  # a version number the database can hold (a larger one is 400, not an overflow)


# -- the side-by-side diff ------------------------------------------------------------------------------------
def side_by_side(left: Sequence[str], right: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of a two-column diff of two texts' lines.

    Each row is ``{kind, left_no, left, right_no, right}``: ``kind`` is ``equal``, ``replace`` (a line changed),
    ``delete`` (only on the left) or ``insert`` (only on the right); line numbers count from 1 and the side a
    row lacks is ``None``. A changed block of unequal length pairs its lines in order, the rest are deletes or
    inserts.

    Example::

        side_by_side(["a", "b"], ["a", "c", "d"])
        # [{"kind": "equal", "left_no": 1, "left": "a", "right_no": 1, "right": "a"},
        #  {"kind": "replace", "left_no": 2, "left": "b", "right_no": 2, "right": "c"},
        #  {"kind": "insert", "left_no": None, "left": None, "right_no": 3, "right": "d"}]
    """
    rows: list[dict[str, Any]] = []
    matcher = difflib.SequenceMatcher(a=list(left), b=list(right), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):
            i = i1 + k if i1 + k < i2 else None
            j = j1 + k if j1 + k < j2 else None
            kind = tag if tag in ("equal", "delete", "insert") else (
                "replace" if i is not None and j is not None else "delete" if j is None else "insert")
            rows.append({"kind": kind,
                         "left_no": None if i is None else i + 1, "left": None if i is None else left[i],
                         "right_no": None if j is None else j + 1, "right": None if j is None else right[j]})
    return rows


def editable_yaml(tpl: Template) -> str:
    """A stored version as the text of a template file (what an edit sends back, what diffs compare)."""
    return dump_template(replace(tpl, legacy=False))


# -- reading the request --------------------------------------------------------------------------------------
async def json_object(request: HttpRequest, allowed: Sequence[str]) -> dict[str, Any]:
    """The request's JSON object; a key outside ``allowed`` is refused by name (a typo must not pass silently)."""
    data = await json_body(request)  # the one JSON reader: UTF-8, depth, lone surrogates (decorum.web.security)
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise UsageError(f"unknown field {unknown[0]!r}; this request takes: {', '.join(allowed)}")
    return data


def positive_int(value: Any, field: str, *, text: bool = False) -> int:
    """A version number: in JSON an integer (not a boolean, not a string); ``text`` (path, query): digits."""
    if text and isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_VERSION:
        raise UsageError(f'"{field}" must be a version number (an integer from 1), got {json.dumps(value)[:40]}')
    return value


def text_field(data: dict[str, Any], field: str, *, required: bool, limit: int) -> str:
    value = data.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise UsageError(f'"{field}" must be a string')
    value = value.strip()
    if required and not value:
        raise UsageError(f'"{field}" must not be empty')
    if len(value) > limit:
        raise UsageError(f'"{field}" has {len(value)} characters; the limit is {limit}')
    return value


def label_field(data: dict[str, Any]) -> str:
    label = data.get("label")
    if label is None or label == "":
        return PRODUCTION
    if not isinstance(label, str) or not LABEL_RE.match(label):
        raise UsageError(f'"label" must be a label name (lower-case letters, digits, "-" and "_"), '
                         f"got {json.dumps(label)}")
    return label


def parse_template(text: Any, name: str) -> Template:
    """The template in ``text`` (the YAML of a template file) for ``name``; ``TemplateInvalid`` says what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError('"yaml" must be the template file\'s YAML text')
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise TemplateInvalid(f"yaml: over {MAX_FILE_BYTES:,} bytes; a template file may have at most that")
    if "\x00" in text:
        raise TemplateInvalid("yaml: holds NUL characters; a template file is text")
    tpl, _ = template_from_data(parse_yaml(text, "yaml"), "yaml", name=name)
    return tpl


# -- answers -------------------------------------------------------------------------------------------------
def failure(exc: DecorumError, *, conflict: bool = False,
            not_found: tuple[type[Exception], ...] = (TemplateNotFound,)) -> JSONResponse:
    """The error's answer (the admin API's template and policy routes): 401/403 refusals, 404 for ``not_found``,
    400 invalid input, 409 (``conflict``) a ``UsageError`` raised by the registry after the input was accepted."""
    if isinstance(exc, Unauthenticated | Forbidden):
        return refusal(exc)
    if isinstance(exc, not_found):
        return JSONResponse({"error": str(exc)}, status_code=404)
    if isinstance(exc, TemplateInvalid):
        return JSONResponse({"error": str(exc)}, status_code=400)
    if isinstance(exc, UsageError):
        return JSONResponse({"error": str(exc)}, status_code=409 if conflict else 400)
    logger.error("admin API request failed: %s", exc.__class__.__name__)
    return JSONResponse({"error": f"the server could not do this ({exc.__class__.__name__})"}, status_code=500)


def version_detail(store: SqlTemplateStore, name: str, version: int) -> dict[str, Any]:
    """One version: its content (as fields and as YAML), its record, labels, checks and test runs."""
    tpl = store.get(name, version)
    info = next(v for v in store.version_info(name) if v["version"] == version)
    return {"name": tpl.name, "version": tpl.version, "ref": tpl.ref, "description": tpl.description,
            "strategy": tpl.strategy, "sha256": info["sha256"], "legacy": tpl.legacy, "content": tpl.body(),
            "yaml": editable_yaml(tpl), "author": info["author"], "created_at": info["created_at"],
            "message": info["message"], "archived_at": info["archived_at"], "checks": info["checks"],
            "labels": sorted(lab for lab, v in store.labels(name).items() if v == version),
            "test_runs": store.test_runs(name, version)}


def template_routes(runtime: Runtime) -> list[Route]:
    """The template routes of the admin app (``GET /api/templates`` itself stays in ``decorum.web.app``)."""
    store = runtime.templates
    registry = runtime.template_registry("console")

    def history(name: str) -> dict[str, Any]:
        hist = registry.history(name)
        last_run: dict[int, dict[str, Any]] = {}
        for run in store.test_runs(name):
            last_run[run["version"]] = run
        for v in hist["versions"]:
            v["labels"] = sorted(lab for lab, n in hist["labels"].items() if n == v["version"])
            run = last_run.get(v["version"])
            v["tests"] = None if run is None else {k: run[k] for k in ("id", "passed", "at", "actor")}
        latest = store.latest(name)
        return {**hist, "production": hist["labels"].get(PRODUCTION), "latest": latest.version,
                "description": latest.description}

    @needs("templates.read", surface="console")
    async def api_history(request: HttpRequest, _: Principal) -> JSONResponse:
        try:
            return JSONResponse(await asyncio.to_thread(history, request.path_params["name"]))
        except DecorumError as exc:
            return failure(exc)

    @needs("templates.read", surface="console")
    async def api_version(request: HttpRequest, _: Principal) -> JSONResponse:
        try:
            version = positive_int(request.path_params["version"], "version", text=True)
            return JSONResponse(await asyncio.to_thread(version_detail, store, request.path_params["name"], version))
        except DecorumError as exc:
            return failure(exc)

    @needs("templates.read", surface="console")
    async def api_diff(request: HttpRequest, _: Principal) -> JSONResponse:
        name = request.path_params["name"]
        try:
            a = positive_int(request.query_params.get("a"), "a", text=True)
            b = positive_int(request.query_params.get("b"), "b", text=True)

            def compare() -> dict[str, Any]:
                ta, tb = store.get(name, a), store.get(name, b)
                rows = side_by_side(editable_yaml(ta).splitlines(), editable_yaml(tb).splitlines())
                return {"name": name, "a": a, "b": b, "unified": registry.diff(ta, tb), "rows": rows,
                        "same": all(r["kind"] == "equal" for r in rows)}

            return JSONResponse(await asyncio.to_thread(compare))
        except DecorumError as exc:
            return failure(exc)

    async def save(request: HttpRequest, who: Principal, *, action: str) -> JSONResponse:
        try:
            fields = ("name", "yaml", "message") if action == "create" else ("yaml", "message")
            data = await json_object(request, fields)
            if action == "create":
                name = data.get("name")
                if not isinstance(name, str) or not NAME_RE.match(name):
                    raise UsageError(f'"name" must be a template name (lower-case letters, digits, "-" and "_", '
                                     f"starting with a letter), got {json.dumps(name)}")
            else:
                name = request.path_params["name"]
            tpl = parse_template(data.get("yaml"), name)
            message = text_field(data, "message", required=True, limit=MAX_MESSAGE)
        except DecorumError as exc:
            return failure(exc)

        def store_it() -> dict[str, Any]:
            stored = registry.save(tpl, action=action, by=who, message=message)
            return version_detail(store, stored.name, stored.version)

        try:
            return JSONResponse(await asyncio.to_thread(store_it), status_code=201)
        except DecorumError as exc:
            return failure(exc, conflict=True)

    @needs("templates.edit", surface="console")
    async def api_create(request: HttpRequest, who: Principal) -> JSONResponse:
        return await save(request, who, action="create")

    @needs("templates.edit", surface="console")
    async def api_edit(request: HttpRequest, who: Principal) -> JSONResponse:
        return await save(request, who, action="edit")

    def label_move(name: str, label: str, change: Callable[[], Template]) -> dict[str, Any]:
        tpl = change()
        event = store.events(name, label)[-1]  # the move just made: its from_version
        return {"name": name, "label": label, "version": tpl.version, "ref": tpl.ref,
                "from_version": event["from_version"], "action": event["action"], "override": event["override"],
                "labels": store.labels(name)}

    @needs("templates.publish", surface="console")
    async def api_publish(request: HttpRequest, who: Principal) -> JSONResponse:
        name = request.path_params["name"]
        try:
            data = await json_object(request, ("version", "label", "reason", "override"))
            version = positive_int(data.get("version"), "version")
            label = label_field(data)
            reason = text_field(data, "reason", required=False, limit=MAX_REASON)
            override = data.get("override", False)
            if not isinstance(override, bool):
                raise UsageError(f'"override" must be true or false, got {json.dumps(override)}')
            if override and not reason:
                raise UsageError('"override" needs a "reason" (it is recorded with the change)')
        except DecorumError as exc:
            return failure(exc)
        try:
            out = await asyncio.to_thread(label_move, name, label, lambda: registry.publish(
                name, version, by=who, label=label, reason=reason, override=override))
        except DecorumError as exc:
            return failure(exc, conflict=True)
        return JSONResponse(out)

    @needs("templates.rollback", surface="console")
    async def api_rollback(request: HttpRequest, who: Principal) -> JSONResponse:
        name = request.path_params["name"]
        try:
            data = await json_object(request, ("label", "reason"))
            label = label_field(data)
            reason = text_field(data, "reason", required=False, limit=MAX_REASON)
        except DecorumError as exc:
            return failure(exc)
        try:
            out = await asyncio.to_thread(label_move, name, label,
                                          lambda: registry.rollback(name, by=who, label=label, reason=reason))
        except DecorumError as exc:
            return failure(exc, conflict=True)
        return JSONResponse(out)

    @needs("templates.edit", surface="console")
    async def api_test(request: HttpRequest, who: Principal) -> JSONResponse:
        name = request.path_params["name"]
        try:
            data = await json_object(request, ("version",))
            version = None if data.get("version") is None else positive_int(data["version"], "version")
        except DecorumError as exc:
            return failure(exc)
        try:
            run = await asyncio.to_thread(registry.run_tests, name, version, by=who)
        except DecorumError as exc:
            return failure(exc, conflict=True)
        return JSONResponse(run)

    return [
        Route("/api/templates", api_create, methods=["POST"]),
        Route("/api/templates/{name}", api_history),
        Route("/api/templates/{name}/versions", api_edit, methods=["POST"]),
        Route("/api/templates/{name}/versions/{version}", api_version),
        Route("/api/templates/{name}/diff", api_diff),
        Route("/api/templates/{name}/publish", api_publish, methods=["POST"]),
        Route("/api/templates/{name}/rollback", api_rollback, methods=["POST"]),
        Route("/api/templates/{name}/test", api_test, methods=["POST"]),
    ]


__all__ = ["side_by_side", "template_routes"]
