"""The audit workbench on the admin listener: search, figures, charts, one record whole, exports, review queue.

Every filter is an ``AuditFilter`` (``decorum.audit.query``) read from the query string (or, to draw
a review sample, from the JSON body's ``filter``): the fields ``since until verdict strategy template model
adapter engine check min_score max_score action surface channel user feedback``. Reading needs ``audit.read``,
exports ``audit.export``, drawing and marking review samples ``audit.review`` (auditor and above for all three).

Routes::

    GET  /api/audit?FILTER&limit=50&before=SEQ     {records, next_before, total, filter, limit}
    GET  /api/audit/stats?FILTER                   query.stats
    GET  /api/audit/charts/NAME.svg?FILTER         image/svg+xml: verdicts-over-time, strategy-mix, scores-CHECK,
                                                   block-rate-by-template, feedback-by-strategy
    GET  /api/audit/verify                         {ok, checked, first_bad_id, reason}; 409 when the chain is broken
    GET  /api/audit/find?ref=REFERENCE             {id}: the record a refusal's or an answer's reference names
    GET  /api/audit/ID                             {note, verify, chain, feedback, template_history, texts_kept}
    POST /api/audit/ID/text  {}                    {texts: {question, answer}, record}: the kept texts (within
                                                   retention), revealed; each reveal is an audit.text_read record
    POST /api/audit/export/checkpoint  {filter}    {upto, checkpoint, count}: sign the log's head to pin an export
                                                   to; ``count``: the records matching ``filter`` it will hold
    GET  /api/audit/export?format=csv|jsonl[&upto=SEQ]&FILTER   the export, streamed (attachment); without
                                                   ``upto`` a checkpoint is signed first. X-Decorum-Export-Upto: SEQ
    GET  /api/audit/export/manifest?format=&upto=SEQ&FILTER     the signed manifest of that same export
    GET  /api/audit/reviews                        {samples: [...]}
    POST /api/audit/reviews  {filter, n}           201 {sample, items, summary}
    GET  /api/audit/reviews/SAMPLE                 {sample, items, summary}
    POST /api/audit/reviews/SAMPLE/NOTE_ID  {mark, comment}     the item, marked
    GET  /api/audit/reviews/SAMPLE/export.csv      the sample's marks (``reviews/export.csv``: every sample's)
    GET  /api/audit/reviews/false-positives/export.jsonl   marked "This was wrong" reports whose text was kept, as
                                                   labelled rows {text, check, stage, label, ...} (audited)

The standing sample ``false-positives`` holds the askers' "This was wrong" reports (``review.file_report``);
its items carry ``report`` (the check that blocked, score, threshold, and the text only where the asker kept it).

Answers: 400 bad input (the ``UsageError`` text names the field), 401/403 from ``AccessControl``, 404 an
unknown record, chart, checkpoint, sample or record outside the sample, 409 a mark another reviewer made (and
a broken chain on ``verify``). Every error body is ``{"error": message}``. Database work runs off the event
loop; an export streams a batch at a time (never whole in memory) from a worker thread.

An export and its manifest must name the same selection: the same format, ``upto`` and filter. A relative
``since`` (``7d``) moves with the clock between the two requests; the console sends absolute times.

Example::

    routes = [*audit_routes(runtime), *template_routes(runtime)]
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import select
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from decorum.access import Principal
from decorum.audit import review as audit_review
from decorum.audit.checkpoints import Signer, key_id
from decorum.audit.export import FORMATS, build_manifest, start_export, stream_export
from decorum.audit.query import (
    PAGE_MAX,
    AuditFilter,
    chain_neighbours,
    count,
    kept_texts,
    search,
    stats,
    template_changes,
)
from decorum.audit.records import derived_fields
from decorum.bot.runtime import Runtime
from decorum.bot.slack.audit_admin import BadReference, load_record, parse_ref
from decorum.charts import bar_chart, stacked_bar_chart
from decorum.errors import DecorumError, Forbidden, Unauthenticated, UsageError
from decorum.store.tables import AuditCheckpointRow, FeedbackRow
from decorum.web.auth import needs, refusal
from decorum.web.templates_api import json_object

logger = logging.getLogger(__name__)

CHARTS = ("verdicts-over-time", "strategy-mix", "block-rate-by-template", "feedback-by-strategy")
# red only for failures (errors); what the guardrails blocked is amber, their job done
VERDICT_COLORS = {"answered": "#16a34a", "blocked_input": "#d97706", "blocked_output": "#c2410c", "error": "#b91c1c",
                  "change": "#64748b"}
MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}
SVG = "image/svg+xml"


class AuditNotFound(UsageError):
    """No audit record, chart or checkpoint by that name (HTTP 404)."""


def failure(exc: DecorumError) -> Response:
    """401/403 refusals, 404 unknown things, 409 a review conflict, 400 any other ``UsageError``."""
    if isinstance(exc, Unauthenticated | Forbidden):
        return refusal(exc)
    if isinstance(exc, AuditNotFound | audit_review.ReviewNotFound):
        return JSONResponse({"error": str(exc)}, status_code=404)
    if isinstance(exc, audit_review.ReviewConflict):
        return JSONResponse({"error": str(exc)}, status_code=409)
    if isinstance(exc, UsageError):
        return JSONResponse({"error": str(exc)}, status_code=400)
    logger.error("audit API request failed: %s", exc.__class__.__name__)
    return JSONResponse({"error": f"the server could not do this ({exc.__class__.__name__})"}, status_code=500)


# -- reading the request --------------------------------------------------------------------------------------
def query(request: HttpRequest, *, also: tuple[str, ...] = ()) -> tuple[AuditFilter, dict[str, str]]:
    """The filter in the query string, and the other parameters this route takes (``also``).

    A parameter given twice is refused (a list is one comma-separated value); an unknown one by ``AuditFilter``.
    """
    values: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in values:
            raise UsageError(f"audit filter {key}: given twice; give one value (comma-separated for a list)")
        values[key] = value
    extra = {k: values.pop(k) for k in also if k in values}
    return AuditFilter.parse(values), extra


def whole_number(value: str | None, field: str, *, low: int, high: int | None = None) -> int | None:
    """A query parameter's integer (``None`` when absent); out of range or not digits is refused by name."""
    if value is None or value == "":
        return None
    # at most 18 digits: a longer number is out of any range here, and int() of 4,300+ digits raises ValueError
    if (not (value.isascii() and value.isdigit()) or len(value) > 18 or int(value) < low
            or (high is not None and int(value) > high)):
        bounds = f"from {low}" + (f" to {high}" if high is not None else "")
        raise UsageError(f'"{field}" must be a whole number {bounds}, got {json.dumps(value[:40])}')
    return int(value)


