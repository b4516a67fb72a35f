"""The knowledge base over the admin API (``decorum.web.knowledge_api``), in-process over HTTP, by role.

Fakes only: the classifier flags by rules (``worthless`` fails toxicity), the database is the test's own and
starts with the 78 seeded helpdesk entries (version 1, published).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from decorum.access import ROLES, local_admin
from decorum.bot.runtime import Runtime
from decorum.settings import Settings
from decorum.web.app import Apps, create_apps
from tests.fakes import FakeClassifier, FakeGenerator

ADMIN = "http://127.0.0.1:8001"
JAM = {"id": "it-printer-jam", "title": "Clearing a printer jam", "topic": "it",
       "body": "Open tray 2 and pull the sheet out; call ext. 4357 if the light stays red.", "message": "new article"}
HURTFUL = "Staff who ask this are worthless; open tray 2."
SEEDED = 78


@pytest.fixture
def runtime(settings: Settings) -> Runtime:
    return Runtime.open(settings, classifier=FakeClassifier({"worthless": {"toxicity": 0.95}}),
                        generator=FakeGenerator())


@pytest.fixture
def apps(runtime: Runtime) -> Apps:
    return create_apps(runtime, load_models=False)


@pytest.fixture
async def admin(apps: Apps) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=apps.admin), base_url=ADMIN) as c:
        yield c


@pytest.fixture
def h(runtime: Runtime) -> dict[str, dict[str, str]]:
    """Bearer headers of one user per role (``editor-user``, ``publisher-user`` ...)."""
    tokens = {role: runtime.access.add_user(f"{role}-user", role, by=local_admin("local:test"))[1] for role in ROLES}
    return {role: {"authorization": f"Bearer {token}"} for role, token in tokens.items()}


def changes(rt: Runtime) -> list[dict[str, Any]]:
    """The audit log's change records, oldest first."""
    return [n["change"] for n in reversed(rt.audit.list(limit=500, verdict="change"))]


def assert_chain_holds(rt: Runtime) -> None:
    v = rt.audit.verify()
    assert v.ok, v.reason
    assert v.checked == rt.audit.count()


# --- the whole life of an entry ---------------------------------------------------------------------------------

