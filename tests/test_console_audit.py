"""The audit workbench: its API in-process (filters, pages, one record whole, charts, exports, the review queue)
and the console's Audit view in a real browser (Debian's Chromium driven by Playwright), as an auditor.

The seed is ~60 notes shaped like the pipeline's (``tests.test_audit_review.seed_notes``) over a second version of
the ``helpdesk`` template saved by an editor, with feedback on some answers. The CSP forbids eval, so the
browser test waits with selectors and ``expect``, never with ``wait_for_function``. Screenshots go to
``test-artifacts/console/audit-*.png``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from decorum.access import ROLES, Principal, local_admin
from decorum.audit.checkpoints import load_public_key
from decorum.audit.export import verify_export
from decorum.audit.query import AuditFilter, count
from decorum.bot.runtime import Runtime
from decorum.settings import Settings
from decorum.store.tables import AuditReviewRow
from decorum.web.app import Apps, create_apps
from tests.console_harness import CHROMIUM, SHOTS, admin_server, login
from tests.fakes import FakeClassifier, FakeGenerator
from tests.test_audit_review import seed_notes

ADMIN = "http://127.0.0.1:8001"
needs_chromium = pytest.mark.skipif(not shutil.which("chromium"),
                                    reason="Debian chromium is not installed (make setup)")


def seed(rt: Runtime, n: int = 60) -> list[dict[str, Any]]:
    """helpdesk@2 saved by an editor (its edit history), then ``n`` answer notes over helpdesk@1 and @2."""
    v1 = rt.templates.get("helpdesk", 1)
    v2 = rt.template_registry("console").save(
        replace(v1, system=v1.system + "\nAnswer in at most three sentences."), action="edit",
        by=Principal("edith", "editor", "session"), message="shorter answers for Slack")
    return seed_notes(rt.db, rt.audit, n, templates={"helpdesk@1": v1.sha256, "helpdesk@2": v2.sha256})


@pytest.fixture
def runtime(settings: Settings) -> Runtime:
    return Runtime.open(settings, classifier=FakeClassifier({"worthless": {"toxicity": 0.95}}),
                        generator=FakeGenerator("Open the VPN portal and choose Reset password."))


@pytest.fixture
def apps(runtime: Runtime) -> Apps:
    return create_apps(runtime, load_models=False)


@pytest.fixture
async def admin(apps: Apps) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=apps.admin), base_url=ADMIN) as c:
        yield c


@pytest.fixture
def h(runtime: Runtime) -> dict[str, dict[str, str]]:
    """Bearer headers of one user per role (``auditor-user`` ...), and a second auditor (``auditor2``)."""
    tokens = {role: runtime.access.add_user(f"{role}-user", role, by=local_admin("local:test"))[1] for role in ROLES}
    tokens["auditor2"] = runtime.access.add_user("auditor-two", "auditor", by=local_admin("local:test"))[1]
    return {role: {"authorization": f"Bearer {token}"} for role, token in tokens.items()}


# --- the API ------------------------------------------------------------------------------------------------

async def test_filters_totals_and_cursor_pages(admin: httpx.AsyncClient, runtime: Runtime,
                                               h: dict[str, dict[str, str]]) -> None:
    notes = await asyncio.to_thread(seed, runtime)
    params = {"verdict": "blocked_input", "check": "toxicity", "min_score": "0.5", "max_score": "1"}
    r = await admin.get("/api/audit", params=params, headers=h["auditor"])
    assert r.status_code == 200, r.text
    page = r.json()
    expected = count(runtime.db, AuditFilter.parse(params))
    assert expected > 3 and page["total"] == expected == len(page["records"]) and page["next_before"] is None
    assert page["filter"] == {"verdict": "blocked_input", "check": "toxicity", "min_score": 0.5, "max_score": 1.0}
    for n in page["records"]:
        tox = next(c for c in n["guardrails"]["input"] if c["check"] == "toxicity")
        assert n["verdict"] == "blocked_input" and tox["score"] >= 0.5 and n["hash"] and n["seq"]

    # pages of 25 by the cursor: newest first, no overlap, all of them, the last one says so
    seen: list[int] = []
    before = None
    for _ in range(10):
        q = {"limit": "25", **({"before": str(before)} if before else {})}
        body = (await admin.get("/api/audit", params=q, headers=h["auditor"])).json()
        seen += [n["seq"] for n in body["records"]]
        assert body["total"] == len(notes) + 1  # the template edit is a record too
        before = body["next_before"]
        if before is None:
            break
        assert before == seen[-1]
    assert len(seen) == len(set(seen)) == len(notes) + 1 and seen == sorted(seen, reverse=True)
    assert [len(seen[i:i + 25]) for i in range(0, len(seen), 25)] == [25, 25, 11]


@pytest.mark.parametrize("params,field", [
    ({"verdict": "nope"}, "verdict"),
    ({"min_score": "2"}, "min_score"),
    ({"max_score": "high"}, "max_score"),
    ({"min_score": "0.9", "max_score": "0.1"}, "min_score is above max_score"),
    ({"since": "yesterday-ish"}, "since"),
    ({"feedback": "meh"}, "feedback"),
    ({"colour": "red"}, "colour"),
    ({"limit": "0"}, '"limit"'),
    ({"limit": "501"}, '"limit"'),
    ({"before": "x"}, '"before"'),
    ({"template": "a" * 300}, "template"),
])
async def test_bad_filters_are_400_naming_the_field(admin: httpx.AsyncClient, h: dict[str, dict[str, str]],
                                                    params: dict[str, str], field: str) -> None:
    for path in ("/api/audit", "/api/audit/stats", "/api/audit/charts/strategy-mix.svg"):
        if path != "/api/audit" and ("limit" in params or "before" in params):
            continue
        r = await admin.get(path, params=params, headers=h["auditor"])
        assert r.status_code == 400, (path, r.text)
        assert field in r.json()["error"], r.json()
    r = await admin.get("/api/audit?verdict=answered&verdict=error", headers=h["auditor"])
    assert r.status_code == 400 and "verdict: given twice" in r.json()["error"]


async def test_unknown_things_are_404_and_a_viewer_is_refused(admin: httpx.AsyncClient, runtime: Runtime,
                                                               h: dict[str, dict[str, str]]) -> None:
    await asyncio.to_thread(seed, runtime, 8)
    for path in ("/api/audit/01NOSUCHRECORD", "/api/audit/charts/pie.svg",
                 "/api/audit/export/manifest?format=csv&upto=99999", "/api/audit/export?format=csv&upto=99999",
                 "/api/audit/reviews/NOSUCHSAMPLE", "/api/audit/reviews/NOSUCHSAMPLE/export.csv"):
        r = await admin.get(path, headers=h["auditor"])
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]
    r = await admin.get("/api/audit/export?format=xml", headers=h["auditor"])
    assert r.status_code == 400 and '"format" must be one of csv, jsonl' in r.json()["error"]

    note_id = (await admin.get("/api/audit", headers=h["auditor"])).json()["records"][0]["id"]
    for method, path in (("GET", "/api/audit"), ("GET", "/api/audit/stats"), ("GET", f"/api/audit/{note_id}"),
                         ("GET", "/api/audit/charts/strategy-mix.svg"), ("GET", "/api/audit/export?format=csv"),
                         ("GET", "/api/audit/reviews"), ("POST", "/api/audit/reviews"),
                         ("POST", "/api/audit/export/checkpoint")):
        r = await admin.request(method, path, json={} if method == "POST" else None, headers=h["viewer"])
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"].startswith("the viewer role cannot do audit."), r.json()
    assert (await admin.get("/api/audit")).status_code == 401


async def test_one_record_whole_with_its_chain_feedback_and_template_history(admin: httpx.AsyncClient,
                                                                            runtime: Runtime,
                                                                            h: dict[str, dict[str, str]]) -> None:
    await asyncio.to_thread(seed, runtime)
    listed = (await admin.get("/api/audit", params={"template": "helpdesk@2", "feedback": "any", "limit": "1"},
                              headers=h["auditor"])).json()["records"]
    r = await admin.get(f"/api/audit/{listed[0]['id']}", headers=h["auditor"])
    assert r.status_code == 200
    d = r.json()
    note = d["note"]
    assert note["id"] == listed[0]["id"] and note["template"]["name"] == "helpdesk" and note["hash"]
    assert d["verify"] | {"hash": None} == {"ok": True, "reason": "", "seq": listed[0]["seq"], "hash": None,
                                            "prev_hash": note["prev_hash"], "keyed": True}
    assert d["chain"]["previous"]["hash"] == note["prev_hash"] and d["chain"]["seq"] == listed[0]["seq"]
    assert d["feedback"] and all(f["user"].startswith("hmac:") and f["value"] in (1, -1) for f in d["feedback"])
    (edit,) = d["template_history"]
    change = edit["change"]
    assert (change["kind"], change["actor"], change["template"], change["version"], change["message"]) == (
        "template.edit", "edith", "helpdesk", 2, "shorter answers for Slack")
    assert change["sha256"] == note["template"]["sha256"]


async def test_stats_and_every_chart_is_an_svg(admin: httpx.AsyncClient, runtime: Runtime,
                                               h: dict[str, dict[str, str]]) -> None:
    await asyncio.to_thread(seed, runtime)
    stats = (await admin.get("/api/audit/stats", params={"surface": "slack"}, headers=h["auditor"])).json()
    assert stats["total"] == count(runtime.db, AuditFilter(surface="slack")) and set(stats["surfaces"]) == {"slack"}
    assert {e["check"] for e in stats["scores"]} == {"toxicity", "bias"}
    for name in ("verdicts-over-time", "strategy-mix", "block-rate-by-template", "feedback-by-strategy",
                 "scores-toxicity", "scores-bias", "scores-unheard-of"):
        r = await admin.get(f"/api/audit/charts/{name}.svg", params={"surface": "slack"}, headers=h["auditor"])
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml"), name
        assert r.text.startswith("<svg ") and r.text.rstrip().endswith("</svg>")
        assert "<script" not in r.text
    tpl = (await admin.get("/api/audit/charts/block-rate-by-template.svg", headers=h["auditor"])).text
    assert "helpdesk@1" in tpl and "helpdesk@2" in tpl


async def _asgi_get(app: Any, path: str, query: str, headers: dict[str, str],
                    on_body: Any) -> tuple[int, dict[str, str], list[bytes]]:
    """One GET straight through the ASGI app, seeing each body message as the app sends it."""
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": query.encode(), "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8001),
             "headers": [(b"host", b"127.0.0.1:8001"), *((k.encode(), v.encode()) for k, v in headers.items())]}
    status, head, chunks = 0, {}, []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, head
        if message["type"] == "http.response.start":
            status = message["status"]
            head = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message.get("body"):
            on_body(len(chunks))
            chunks.append(message["body"])

    await app(scope, receive, send)
    return status, head, chunks


async def test_an_export_of_2000_records_streams_and_its_manifest_verifies(
        apps: Apps, admin: httpx.AsyncClient, runtime: Runtime, h: dict[str, dict[str, str]],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import decorum.web.audit_api as audit_api

    await asyncio.to_thread(seed_notes, runtime.db, runtime.audit, 2000)
    produced = []
    real = audit_api.stream_export

    def counted(*args: Any, **kwargs: Any) -> Iterator[str]:
        for chunk in real(*args, **kwargs):
            produced.append(len(chunk))
            yield chunk

    monkeypatch.setattr(audit_api, "stream_export", counted)
    made_when_sent: list[int] = []
    status, head, chunks = await _asgi_get(apps.admin, "/api/audit/export", "format=jsonl", h["auditor"],
                                           lambda k: made_when_sent.append(len(produced)))
    assert status == 200 and head["content-type"].startswith("application/x-ndjson")
    assert "content-length" not in head  # streamed, never whole
    assert head["content-disposition"] == f'attachment; filename="decorum-audit-{head["x-decorum-export-upto"]}.jsonl"'
    # each chunk went out as soon as it was made: the first when one of many existed
    assert len(chunks) >= 4 and made_when_sent == list(range(1, len(chunks) + 1))
    body = b"".join(chunks)
    assert body.count(b"\n") == 2000
    upto = int(head["x-decorum-export-upto"])

    def offline(name: str, data: bytes, manifest: bytes) -> tuple[list[str], dict[str, Any]]:
        """Both files saved side by side and checked as ``decorum audit verify --export`` does."""
        path = tmp_path / name
        path.write_bytes(data)
        Path(f"{path}.manifest.json").write_bytes(manifest)
        public = load_public_key(runtime.settings.audit_signing_key_path)
        return verify_export(path, public_key=public, chain_key=runtime.audit.chain_key)

    r = await admin.get("/api/audit/export/manifest", params={"format": "jsonl", "upto": str(upto)},
                        headers=h["auditor"])
    name = f"decorum-audit-{upto}.jsonl"
    assert r.status_code == 200 and r.headers["content-disposition"].endswith(f'{name}.manifest.json"')
    problems, facts = await asyncio.to_thread(offline, name, body, r.content)
    assert problems == [] and facts["count"] == 2000 and facts["whole_log"] is True
    assert facts["hashes_recomputed"] == 2000

    # a filtered CSV pinned to a checkpoint made first, as the console does; records after it stay out
    pin = await admin.post("/api/audit/export/checkpoint", json={}, headers=h["auditor"])
    assert pin.status_code == 201
    upto = pin.json()["upto"]
    blocked = count(runtime.db, AuditFilter(verdict="blocked_output"))
    await asyncio.to_thread(seed_notes, runtime.db, runtime.audit, 8, seed=99)
    assert count(runtime.db, AuditFilter(verdict="blocked_output")) > blocked
    params = {"format": "csv", "upto": str(upto), "verdict": "blocked_output"}
    r = await admin.get("/api/audit/export", params=params, headers=h["auditor"])
    assert r.status_code == 200 and r.headers["x-decorum-export-upto"] == str(upto)
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == blocked
    assert {row["verdict"] for row in rows} == {"blocked_output"} and max(int(x["seq"]) for x in rows) <= upto
    m = await admin.get("/api/audit/export/manifest", params=params, headers=h["auditor"])
    problems, facts = await asyncio.to_thread(offline, "blocked.csv", r.content, m.content)
    assert problems == [] and facts["count"] == len(rows) and facts["filter"] == {"verdict": "blocked_output"}


async def test_the_review_queue_over_the_api(admin: httpx.AsyncClient, runtime: Runtime,
                                             h: dict[str, dict[str, str]]) -> None:
    await asyncio.to_thread(seed, runtime)
    r = await admin.post("/api/audit/reviews", json={"filter": {"verdict": "blocked_input"}, "n": 4},
                         headers=h["auditor"])
    assert r.status_code == 201, r.text
    drawn = r.json()
    sample, items = drawn["sample"], drawn["items"]
    assert drawn["summary"] == {"size": 4, "marked": 0, "agree": 0, "disagree": 0}
    assert {i["verdict"] for i in items} == {"blocked_input"}
    note_id = items[0]["note_id"]
    r = await admin.post(f"/api/audit/reviews/{sample}/{note_id}", json={"mark": "disagree", "comment": "idiom"},
                         headers=h["auditor"])
    assert r.status_code == 200 and (r.json()["mark"], r.json()["reviewer"]) == ("disagree", "auditor-user")
    r = await admin.post(f"/api/audit/reviews/{sample}/{note_id}", json={"mark": "agree"}, headers=h["auditor2"])
    assert r.status_code == 409 and "marked disagree by auditor-user" in r.json()["error"]
    for body, text in (({"mark": "meh"}, '"mark" must be one of'), ({"mark": "agree", "comment": "x" * 2001},
                                                                      "the limit is 2000"),
                       ({"mark": "agree", "why": "?"}, "unknown field 'why'")):
        r = await admin.post(f"/api/audit/reviews/{sample}/{note_id}", json=body, headers=h["auditor"])
        assert r.status_code == 400 and text in r.json()["error"]
    r = await admin.post(f"/api/audit/reviews/{sample}/01NOTINSAMPLE", json={"mark": "agree"}, headers=h["auditor"])
    assert r.status_code == 404
    for body, text in (({"filter": {"verdict": "nah"}, "n": 3}, "audit filter verdict"),
                       ({"filter": {}, "n": 0}, "1 to 200"), ({"filter": {}, "n": "5"}, '"n" must be'),
                       ({"filter": "blocked", "n": 5}, '"filter" must be an object'),
                       ({"filter": {"verdict": "change"}, "n": 5}, "no answer records match")):
        r = await admin.post("/api/audit/reviews", json=body, headers=h["auditor"])
        assert r.status_code == 400 and text in r.json()["error"], r.json()
    r = await admin.post(f"/api/audit/reviews/{sample}/{note_id}", json={"mark": "agree"}, headers=h["viewer"])
    assert r.status_code == 403

    listed = (await admin.get("/api/audit/reviews", headers=h["auditor"])).json()["samples"]
    assert [(x["sample"], x["marked"], x["reviewers"]) for x in listed] == [(sample, 1, ["auditor-user"])]
    shown = (await admin.get(f"/api/audit/reviews/{sample}", headers=h["auditor"])).json()
    assert shown["summary"]["disagree"] == 1
    r = await admin.get(f"/api/audit/reviews/{sample}/export.csv", headers=h["auditor"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 4 and [(x["mark"], x["comment"]) for x in rows if x["note_id"] == note_id] == [
        ("disagree", "idiom")]
    assert (await admin.get("/api/audit/reviews/export.csv", headers=h["auditor"])).text == r.text
    kinds = [n["change"]["kind"] for n in reversed(runtime.audit.list(limit=100, verdict="change"))]
    assert kinds == ["template.edit", "review.sample", "review.mark"]
    assert (await admin.get("/api/audit/verify", headers=h["auditor"])).json()["ok"] is True


# --- the console --------------------------------------------------------------------------------------------

@pytest.fixture
def console(runtime: Runtime) -> Iterator[tuple[str, str, Runtime]]:
    """The admin listener on a free port over the seeded log, and an auditor's token."""

    seed(runtime)
    _, token = runtime.access.add_user("ana", "auditor", by=local_admin("local:test"))
    with admin_server(runtime) as url:
        yield url, token, runtime