def filter_body(data: dict[str, Any]) -> AuditFilter:
    """The ``filter`` object of a JSON body (absent: every record)."""
    raw = data.get("filter") or {}
    if not isinstance(raw, dict):
        raise UsageError('"filter" must be an object of audit filter fields')
    return AuditFilter.parse(raw)


def export_format(value: str | None) -> str:
    if value not in FORMATS:
        raise UsageError(f'"format" must be one of {", ".join(FORMATS)}, got {json.dumps(value)}')
    return value


# -- charts ---------------------------------------------------------------------------------------------------
def known_chart(name: str) -> None:
    if name not in CHARTS and not (name.startswith("scores-") and len(name) > len("scores-")):
        raise AuditNotFound(f"no chart {name!r}; charts: {', '.join(CHARTS)}, scores-CHECK")


ROUTE_NAMES = {"prompt_engineering": "prompt", "fine_tuned": "fine-tuned"}


def route_label(group: dict[str, Any]) -> str:
    """``prompt ·`` over ``helpdesk@2`` (two lines); input blocks (refused before routing): ``before routing``."""
    if group["route"] is None and group["template"] is None:
        return "before routing"
    return f"{ROUTE_NAMES.get(group['route'], group['route'] or '-')} ·\n{group['template'] or '-'}"