async def test_add_edit_diff_publish_rollback_each_recorded(admin: httpx.AsyncClient, runtime: Runtime,
                                                            h: dict[str, dict[str, str]]) -> None:
    r = await admin.post("/api/knowledge", json=JAM, headers=h["editor"])
    assert r.status_code == 201, r.text
    v1 = r.json()
    assert (v1["ref"], v1["state"], v1["published"], v1["latest"], v1["author"], v1["message"], v1["domain"]) == (
        "it-printer-jam v1", "draft", None, 1, "editor-user", "new article", "helpdesk")
    assert v1["checks"]["passed"] is True and {c["field"] for c in v1["checks"]["results"]} == {"title", "body"}
    assert runtime.knowledge.published_version("it-printer-jam") is None  # a draft is not served

    # an edit sends the fields that change; the rest is the latest version's
    r = await admin.post("/api/knowledge/it-printer-jam/versions", headers=h["editor"],
                         json={"body": "Open tray 3 and pull the sheet out.", "message": "tray moved", "base": 1})
    assert r.status_code == 201, r.text
    assert (r.json()["version"], r.json()["title"], r.json()["topic"]) == (2, JAM["title"], "it")

    r = await admin.get("/api/knowledge", headers=h["viewer"])
    assert r.status_code == 200 and len(r.json()) == SEEDED + 1
    [row] = [e for e in r.json() if e["id"] == "it-printer-jam"]
    assert (row["published"], row["latest"], row["domain"], row["title"]) == (None, 2, "helpdesk", JAM["title"])
    r = await admin.get("/api/knowledge/it-printer-jam", headers=h["viewer"])
    assert (r.json()["version"], r.json()["state"]) == (2, "draft")  # nothing published: the latest

    r = await admin.get("/api/knowledge/it-printer-jam/diff", params={"a": 1, "b": 2}, headers=h["viewer"])
    assert r.status_code == 200
    diff = r.json()
    assert diff["unified"].startswith("--- it-printer-jam@1\n+++ it-printer-jam@2\n")
    assert diff["same"] is False
    [changed] = [row for row in diff["rows"] if row["kind"] != "equal"]
    assert changed["kind"] == "replace" and "tray 2" in changed["left"] and "tray 3" in changed["right"]

    r = await admin.post("/api/knowledge/it-printer-jam/publish", json={"version": 1}, headers=h["editor"])
    assert r.status_code == 403
    assert r.json()["error"] == "the editor role cannot do knowledge.publish (it needs publisher or above)"
    r = await admin.post("/api/knowledge/it-printer-jam/publish", json={"version": 1, "reason": "first"},
                         headers=h["publisher"])
    assert r.status_code == 200, r.text
    assert r.json() == {"id": "it-printer-jam", "version": 1, "ref": "it-printer-jam v1", "from_version": None,
                        "action": "publish", "override": False, "reason": "first", "published": 1}
    r = await admin.post("/api/knowledge/it-printer-jam/publish", json={}, headers=h["publisher"])  # the latest
    assert r.status_code == 200 and (r.json()["version"], r.json()["from_version"]) == (2, 1)
    assert runtime.knowledge.get("it-printer-jam", published=True).body == "Open tray 3 and pull the sheet out."
    r = await admin.post("/api/knowledge/it-printer-jam/publish", json={"version": 2}, headers=h["publisher"])
    assert r.status_code == 409 and r.json()["error"] == "it-printer-jam v2 is already published"

    r = await admin.get("/api/knowledge/it-printer-jam", params={"version": 1}, headers=h["viewer"])
    assert (r.json()["version"], r.json()["state"], r.json()["published"]) == (1, "earlier version", 2)

    r = await admin.post("/api/knowledge/it-printer-jam/rollback", json={"reason": "tray 3 was wrong"},
                         headers=h["publisher"])
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["from_version"], r.json()["action"]) == (1, 2, "rollback")
    r = await admin.post("/api/knowledge/it-printer-jam/rollback", json={}, headers=h["publisher"])
    assert r.status_code == 409 and "no earlier published version to roll back to" in r.json()["error"]

    r = await admin.get("/api/knowledge/it-printer-jam/history", headers=h["viewer"])
    hist = r.json()
    assert (hist["published"], hist["latest"], hist["stack"]) == (1, 2, [1])
    assert [(v["version"], v["author"], v["message"], v["state"]) for v in hist["versions"]] == [
        (1, "editor-user", "new article", "published"), (2, "editor-user", "tray moved", "draft")]
    assert [(e["action"], e["from_version"], e["version"], e["actor"]) for e in hist["events"]] == [
        ("add", None, 1, "editor-user"), ("edit", None, 2, "editor-user"), ("publish", None, 1, "publisher-user"),
        ("publish", 1, 2, "publisher-user"), ("rollback", 2, 1, "publisher-user")]
    assert hist["events"][-1]["reason"] == "tray 3 was wrong"

    assert [(c["kind"], c["version"], c["actor"]) for c in changes(runtime)] == [
        ("knowledge.add", 1, "editor-user"), ("knowledge.edit", 2, "editor-user"),
        ("knowledge.publish", 1, "publisher-user"), ("knowledge.publish", 2, "publisher-user"),
        ("knowledge.rollback", 1, "publisher-user")]
    assert {n["surface"] for n in runtime.audit.list(limit=500, verdict="change")} == {"console"}
    assert_chain_holds(runtime)