@pytest.mark.browser
@needs_chromium
def test_an_auditor_filters_opens_exports_charts_and_reviews(console: tuple[str, str, Runtime],
                                                             tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, token, rt = console
    SHOTS.mkdir(parents=True, exist_ok=True)
    shots = {name: SHOTS / f"audit-{name}.png" for name in ("records", "detail", "charts", "review",
                                                           "template-refused")}
    for shot in shots.values():
        shot.unlink(missing_ok=True)
    everything = count(rt.db, AuditFilter())
    flt = AuditFilter(verdict="blocked_input", check="toxicity", min_score=0.5, max_score=1.0)
    matching = count(rt.db, flt)
    assert 3 < matching < 25
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
        login(page, url, token)
        # the audit view opens on the newest page of everything, 25 at a time
        expect(page.locator("#audit-total")).to_have_text(f"{everything} records match")
        expect(page.locator("#audit tr")).to_have_count(25)
        page.click("#audit-older")
        expect(page.locator("#audit-range")).to_have_text("showing 26–50, newest first")
        page.click("#audit-newer")
        expect(page.locator("#audit-range")).to_have_text("showing 1–25, newest first")

        # a bad score range is refused in the server's words
        page.fill("#af-min", "0.9")
        page.fill("#af-max", "0.2")
        page.click("#audit-filter button[type=submit]")
        expect(page.locator("#audit-filter-result.refused")).to_have_text(
            "400 Refused: audit filter filter: min_score is above max_score")

        page.select_option("#af-verdict", "blocked_input")
        page.fill("#af-check", "toxicity")
        page.fill("#af-min", "0.5")
        page.fill("#af-max", "1")
        page.click("#audit-filter button[type=submit]")
        expect(page.locator("#audit-total")).to_have_text(f"{matching} records match")
        expect(page.locator("#audit-filter-result")).to_be_hidden()
        rows = page.locator("#audit tr")
        expect(rows).to_have_count(matching)
        expect(page.locator("#audit tr[data-verdict=blocked_input]")).to_have_count(matching)
        expect(page.locator("#audit-older")).to_be_disabled()
        page.screenshot(path=str(shots["records"]), full_page=True)

        # one record whole: its checks per stage, the template, the chain and "verified"
        first_id = rows.first.get_attribute("data-id")
        rows.first.locator("a").click()
        expect(page.locator("#ad-verify.pass")).to_contain_text("verified: seq ")
        expect(page.locator("#ad-title")).to_contain_text(f"blocked_input · {first_id}")
        tox = page.locator("#ad-checks tr[data-stage=input][data-check=toxicity]")
        expect(tox).to_contain_text("FAIL")
        expect(page.locator("#ad-checks tr[data-stage=input][data-check=bias]")).to_have_count(1)
        expect(page.locator("#ad-chain")).to_contain_text("this record verifies")
        expect(page.locator("#ad-request")).to_contain_text("HMAC-SHA256")
        note = rt.audit.get(first_id)
        score = next(c["score"] for c in note["guardrails"]["input"] if c["check"] == "toxicity")
        expect(tox).to_contain_text(f"{score:.4f}")
        page.screenshot(path=str(shots["detail"]), full_page=True)

        # an answer over helpdesk@2: its template's edit history (who changed it, when)
        answer = rt.audit.list(limit=1, verdict="answered")[0]
        assert answer["template"]["version"] == 2
        page.select_option("#af-verdict", "answered")
        page.fill("#af-check", "")
        page.fill("#af-min", "")
        page.fill("#af-max", "")
        page.fill("#af-template", "helpdesk@2")
        page.click("#audit-filter button[type=submit]")
        expect(page.locator("#audit-total")).to_have_text(
            f"{count(rt.db, AuditFilter(verdict='answered', template='helpdesk@2'))} records match")
        page.click(f"#audit a[data-id='{answer['id']}']")
        expect(page.locator("#ad-template-history")).to_contain_text("template.edit")
        expect(page.locator("#ad-template-history")).to_contain_text("edith")
        expect(page.locator("#ad-template-history")).to_contain_text("shorter answers for Slack")
        expect(page.locator("#ad-model")).to_contain_text("smollm2-135m-instruct")

        # export the filtered records as CSV, with the signed manifest, and check both offline
        page.select_option("#af-verdict", "blocked_input")
        page.fill("#af-template", "")
        page.fill("#af-check", "toxicity")
        page.fill("#af-min", "0.5")
        page.fill("#af-max", "1")
        page.click("#audit-filter button[type=submit]")
        expect(page.locator("#audit-total")).to_have_text(f"{matching} records match")
        page.click("#audit-export-csv")
        expect(page.locator("#audit-export-file")).to_have_text(f"download CSV ({matching} records)")
        with page.expect_download() as got:
            page.click("#audit-export-file")
        data = tmp_path / got.value.suggested_filename
        got.value.save_as(data)
        with page.expect_download() as got:
            page.click("#audit-export-manifest")
        assert got.value.suggested_filename == f"{data.name}.manifest.json"
        got.value.save_as(tmp_path / got.value.suggested_filename)
        problems, facts = verify_export(data, public_key=load_public_key(rt.settings.audit_signing_key_path),
                                        chain_key=rt.audit.chain_key)
        assert problems == [] and facts["count"] == matching
        assert facts["filter"] == {"verdict": "blocked_input", "check": "toxicity", "min_score": 0.5,
                                   "max_score": 1.0}
        with data.open(newline="", encoding="utf-8") as fh:
            assert {r["verdict"] for r in csv.DictReader(fh)} == {"blocked_input"}
        # and as an auditor checks it: the CLI, with this data dir's public key (and chain key)
        cli = subprocess.run([sys.executable, "-m", "decorum", "audit", "verify", "--export", str(data)],
                             env=os.environ, capture_output=True, text=True, timeout=120)
        assert cli.returncode == 0, cli.stdout + cli.stderr

        # charts of the same filter: SVGs drawn by the server, loaded as images
        page.click("#audit-tab-charts")
        charts = page.locator("#audit-charts img")
        expect(charts).to_have_count(6)  # four, and a score histogram per check (toxicity, bias)
        expect(page.locator("#audit-charts img.loaded")).to_have_count(6)
        expect(page.locator("#audit-charts img.broken")).to_have_count(0)
        hist = page.locator("#audit-charts img[data-chart=scores-toxicity]")
        assert hist.evaluate("img => img.naturalWidth") > 0
        assert "min_score=0.5" in (hist.get_attribute("src") or "")
        page.screenshot(path=str(shots["charts"]), full_page=True)

        # the review queue: a sample by the current filter, one record marked
        page.click("#audit-tab-review")
        page.fill("#rv-n", "5")
        page.click("#rv-draw button[type=submit]")
        expect(page.locator("#rv-draw-result.ok")).to_contain_text("5 records")
        items = page.locator("#rv-items tr")
        expect(items).to_have_count(5)
        item = items.first
        note_id = item.get_attribute("data-note")
        item.locator("input.rv-comment").fill("a figure of speech, not abuse")
        item.locator("button.rv-disagree").click()
        expect(page.locator("#rv-mark-result.ok")).to_have_text(f"marked {note_id}: disagree (with a comment)")
        marked = page.locator(f"#rv-items tr[data-note='{note_id}']")
        expect(marked.locator(".mark.disagree")).to_have_text("disagree")
        expect(marked).to_contain_text("ana")
        expect(page.locator("#rv-title")).to_contain_text("1 of 5 marked (0 agree, 1 disagree)")
        page.screenshot(path=str(shots["review"]), full_page=True)

        # an auditor may read templates but not change them: the refusal in the server's words
        page.click("nav button[data-view=templates]")
        page.click("#templates a[data-template=helpdesk]")
        editor = page.locator("#tpl-yaml")
        expect(page.locator("#tpl-title")).to_contain_text("helpdesk")
        expect(editor).not_to_have_value("")
        editor.fill(editor.input_value().replace("three sentences", "two sentences"))
        page.fill("#tpl-message", "even shorter")
        page.click("#tpl-edit button[type=submit]")
        expect(page.locator("#tpl-edit-result.refused")).to_have_text(
            "403 Forbidden: the auditor role cannot do templates.edit (it needs editor or above)")
        page.screenshot(path=str(shots["template-refused"]), full_page=True)
        browser.close()

    assert all(shot.stat().st_size > 1000 for shot in shots.values())
    with rt.db.session() as s:
        row = s.execute(select(AuditReviewRow).where(AuditReviewRow.note_id == note_id)).scalar_one()
    assert (row.mark, row.reviewer, row.comment) == ("disagree", "ana", "a figure of speech, not abuse")
    (rec,) = [n for n in rt.audit.list(limit=50, verdict="change") if n["change"]["kind"] == "review.mark"]
    assert (rec["change"]["actor"], rec["change"]["note_id"], rec["change"]["mark"]) == ("ana", note_id, "disagree")
    assert "figure of speech" not in json.dumps(rec)
    assert rt.templates.versions("helpdesk") == [1, 2] and rt.audit.verify().ok