def chart(name: str, figures: dict[str, Any]) -> str:
    """The SVG of one named chart over ``stats`` figures; ``AuditNotFound`` for an unknown name."""
    if name == "verdicts-over-time":
        days = figures["by_day"]
        verdicts = [v for v in VERDICT_COLORS if any(d.get(v) for d in days)]
        return stacked_bar_chart([d["day"] for d in days], {v: [d.get(v, 0) for d in days] for v in verdicts},
                                 title="Verdicts per day", y_label="records", colors=VERDICT_COLORS)
    if name == "strategy-mix":
        if not figures["strategies"]:
            return stacked_bar_chart([], {}, title="Records by strategy (none routed)", y_label="records")
        return bar_chart({k: float(v) for k, v in figures["strategies"].items()}, title="Records by strategy",
                         y_label="records")
    if name == "block-rate-by-template":
        top = figures["routes"][:10]
        overall = figures["block_rate"]
        title = "Block rate by route and template version"
        if overall["rate"] is not None:
            n = overall["answers"]
            title += (f" (all {n:,}: {overall['rate']:.0%}; input {overall['blocked_input'] / n:.0%}, "
                      f"output {overall['blocked_output'] / n:.0%})")
        return stacked_bar_chart([route_label(t) for t in top],
                                 {"blocked at input": [t["blocked_input"] / t["total"] for t in top],
                                  "blocked at output": [t["blocked_output"] / t["total"] for t in top]},
                                 title=title, y_label="blocked / records", y_max=1.0,
                                 colors={"blocked at input": "#d97706", "blocked at output": "#c2410c"})
    if name == "feedback-by-strategy":
        fb = figures["feedback"]
        return stacked_bar_chart(list(fb), {"up": [v["up"] for v in fb.values()],
                                            "down": [v["down"] for v in fb.values()]},
                                 title="Feedback by strategy", y_label="votes",
                                 colors={"up": "#16a34a", "down": "#c2410c"})
    known_chart(name)
    if name.startswith("scores-"):
        check = name.removeprefix("scores-")
        entries = [e for e in figures["scores"] if e["check"] == check]
        bins = len(entries[0]["bins"]) if entries else 10
        labels = [f"{i / bins:.1f}" for i in range(bins)]
        failed = sum(e["failed"] for e in entries)
        return stacked_bar_chart(labels, {e["stage"]: e["bins"] for e in entries},
                                 title=f"{check} scores ({failed} failed)", x_label="score (bin start)",
                                 y_label="checks")
    raise AssertionError(name)