async def test_a_refused_entry_is_422_with_its_checks_and_nothing_is_stored(
        admin: httpx.AsyncClient, runtime: Runtime, h: dict[str, dict[str, str]]) -> None:
    r = await admin.post("/api/knowledge", json={**JAM, "body": HURTFUL}, headers=h["editor"])
    assert r.status_code == 422, r.text
    out = r.json()
    assert out["saved"] is False and "nothing was saved" in out["error"]
    assert out["error"].startswith("it-printer-jam: the entry failed the guardrail checks (toxicity 0.95 >= ")
    assert '"override": true with a "reason"' in out["error"] and "--override" not in out["error"]
    [failed] = out["checks"]
    assert (failed["check"], failed["field"], failed["score"]) == ("toxicity", "body", 0.95)
    assert 0 < failed["threshold"] < 0.95
    assert "it-printer-jam" not in runtime.knowledge.ids() and runtime.audit.count() == 0

    # an edit of a served entry is refused the same way: the published version stays the only one
    r = await admin.post("/api/knowledge/hr-annual-leave/versions", json={"body": HURTFUL}, headers=h["editor"])
    assert r.status_code == 422 and r.json()["checks"][0]["field"] == "body"
    assert runtime.knowledge.versions("hr-annual-leave") == [1] and runtime.audit.count() == 0

    # an admin may save it anyway, with a reason; publishing it needs the override again
    r = await admin.post("/api/knowledge", json={**JAM, "body": HURTFUL, "override": True}, headers=h["admin"])
    assert r.status_code == 400 and r.json()["error"] == '"override" needs a "reason" (it is recorded with the change)'
    r = await admin.post("/api/knowledge", json={**JAM, "body": HURTFUL, "override": True, "reason": "x"},
                         headers=h["editor"])
    assert r.status_code == 403 and "cannot do override" in r.json()["error"]
    r = await admin.post("/api/knowledge", json={**JAM, "body": HURTFUL, "override": True,
                                                 "reason": "quoted in the conduct training"}, headers=h["admin"])
    assert r.status_code == 201 and r.json()["checks"]["passed"] is False
    publish = "/api/knowledge/it-printer-jam/publish"
    r = await admin.post(publish, json={"reason": "read it"}, headers=h["publisher"])
    assert r.status_code == 409
    assert "failed the guardrail checks when it was saved; publishing it needs \"override\": true" in r.json()["error"]
    r = await admin.post(publish, json={"reason": "read it", "override": True}, headers=h["publisher"])
    assert r.status_code == 403
    assert r.json()["error"] == "the publisher role cannot do override (it needs admin or above)"
    r = await admin.post(publish, json={"reason": "training deck", "override": True}, headers=h["admin"])
    assert r.status_code == 200 and r.json()["override"] is True
    assert [(c["kind"], c["override"], c["reason"]) for c in changes(runtime)] == [
        ("knowledge.add", True, "quoted in the conduct training"), ("knowledge.publish", True, "training deck")]
    assert_chain_holds(runtime)


# --- roles and sessions --------------------------------------------------------------------------------------

async def test_roles_refuse_with_the_servers_words_and_change_nothing(admin: httpx.AsyncClient, runtime: Runtime,
                                                                      h: dict[str, dict[str, str]]) -> None:
    for path in ("/api/knowledge", "/api/knowledge/hr-annual-leave", "/api/knowledge/hr-annual-leave/history",
                 "/api/knowledge/hr-annual-leave/diff?a=1&b=1"):
        assert (await admin.get(path, headers=h["viewer"])).status_code == 200, path
        assert (await admin.get(path)).status_code == 401, path

    r = await admin.post("/api/knowledge", json=JAM, headers=h["viewer"])
    assert r.status_code == 403
    assert r.json()["error"] == "the viewer role cannot do knowledge.edit (it needs editor or above)"
    r = await admin.post("/api/knowledge/hr-annual-leave/versions", json={"body": "x"}, headers=h["auditor"])
    assert r.status_code == 403 and "auditor role cannot do knowledge.edit" in r.json()["error"]
    r = await admin.post("/api/knowledge/hr-annual-leave/versions", json={"title": "Annual leave (2027)"},
                         headers=h["editor"])
    assert r.status_code == 201
    r = await admin.post("/api/knowledge/hr-annual-leave/publish", json={}, headers=h["editor"])
    assert r.status_code == 403 and "knowledge.publish" in r.json()["error"]
    r = await admin.post("/api/knowledge/hr-annual-leave/rollback", json={}, headers=h["editor"])
    assert r.status_code == 403
    assert r.json()["error"] == "the editor role cannot do knowledge.rollback (it needs publisher or above)"
    assert (await admin.post("/api/knowledge/hr-annual-leave/publish", json={})).status_code == 401

    assert runtime.knowledge.versions("hr-annual-leave") == [1, 2]
    assert runtime.knowledge.published_version("hr-annual-leave") == 1
    assert [c["kind"] for c in changes(runtime)] == ["knowledge.edit"]
    denied = {(e["actor"], e["action"], e["target"]) for e in runtime.access.events() if e["outcome"] == "denied_403"}
    assert {("viewer-user", "knowledge.edit", "/api/knowledge"),
            ("editor-user", "knowledge.publish", "/api/knowledge/{id}/publish"),
            ("editor-user", "knowledge.rollback", "/api/knowledge/{id}/rollback")} <= denied


async def test_cookie_sessions_need_json_and_the_csrf_token(admin: httpx.AsyncClient, runtime: Runtime,
                                                            h: dict[str, dict[str, str]]) -> None:
    token = h["publisher"]["authorization"].removeprefix("Bearer ")
    csrf = (await admin.post("/api/login", json={"token": token})).json()["csrf"]
    await admin.post("/api/knowledge/hr-annual-leave/versions", json={"title": "Annual leave (2027)"},
                     headers=h["editor"])
    publish = "/api/knowledge/hr-annual-leave/publish"
    r = await admin.post(publish, json={"version": 2})
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]
    r = await admin.post(publish, json={"version": 2}, headers={"x-csrf-token": csrf, "origin": "https://evil.example"})
    assert r.status_code == 403 and "cross-origin" in r.json()["error"]
    r = await admin.post(publish, content=json.dumps({"version": 2}),
                         headers={"x-csrf-token": csrf, "content-type": "text/plain"})
    assert r.status_code == 415
    assert runtime.knowledge.published_version("hr-annual-leave") == 1
    r = await admin.post(publish, json={"version": 2}, headers={"x-csrf-token": csrf})
    assert r.status_code == 200 and r.json()["published"] == 2
    assert (await admin.get("/api/knowledge/hr-annual-leave")).json()["version"] == 2  # a read needs no token


# --- bad input ---------------------------------------------------------------------------------------------------

BAD_BODIES = [
    ("/api/knowledge", b"{not json", "request body is not valid JSON"),
    ("/api/knowledge", b"\xff\xfe", "not valid UTF-8"),
    ("/api/knowledge", b"[1, 2]", "must be a JSON object"),
    ("/api/knowledge", b'{"title": "T", "body": "B"}', '"id" must be an entry id'),
    ("/api/knowledge", b'{"id": "Bad Id", "title": "T", "body": "B"}', "id: 'Bad Id' is not an entry id"),
    ("/api/knowledge", b'{"id": "x", "body": "B"}', "title: required and empty"),
    ("/api/knowledge", b'{"id": "x", "title": "T", "body": "  "}', "body: required and empty"),
    ("/api/knowledge", b'{"id": "x", "title": 5, "body": "B"}', "title: expected text, got int"),
    ("/api/knowledge", b'{"id": "x", "title": "T", "body": "B", "domain": "Help Desk"}', "domain: "),
    ("/api/knowledge", b'{"id": "x", "title": "T", "body": "a\\u202eb"}', "body: control or bidi-override"),
    ("/api/knowledge", b'{"id": "x", "title": "T", "body": "\\ud800"}', '"body" is not valid text'),
    ("/api/knowledge", b'{"id": "x", "title": "T", "body": "B", "fact": "F"}',
     "unknown field 'fact'; this request takes: id, title, body, topic, domain, message, override, reason"),
    ("/api/knowledge", b'{"id": "x", "title": "T", "body": "B", "message": 3}', '"message" must be a string'),
    ("/api/knowledge", b'{"id": "x", "title": "T", "body": "B", "override": "yes", "reason": "r"}',
     '"override" must be true or false'),
    ("/api/knowledge/hr-annual-leave/versions", b"{}", 'an edit needs at least one of "title", "body"'),
    ("/api/knowledge/hr-annual-leave/versions", b'{"message": "only words"}', "an edit needs at least one of"),
    ("/api/knowledge/hr-annual-leave/versions", b'{"id": "other", "title": "T"}', "unknown field 'id'"),
    ("/api/knowledge/hr-annual-leave/versions", b'{"title": "T", "base": "1"}', '"base" must be a version number'),
    ("/api/knowledge/hr-annual-leave/versions", b'{"title": ""}', "title: required and empty"),
    ("/api/knowledge/hr-annual-leave/publish", b'{"version": "1"}', '"version" must be a version number'),
    ("/api/knowledge/hr-annual-leave/publish", b'{"version": 0}', '"version" must be a version number'),
    ("/api/knowledge/hr-annual-leave/publish", b'{"version": true}', '"version" must be a version number'),
    ("/api/knowledge/hr-annual-leave/publish", b'{"label": "production"}', "unknown field 'label'"),
    ("/api/knowledge/hr-annual-leave/publish", b'{"reason": 5}', '"reason" must be a string'),
    ("/api/knowledge/hr-annual-leave/rollback", b'{"reason": ["a"]}', '"reason" must be a string'),
    ("/api/knowledge/hr-annual-leave/rollback", b'{"version": 1}', "unknown field 'version'"),
]