def audit_routes(runtime: Runtime) -> list[Route]:
    """The ``/api/audit`` routes of the admin app."""
    db = runtime.db

    def signer() -> Signer:
        return Signer.open(runtime.settings.audit_signing_key_path, create=True)

    def checkpoint_at(upto: int, sig: Signer) -> dict[str, Any]:
        """The newest stored checkpoint at ``upto`` signed with this server's key (exports are pinned to one)."""
        kid = key_id(sig.public_key)
        with db.session() as s:
            rows = s.execute(select(AuditCheckpointRow).where(AuditCheckpointRow.seq == upto,
                                                              AuditCheckpointRow.key_id == kid)
                             .order_by(AuditCheckpointRow.id.desc()).limit(1)).scalars().all()
        if not rows:
            raise AuditNotFound(f"no signed checkpoint at seq {upto}: start an export (POST "
                                "/api/audit/export/checkpoint, or GET /api/audit/export without upto) first")
        return {"payload": json.loads(rows[0].payload), "signature": rows[0].signature}

    async def run(fn: Callable[[], Any], status: int = 200) -> Response:
        try:
            return JSONResponse(await asyncio.to_thread(fn), status_code=status)
        except DecorumError as exc:
            return failure(exc)

    @needs("audit.read")
    async def api_list(request: HttpRequest, _: Principal) -> Response:
        try:
            flt, extra = query(request, also=("limit", "before"))
            limit = whole_number(extra.get("limit"), "limit", low=1, high=PAGE_MAX) or 50
            before = whole_number(extra.get("before"), "before", low=1)
        except DecorumError as exc:
            return failure(exc)

        def page() -> dict[str, Any]:
            p = search(db, flt, limit=limit, before=before, with_total=True)
            return {"records": p.records, "next_before": p.next_before, "total": p.total, "filter": p.filter,
                    "limit": limit}

        return await run(page)

    @needs("audit.read")
    async def api_stats(request: HttpRequest, _: Principal) -> Response:
        try:
            flt, _extra = query(request)
        except DecorumError as exc:
            return failure(exc)
        return await run(lambda: stats(db, flt))

    @needs("audit.read")
    async def api_chart(request: HttpRequest, _: Principal) -> Response:
        name = request.path_params["name"]
        try:
            flt, _extra = query(request)
            known_chart(name)
            svg = await asyncio.to_thread(lambda: chart(name, stats(db, flt)))
        except DecorumError as exc:
            return failure(exc)
        return Response(svg, media_type=SVG)

    @needs("audit.read")
    async def api_verify(_: HttpRequest, __: Principal) -> Response:
        v = await asyncio.to_thread(runtime.audit.verify)
        return JSONResponse({"ok": v.ok, "checked": v.checked, "first_bad_id": v.first_bad_id, "reason": v.reason},
                            status_code=200 if v.ok else 409)

    def record(note_id: str) -> dict[str, Any]:
        try:
            note = runtime.audit.get(note_id)
        except UsageError as exc:
            raise AuditNotFound(str(exc)) from None
        check = runtime.audit.verify_record(note_id)
        with db.session() as s:
            votes = s.execute(select(FeedbackRow).where(FeedbackRow.note_id == note_id)
                              .order_by(FeedbackRow.created_at, FeedbackRow.id)).scalars().all()
            feedback = [{"user": f.user, "value": f.value, "created_at": f.created_at} for f in votes]
        template = derived_fields(note)["template"]
        kept = kept_texts(db, [note_id], retention_days=runtime.config.audit.text_retention_days)
        return {"note": note, "verify": check, "chain": chain_neighbours(db, check["seq"]), "feedback": feedback,
                "template_history": template_changes(db, template) if template else [],
                "texts_kept": kept.get(note_id, [])}

    @needs("audit.read")
    async def api_show(request: HttpRequest, _: Principal) -> Response:
        return await run(lambda: record(request.path_params["id"]))

    @needs("audit.read")
    async def api_find(request: HttpRequest, _: Principal) -> Response:
        """``?ref=`` as a person pastes it from a refusal or an answer ("reference 01J…."): the record's id."""
        def find() -> dict[str, Any]:
            try:
                ref = parse_ref(request.query_params.get("ref", ""))
            except BadReference as exc:
                raise UsageError(f'"ref": {exc}') from None
            found = load_record(db, ref)
            if found is None:
                raise AuditNotFound(f"no audit record with the reference {ref}")
            return {"id": found["note"].get("id", ref), "seq": found["seq"], "verdict": found["note"].get("verdict")}

        return await run(find)

    @needs("audit.read")
    async def api_reveal(request: HttpRequest, who: Principal) -> Response:
        """The kept question and answer of one record; the reveal is an ``audit.text_read`` record first."""
        try:
            await json_object(request, ())
        except DecorumError as exc:
            return failure(exc)
        note_id = request.path_params["id"]
        return await run(lambda: audit_review.reveal_texts(db, runtime.audit, note_id, by=who.name,
                                                           retention_days=runtime.config.audit.text_retention_days))

    # -- exports ----------------------------------------------------------------------------------------------
    @needs("audit.export")
    async def api_export_checkpoint(request: HttpRequest, _: Principal) -> Response:
        try:
            data = await json_object(request, ("filter",))
            flt = filter_body(data)
        except DecorumError as exc:
            return failure(exc)

        def pin() -> dict[str, Any]:
            cp = start_export(db, signer())
            upto = int(cp["payload"]["seq"])
            # the count of the very records the export pinned here will hold (not the list's, read earlier)
            return {"upto": upto, "checkpoint": cp, "count": count(db, flt, upto=upto), "filter": flt.active()}

        return await run(pin, 201)

    @needs("audit.export")
    async def api_export(request: HttpRequest, who: Principal) -> Response:
        try:
            flt, extra = query(request, also=("format", "upto"))
            fmt = export_format(extra.get("format"))
            upto = whole_number(extra.get("upto"), "upto", low=0)

            def pinned() -> int:
                sig = signer()
                if upto is None:
                    seq = int(start_export(db, sig)["payload"]["seq"])
                else:
                    checkpoint_at(upto, sig)
                    seq = upto
                # who exported what is itself on the record (the filter and the pinned seq, not the contents)
                runtime.audit.append_change("audit.export", actor=who.name, surface="console", format=fmt,
                                            upto=seq, filter=flt.active())
                return seq

            seq = await asyncio.to_thread(pinned)
        except DecorumError as exc:
            return failure(exc)

        def chunks() -> Iterator[bytes]:  # a sync iterator: Starlette runs each step in a worker thread
            for chunk in stream_export(db, flt, fmt, upto=seq):
                yield chunk.encode("utf-8")

        name = f"decorum-audit-{seq}.{fmt}"
        return StreamingResponse(chunks(), media_type=MEDIA[fmt], headers={
            "content-disposition": f'attachment; filename="{name}"', "x-decorum-export-upto": str(seq)})

    @needs("audit.export")
    async def api_manifest(request: HttpRequest, _: Principal) -> Response:
        try:
            flt, extra = query(request, also=("format", "upto"))
            fmt = export_format(extra.get("format"))
            upto = whole_number(extra.get("upto"), "upto", low=0)
            if upto is None:
                raise UsageError('"upto" is required: the seq the export was pinned to (X-Decorum-Export-Upto)')

            def manifest() -> dict[str, Any]:
                sig = signer()
                return build_manifest(db, flt, fmt, checkpoint=checkpoint_at(upto, sig), signer=sig,
                                      chain_key=runtime.audit.chain_key)

            signed = await asyncio.to_thread(manifest)
        except DecorumError as exc:
            return failure(exc)
        name = f"decorum-audit-{upto}.{fmt}.manifest.json"
        return JSONResponse(signed, headers={"content-disposition": f'attachment; filename="{name}"'})

    # -- the review queue -------------------------------------------------------------------------------------
    def sample_view(sample: str) -> dict[str, Any]:
        items = audit_review.sample_items(db, sample)
        kept = kept_texts(db, [i["note_id"] for i in items], retention_days=runtime.config.audit.text_retention_days)
        for i in items:
            i["texts_kept"] = kept.get(i["note_id"], [])  # which texts a reviewer may reveal (each reveal recorded)
        return {"sample": sample, "items": items, "summary": audit_review.summary(items)}

    @needs("audit.read")
    async def api_samples(_: HttpRequest, __: Principal) -> Response:
        return await run(lambda: {"samples": audit_review.samples(db)})

    @needs("audit.review")
    async def api_draw(request: HttpRequest, who: Principal) -> Response:
        try:
            data = await json_object(request, ("filter", "n"))
            flt = filter_body(data)
            n = data.get("n", 20)
            if isinstance(n, bool) or not isinstance(n, int):
                raise UsageError(f'"n" must be a whole number from 1 to {audit_review.MAX_SAMPLE}, '
                                 f"got {json.dumps(n)}")
        except DecorumError as exc:
            return failure(exc)
        return await run(lambda: sample_view(audit_review.draw_sample(db, runtime.audit, flt, n, by=who.name)), 201)

    @needs("audit.read")
    async def api_sample(request: HttpRequest, _: Principal) -> Response:
        return await run(lambda: sample_view(request.path_params["sample"]))

    @needs("audit.review")
    async def api_mark(request: HttpRequest, who: Principal) -> Response:
        try:
            data = await json_object(request, ("mark", "comment"))
        except DecorumError as exc:
            return failure(exc)
        sample, note_id = request.path_params["sample"], request.path_params["note_id"]
        return await run(lambda: audit_review.mark(db, runtime.audit, sample, note_id, data.get("mark"),
                                                   data.get("comment", ""), by=who.name))

    async def review_csv(sample: str | None) -> Response:
        try:
            text = await asyncio.to_thread(audit_review.export_reviews, db, sample)
        except DecorumError as exc:
            return failure(exc)
        name = f"decorum-review-{sample or 'all'}.csv"
        return Response(text, media_type=MEDIA["csv"],
                        headers={"content-disposition": f'attachment; filename="{name}"'})

    @needs("audit.export")
    async def api_sample_csv(request: HttpRequest, _: Principal) -> Response:
        return await review_csv(request.path_params["sample"])

    @needs("audit.export")
    async def api_reviews_csv(_: HttpRequest, __: Principal) -> Response:
        return await review_csv(None)

    @needs("audit.export")
    async def api_reports_jsonl(_: HttpRequest, who: Principal) -> Response:
        try:
            text = await asyncio.to_thread(audit_review.export_reports, db, runtime.audit, by=who.name)
        except DecorumError as exc:
            return failure(exc)
        return Response(text, media_type=MEDIA["jsonl"],
                        headers={"content-disposition": 'attachment; filename="decorum-false-positives.jsonl"'})

    return [
        Route("/api/audit", api_list),
        Route("/api/audit/stats", api_stats),
        Route("/api/audit/verify", api_verify),
        Route("/api/audit/charts/{name}.svg", api_chart),
        Route("/api/audit/export", api_export),
        Route("/api/audit/export/checkpoint", api_export_checkpoint, methods=["POST"]),
        Route("/api/audit/export/manifest", api_manifest),
        Route("/api/audit/reviews", api_samples),
        Route("/api/audit/reviews", api_draw, methods=["POST"]),
        Route("/api/audit/reviews/export.csv", api_reviews_csv),
        Route(f"/api/audit/reviews/{audit_review.REPORTS_SAMPLE}/export.jsonl", api_reports_jsonl),
        Route("/api/audit/reviews/{sample}", api_sample),
        Route("/api/audit/reviews/{sample}/export.csv", api_sample_csv),
        Route("/api/audit/reviews/{sample}/{note_id}", api_mark, methods=["POST"]),
        Route("/api/audit/find", api_find),
        Route("/api/audit/{id}", api_show),
        Route("/api/audit/{id}/text", api_reveal, methods=["POST"]),
    ]


__all__ = ["audit_routes", "chart"]