@pytest.mark.parametrize(("path", "body", "message"), BAD_BODIES)
async def test_bad_bodies_are_400_naming_the_field(admin: httpx.AsyncClient, runtime: Runtime,
                                                   h: dict[str, dict[str, str]], path: str, body: bytes,
                                                   message: str) -> None:
    r = await admin.post(path, content=body, headers={**h["admin"], "content-type": "application/json"})
    assert r.status_code == 400 and message in r.json()["error"], r.text
    assert runtime.audit.count() == 0 and len(runtime.knowledge.ids()) == SEEDED
    assert runtime.knowledge.versions("hr-annual-leave") == [1]


async def test_limits_of_bodies_and_fields(admin: httpx.AsyncClient, runtime: Runtime,
                                           h: dict[str, dict[str, str]]) -> None:
    r = await admin.post("/api/knowledge", json={**JAM, "body": "x" * 300_000}, headers=h["editor"])
    assert r.status_code == 413 and "over the limit" in r.json()["error"]  # the listener's cap, before any parsing
    r = await admin.post("/api/knowledge", json={**JAM, "body": "x" * 4001}, headers=h["editor"])
    assert r.status_code == 400 and r.json()["error"] == "body: 4001 characters; the limit is 4000"
    r = await admin.post("/api/knowledge", json={**JAM, "title": "t" * 161}, headers=h["editor"])
    assert r.status_code == 400 and "title: 161 characters; the limit is 160" in r.json()["error"]
    r = await admin.post("/api/knowledge/hr-annual-leave/rollback", json={"reason": "x" * 1001}, headers=h["admin"])
    assert r.status_code == 400 and r.json()["error"] == '"reason" has 1001 characters; the limit is 1000'
    r = await admin.post("/api/knowledge", json={**JAM, "message": "m" * 1001}, headers=h["editor"])
    assert r.status_code == 400 and r.json()["error"] == '"message" has 1001 characters; the limit is 1000'
    assert "it-printer-jam" not in runtime.knowledge.ids() and runtime.audit.count() == 0


async def test_conflicts_are_409_and_change_nothing(admin: httpx.AsyncClient, runtime: Runtime,
                                                    h: dict[str, dict[str, str]]) -> None:
    current = (await admin.get("/api/knowledge/hr-annual-leave", headers=h["viewer"])).json()
    r = await admin.post("/api/knowledge", json={"id": "hr-annual-leave", "title": "T", "body": "B"},
                         headers=h["editor"])
    assert r.status_code == 409
    assert r.json()["error"] == ("knowledge entry 'hr-annual-leave' exists; send a new version to "
                                 "/api/knowledge/hr-annual-leave/versions")
    r = await admin.post("/api/knowledge/hr-annual-leave/versions", json={"body": current["body"]},
                         headers=h["editor"])
    assert r.status_code == 409 and r.json()["error"].startswith("no change: the content is identical to "
                                                                 "hr-annual-leave v1")
    await admin.post("/api/knowledge/hr-annual-leave/versions", json={"title": "Leave", "base": 1},
                     headers=h["editor"])
    r = await admin.post("/api/knowledge/hr-annual-leave/versions", json={"title": "Annual leave", "base": 1},
                         headers=h["editor"])
    assert r.status_code == 409 and "v2 was saved after this form was opened (on v1)" in r.json()["error"]
    assert runtime.knowledge.versions("hr-annual-leave") == [1, 2] and len(changes(runtime)) == 1


async def test_four_eyes_refuses_publishing_ones_own_version(settings: Settings, tmp_path: Any) -> None:
    path = tmp_path / "decorum.yaml"
    path.write_text("prompts: {four_eyes: true}\n")
    rt = Runtime.open(Settings(config=path), classifier=FakeClassifier(), generator=FakeGenerator())
    _, token = rt.access.add_user("pia", "publisher", by=local_admin("local:test"))
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_apps(rt, load_models=False).admin),
                                 base_url=ADMIN) as admin:
        assert (await admin.post("/api/knowledge", json=JAM, headers=headers)).status_code == 201
        r = await admin.post("/api/knowledge/it-printer-jam/publish", json={}, headers=headers)
        assert r.status_code == 409
        assert r.json()["error"] == ("four eyes: pia wrote it-printer-jam v1 and may not publish it; another "
                                     "publisher must")
    assert rt.knowledge.published_version("it-printer-jam") is None


# --- unknown entries and versions ---------------------------------------------------------------------------------

UNKNOWN = [
    ("GET", "/api/knowledge/hr-annual-leav", None, "no knowledge entry 'hr-annual-leav'; similar: hr-annual-leave"),
    ("GET", "/api/knowledge/zzz", None, f"no knowledge entry 'zzz'; {SEEDED} entries (GET /api/knowledge)"),
    ("GET", "/api/knowledge/hr-annual-leave?version=9", None,
     "knowledge entry 'hr-annual-leave' has no version 9 (versions 1-1)"),
    ("GET", "/api/knowledge/hr-annual-leav/history", None, "similar: hr-annual-leave"),
    ("GET", "/api/knowledge/hr-annual-leave/diff?a=1&b=4", None, "has no version 4"),
    ("GET", "/api/knowledge/nope/diff?a=1&b=2", None, "no knowledge entry 'nope'"),
    ("POST", "/api/knowledge/hr-annual-leav/versions", {"body": "x"}, "similar: hr-annual-leave"),
    ("POST", "/api/knowledge/hr-annual-leav/publish", {}, "similar: hr-annual-leave"),
    ("POST", "/api/knowledge/hr-annual-leave/publish", {"version": 7}, "has no version 7"),
    ("POST", "/api/knowledge/hr-annual-leav/rollback", {}, "similar: hr-annual-leave"),
]


@pytest.mark.parametrize(("method", "path", "body", "message"), UNKNOWN)
async def test_unknown_entries_and_versions_are_404_naming_similar_ids(
        admin: httpx.AsyncClient, runtime: Runtime, h: dict[str, dict[str, str]], method: str, path: str,
        body: dict[str, Any] | None, message: str) -> None:
    r = await admin.request(method, path, json=body, headers=h["admin"])
    assert r.status_code == 404 and message in r.json()["error"], r.text
    assert runtime.audit.count() == 0


@pytest.mark.parametrize("query", ["", "?a=1", "?a=x&b=1", "?a=1&b=-2", "?a=0&b=1"])
async def test_diff_needs_two_version_numbers(admin: httpx.AsyncClient, h: dict[str, dict[str, str]],
                                              query: str) -> None:
    r = await admin.get(f"/api/knowledge/hr-annual-leave/diff{query}", headers=h["viewer"])
    assert r.status_code == 400 and "must be a version number" in r.json()["error"]
    r = await admin.get("/api/knowledge/hr-annual-leave?version=first", headers=h["viewer"])
    assert r.status_code == 400 and '"version" must be a version number' in r.json()["error"]


async def test_the_list_by_domain(admin: httpx.AsyncClient, h: dict[str, dict[str, str]]) -> None:
    r = await admin.get("/api/knowledge", params={"domain": "helpdesk"}, headers=h["viewer"])
    assert r.status_code == 200 and len(r.json()) == SEEDED
    assert {e["published"] for e in r.json()} == {1} and {e["domain"] for e in r.json()} == {"helpdesk"}
    await admin.post("/api/knowledge", json={**JAM, "domain": "facilities"}, headers=h["editor"])
    r = await admin.get("/api/knowledge", params={"domain": "facilities"}, headers=h["viewer"])
    assert [(e["id"], e["published"], e["latest"]) for e in r.json()] == [("it-printer-jam", None, 1)]
    r = await admin.get("/api/knowledge", params={"domain": "Help Desk!"}, headers=h["viewer"])
    assert r.status_code == 400 and '"domain" must be a domain name' in r.json()["error"]
