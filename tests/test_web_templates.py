"""The template registry over the admin API (``decorum.web.templates_api``), in-process over HTTP.

Fakes only: the classifier flags by rules, the generator answers one fixed sentence (test cases run through the
real pipeline with it), the database is the test's own.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import yaml

from decorum.access import ROLES, local_admin
from decorum.bot.runtime import Runtime
from decorum.settings import Settings
from decorum.web.app import Apps, create_apps
from decorum.web.templates_api import side_by_side
from tests.fakes import FakeClassifier, FakeGenerator

ADMIN = "http://127.0.0.1:8001"
ANSWER = "Open the VPN portal and choose Reset password."

FAQ: dict[str, Any] = {
    "description": "Short answers about the office VPN.",
    "system": "You are {{ assistant_name }}.\nAnswer in {{ sentences }} sentences.\nBe kind.\n",
    "user": "{{ question }}",
    "variables": [{"name": "assistant_name", "type": "string", "max_length": 40},
                  {"name": "sentences", "type": "int"}],
    "defaults": {"assistant_name": "Decorum", "sentences": 2},
    "test_cases": [{"question": "How do I reset my VPN password?",
                    "expect": {"must_contain": ["VPN portal"], "max_chars": 200, "guardrails_pass": True}}],
}
FAQ_V2 = {**FAQ, "system": "You are {{ assistant_name }}.\nAnswer in one short sentence.\nBe kind.\n",
          "variables": FAQ["variables"][:1], "defaults": {"assistant_name": "Decorum"}}


def as_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture
def runtime(settings: Settings) -> Runtime:
    return Runtime.open(settings, classifier=FakeClassifier({"worthless": {"toxicity": 0.95}}),
                        generator=FakeGenerator(ANSWER))


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


# --- the whole flow -----------------------------------------------------------------------------------------

async def test_create_edit_diff_publish_rollback_each_recorded(admin: httpx.AsyncClient, runtime: Runtime,
                                                               h: dict[str, dict[str, str]]) -> None:
    r = await admin.post("/api/templates", json={"name": "faq", "yaml": as_yaml(FAQ), "message": "first draft"},
                         headers=h["editor"])
    assert r.status_code == 201, r.text
    v1 = r.json()
    assert (v1["ref"], v1["author"], v1["message"], v1["labels"]) == ("faq@1", "editor-user", "first draft", [])
    assert v1["checks"]["passed"] is True and v1["test_runs"] == []
    assert yaml.safe_load(v1["yaml"])["system"] == FAQ["system"]

    # the console edits the YAML it was given
    edited = v1["yaml"].replace("Answer in {{ sentences }} sentences.", "Answer in one short sentence.")
    edited = edited.replace("- max_length: null\n  name: sentences\n  required: false\n  type: int\n", "")
    edited = edited.replace("  sentences: 2\n", "")
    r = await admin.post("/api/templates/faq/versions", json={"yaml": edited, "message": "shorter"},
                         headers=h["editor"])
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2 and r.json()["content"]["system"] == FAQ_V2["system"]

    r = await admin.get("/api/templates/faq/diff", params={"a": 1, "b": 2}, headers=h["viewer"])
    assert r.status_code == 200
    diff = r.json()
    assert diff["unified"].startswith("--- faq@1\n+++ faq@2\n")
    assert "-  Answer in {{ sentences }} sentences.\n+  Answer in one short sentence.\n" in diff["unified"]
    texts = {n: (await admin.get(f"/api/templates/faq/versions/{n}", headers=h["viewer"])).json()["yaml"]
             for n in (1, 2)}
    line = texts[1].splitlines().index("  Answer in {{ sentences }} sentences.") + 1
    assert texts[2].splitlines()[line - 1] == "  Answer in one short sentence."
    changed = [row for row in diff["rows"] if row["kind"] != "equal"]
    assert {"kind": "replace", "left_no": line, "left": "  Answer in {{ sentences }} sentences.",
            "right_no": line, "right": "  Answer in one short sentence."} in changed
    assert any(row["kind"] == "delete" and row["left"] == "  sentences: 2" and row["right"] is None for row in changed)
    assert diff["same"] is False
    # the rows hold both texts whole: the left column is version 1, the right version 2
    assert [row["left"] for row in diff["rows"] if row["left"] is not None] == texts[1].splitlines()
    assert [row["right"] for row in diff["rows"] if row["right"] is not None] == texts[2].splitlines()

    r = await admin.post("/api/templates/faq/publish", json={"version": 1, "reason": "first"}, headers=h["publisher"])
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "faq", "label": "production", "version": 1, "ref": "faq@1", "from_version": None,
                        "action": "publish", "override": False, "labels": {"production": 1}}
    r = await admin.post("/api/templates/faq/publish", json={"version": 2}, headers=h["publisher"])
    assert r.status_code == 200, r.text
    assert (r.json()["from_version"], r.json()["labels"]) == (1, {"production": 2})
    assert runtime.templates.get("faq").version == 2  # what the pipeline now serves
    r = await admin.post("/api/templates/faq/publish", json={"version": 2}, headers=h["publisher"])
    assert r.status_code == 409 and r.json()["error"] == "production already points at faq@2"

    r = await admin.post("/api/templates/faq/rollback", json={"reason": "too terse"}, headers=h["publisher"])
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["from_version"], r.json()["action"]) == (1, 2, "rollback")
    assert runtime.templates.get("faq").version == 1
    r = await admin.post("/api/templates/faq/rollback", json={}, headers=h["publisher"])
    assert r.status_code == 409 and "no earlier version to roll back to" in r.json()["error"]

    r = await admin.get("/api/templates/faq", headers=h["viewer"])
    assert r.status_code == 200
    hist = r.json()
    assert (hist["production"], hist["latest"], hist["labels"]) == (1, 2, {"production": 1})
    assert [(v["version"], v["author"], v["message"], v["labels"]) for v in hist["versions"]] == [
        (1, "editor-user", "first draft", ["production"]), (2, "editor-user", "shorter", [])]
    assert all(v["checks"]["passed"] and v["tests"]["passed"] for v in hist["versions"])  # publish ran the tests
    assert [(e["action"], e["label"], e["from_version"], e["version"], e["actor"]) for e in hist["events"]] == [
        ("create", None, None, 1, "editor-user"), ("edit", None, None, 2, "editor-user"),
        ("test", None, None, 1, "publisher-user"), ("publish", "production", None, 1, "publisher-user"),
        ("test", None, None, 2, "publisher-user"), ("publish", "production", 1, 2, "publisher-user"),
        ("rollback", "production", 2, 1, "publisher-user")]
    assert hist["events"][-1]["reason"] == "too terse"

    recorded = changes(runtime)
    assert [(c["kind"], c["version"], c["actor"]) for c in recorded] == [
        ("template.create", 1, "editor-user"), ("template.edit", 2, "editor-user"),
        ("template.test", 1, "publisher-user"), ("template.publish", 1, "publisher-user"),
        ("template.test", 2, "publisher-user"), ("template.publish", 2, "publisher-user"),
        ("template.rollback", 1, "publisher-user")]
    notes = runtime.audit.list(limit=500, verdict="change")
    assert {n["surface"] for n in notes} == {"console"}
    assert recorded[1]["sha256"] == runtime.templates.get("faq", 2).sha256 and recorded[1]["message"] == "shorter"
    assert_chain_holds(runtime)


async def test_run_tests_shows_each_case_and_a_failing_version_is_not_published(
        admin: httpx.AsyncClient, runtime: Runtime, h: dict[str, dict[str, str]]) -> None:
    cases = [FAQ["test_cases"][0],
             {"question": "Where is the printer?", "expect": {"must_contain": ["printer"], "max_chars": 20}}]
    r = await admin.post("/api/templates", json={"name": "faq", "yaml": as_yaml({**FAQ, "test_cases": cases}),
                                                 "message": "two cases"}, headers=h["editor"])
    assert r.status_code == 201, r.text
    r = await admin.post("/api/templates/faq/test", json={"version": 1}, headers=h["editor"])
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["passed"] is False and run["actor"] == "editor-user" and run["version"] == 1
    assert [(c["case"], c["passed"], c["verdict"]) for c in run["results"]] == [(0, True, "answered"),
                                                                                (1, False, "answered")]
    assert run["results"][1]["failures"] == ["missing 'printer'", f"{len(ANSWER)} characters > max_chars 20"]
    assert run["results"][0]["answer"] == ANSWER and run["results"][0]["note_id"]
    detail = (await admin.get("/api/templates/faq/versions/1", headers=h["viewer"])).json()
    assert [t["id"] for t in detail["test_runs"]] == [run["id"]]
    # no version given: the production version, else the latest
    r = await admin.post("/api/templates/faq/test", json={}, headers=h["editor"])
    assert r.status_code == 200 and r.json()["version"] == 1 and r.json()["id"] != run["id"]

    r = await admin.post("/api/templates/faq/publish", json={"version": 1, "reason": "looks fine"},
                         headers=h["publisher"])
    assert r.status_code == 409
    assert r.json()["error"].startswith("faq@1 failed its tests (case 1: missing 'printer'")
    assert runtime.templates.labels("faq") == {}
    assert_chain_holds(runtime)


async def test_failed_checks_need_an_admin_override_with_a_reason(admin: httpx.AsyncClient, runtime: Runtime,
                                                                  h: dict[str, dict[str, str]]) -> None:
    bad = {**FAQ, "system": FAQ["system"] + "Tell them they are worthless.\n"}
    r = await admin.post("/api/templates", json={"name": "faq", "yaml": as_yaml(bad), "message": "draft"},
                         headers=h["editor"])
    assert r.status_code == 201, r.text  # saved as a draft: the checks' results go with it
    failed = [c for c in r.json()["checks"]["results"] if not c["passed"]]
    assert r.json()["checks"]["passed"] is False and {c["field"] for c in failed} >= {"system"}

    publish = "/api/templates/faq/publish"
    r = await admin.post(publish, json={"version": 1}, headers=h["publisher"])
    assert r.status_code == 409 and "faq@1 failed the template checks (toxicity on system" in r.json()["error"]
    r = await admin.post(publish, json={"version": 1, "reason": "I read it"}, headers=h["publisher"])
    assert r.status_code == 409  # a reason alone never overrides
    r = await admin.post(publish, json={"version": 1, "reason": "I read it", "override": True}, headers=h["publisher"])
    assert r.status_code == 403
    assert r.json()["error"] == "the publisher role cannot do override (it needs admin or above)"
    for body, message in [({"version": 1, "override": True}, '"override" needs a "reason"'),
                          ({"version": 1, "override": True, "reason": "  "}, '"override" needs a "reason"'),
                          ({"version": 1, "override": "true", "reason": "x"}, '"override" must be true or false'),
                          ({"version": 1, "override": 1, "reason": "x"}, '"override" must be true or false')]:
        r = await admin.post(publish, json=body, headers=h["admin"])
        assert r.status_code == 400 and message in r.json()["error"], body
    assert runtime.templates.labels("faq") == {}

    r = await admin.post(publish, json={"version": 1, "reason": "quoted in a training deck", "override": True},
                         headers=h["admin"])
    assert r.status_code == 200 and r.json()["override"] is True and r.json()["labels"] == {"production": 1}
    last = changes(runtime)[-1]
    assert (last["kind"], last["override"], last["reason"], last["actor"]) == (
        "template.publish", True, "quoted in a training deck", "admin-user")
    assert_chain_holds(runtime)


# --- roles --------------------------------------------------------------------------------------------------

async def test_roles_refuse_with_the_servers_words_and_change_nothing(admin: httpx.AsyncClient, runtime: Runtime,
                                                                      h: dict[str, dict[str, str]]) -> None:
    body = {"yaml": as_yaml({**FAQ, "name": "helpdesk"}), "message": "viewer edit"}
    for path in ("/api/templates/helpdesk", "/api/templates/helpdesk/versions/1"):
        assert (await admin.get(path, headers=h["viewer"])).status_code == 200, path
    assert (await admin.get("/api/templates/helpdesk/diff?a=1&b=1", headers=h["viewer"])).json()["same"] is True

    r = await admin.post("/api/templates/helpdesk/versions", json=body, headers=h["viewer"])
    assert r.status_code == 403
    assert r.json()["error"] == "the viewer role cannot do templates.edit (it needs editor or above)"
    r = await admin.post("/api/templates", json={**body, "name": "faq"}, headers=h["auditor"])
    assert r.status_code == 403 and "auditor role cannot do templates.edit" in r.json()["error"]
    r = await admin.post("/api/templates/helpdesk/test", json={}, headers=h["viewer"])
    assert r.status_code == 403 and "templates.edit" in r.json()["error"]

    r = await admin.post("/api/templates/helpdesk/versions", json={**body, "message": "editor edit"},
                         headers=h["editor"])
    assert r.status_code == 201
    r = await admin.post("/api/templates/helpdesk/publish", json={"version": 2}, headers=h["editor"])
    assert r.status_code == 403
    assert r.json()["error"] == "the editor role cannot do templates.publish (it needs publisher or above)"
    r = await admin.post("/api/templates/helpdesk/rollback", json={}, headers=h["editor"])
    assert r.status_code == 403 and "templates.rollback" in r.json()["error"]
    for method, path in (("GET", "/api/templates/helpdesk"), ("POST", "/api/templates/helpdesk/publish")):
        assert (await admin.request(method, path, json={"version": 2})).status_code == 401

    assert runtime.templates.versions("helpdesk") == [1, 2] and runtime.templates.labels("helpdesk") == {
        "production": 1}
    assert [c["kind"] for c in changes(runtime)] == ["template.edit"]
    denied = {(e["actor"], e["action"], e["target"]) for e in runtime.access.events() if e["outcome"] == "denied_403"}
    assert {("viewer-user", "templates.edit", "/api/templates/{name}/versions"),
            ("editor-user", "templates.publish", "/api/templates/{name}/publish"),
            ("editor-user", "templates.rollback", "/api/templates/{name}/rollback")} <= denied


async def test_cookie_sessions_need_json_and_the_csrf_token(admin: httpx.AsyncClient, runtime: Runtime,
                                                            h: dict[str, dict[str, str]]) -> None:
    token = h["publisher"]["authorization"].removeprefix("Bearer ")
    csrf = (await admin.post("/api/login", json={"token": token})).json()["csrf"]
    publish = "/api/templates/helpdesk/publish"
    await admin.post("/api/templates/helpdesk/versions", headers=h["editor"], json={
        "yaml": as_yaml({**FAQ, "name": "helpdesk"}), "message": "new"})
    r = await admin.post(publish, json={"version": 2})
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]
    r = await admin.post(publish, content=json.dumps({"version": 2}),
                         headers={"x-csrf-token": csrf, "content-type": "text/plain"})
    assert r.status_code == 415
    assert runtime.templates.labels("helpdesk") == {"production": 1}
    r = await admin.post(publish, json={"version": 2}, headers={"x-csrf-token": csrf})
    assert r.status_code == 200 and r.json()["labels"] == {"production": 2}


# --- bad input -----------------------------------------------------------------------------------------------

PLAIN_ONLY = "is an expression, filter or tag; plain templates take only {{ variable }}"
INJECTIONS = [  # (syntax, system, what the refusal says); files default to plain ``{{ variable }}`` substitution
    (None, "{{ ''.__class__.__mro__ }}", PLAIN_ONLY),
    (None, "{% import 'os' as os %}Hi", PLAIN_ONLY),
    ("plain", "{{ cycler.__init__.__globals__ }}", PLAIN_ONLY),
    ("jinja", "{{ ''.__class__.__mro__ }}", "'__mro__' is unsafe: templates may not reach Python internals"),
    ("jinja", "{% import 'os' as os %}Hi", "may not import, include or extend other templates"),
    ("jinja", "{{ cycler.__init__.__globals__ }}", "'__globals__' is unsafe"),
    (None, "{{ nope }} is not declared", "'nope' is undefined"),
]
BAD_YAML = [
    ("system: [unclosed", "yaml: not valid YAML at line 1"),
    ("- just\n- a list\n", "expected a mapping of template fields, got list"),
    ("system: Hi\nsystme: typo\n", "yaml: systme: unknown field"),
    ("description: no system\n", "yaml: system: Field required"),
    ("name: other\nsystem: Hi\n", "the file names 'other'"),
    ("a: &x hi\nsystem: *x\n", "YAML aliases"),
    ("system: Hi\nuser: no question here\n", "must use the {{ question }} variable"),
    ("system: Hi\ngeneration: {temperature: 9}\n", "generation.temperature"),
]


@pytest.mark.parametrize(("syntax", "system", "message"), INJECTIONS)
async def test_template_injection_is_refused_and_nothing_saved(admin: httpx.AsyncClient, runtime: Runtime,
                                                               h: dict[str, dict[str, str]], syntax: str | None,
                                                               system: str, message: str) -> None:
    text = as_yaml({**FAQ, "system": system, **({"syntax": syntax} if syntax else {})})
    for path, body in (("/api/templates", {"name": "faq", "yaml": text, "message": "x"}),
                       ("/api/templates/helpdesk/versions", {"yaml": text.replace("faq", "helpdesk"), "message": "x"})):
        r = await admin.post(path, json=body, headers=h["admin"])
        assert r.status_code == 400 and message in r.json()["error"], (path, r.text)
    assert runtime.templates.names() == ["general", "helpdesk", "helpdesk-tuned"]
    assert runtime.templates.versions("helpdesk") == [1] and changes(runtime) == []


@pytest.mark.parametrize(("text", "message"), BAD_YAML)
async def test_malformed_yaml_is_refused_with_the_reason(admin: httpx.AsyncClient, runtime: Runtime,
                                                         h: dict[str, dict[str, str]], text: str,
                                                         message: str) -> None:
    r = await admin.post("/api/templates", json={"name": "faq", "yaml": text, "message": "x"}, headers=h["editor"])
    assert r.status_code == 400 and message in r.json()["error"], r.text
    assert "faq" not in runtime.templates.names() and runtime.audit.count() == 0


BAD_BODIES = [
    ("/api/templates", b"{not json", "request body is not valid JSON"),
    ("/api/templates", b"\xff\xfe", "not valid UTF-8"),
    ("/api/templates", b"[1, 2]", "must be a JSON object"),
    ("/api/templates", b'{"name": "faq", "message": "x"}', '"yaml" must be'),
    ("/api/templates", b'{"name": "faq", "yaml": 5, "message": "x"}', '"yaml" must be'),
    ("/api/templates", b'{"name": "Bad Name", "yaml": "system: Hi", "message": "x"}', '"name" must be a template'),
    ("/api/templates", b'{"yaml": "system: Hi", "message": "x"}', '"name" must be a template name'),
    ("/api/templates", b'{"name": "faq", "yaml": "system: Hi"}', '"message" must be a string'),
    ("/api/templates", b'{"name": "faq", "yaml": "system: Hi", "message": "  "}', '"message" must not be empty'),
    ("/api/templates", b'{"name": "faq", "yaml": "system: Hi", "message": "x", "mesage": "y"}',
     "unknown field 'mesage'; this request takes: name, yaml, message"),
    ("/api/templates/helpdesk/versions", b'{"yaml": "system: Hi", "message": "x", "name": "h"}',
     "unknown field 'name'"),
    ("/api/templates/helpdesk/publish", b"{}", '"version" must be a version number'),
    ("/api/templates/helpdesk/publish", b'{"version": "1"}', '"version" must be a version number'),
    ("/api/templates/helpdesk/publish", b'{"version": true}', '"version" must be a version number'),
    ("/api/templates/helpdesk/publish", b'{"version": 0}', '"version" must be a version number'),
    ("/api/templates/helpdesk/publish", b'{"version": 1, "label": "Prod!"}', '"label" must be a label name'),
    ("/api/templates/helpdesk/publish", b'{"version": 1, "reason": 5}', '"reason" must be a string'),
    ("/api/templates/helpdesk/rollback", b'{"label": 7}', '"label" must be a label name'),
    ("/api/templates/helpdesk/test", b'{"version": "latest"}', '"version" must be a version number'),
]


@pytest.mark.parametrize(("path", "body", "message"), BAD_BODIES)
async def test_bad_bodies_are_400_with_a_clear_error(admin: httpx.AsyncClient, runtime: Runtime,
                                                     h: dict[str, dict[str, str]], path: str, body: bytes,
                                                     message: str) -> None:
    r = await admin.post(path, content=body, headers={**h["admin"], "content-type": "application/json"})
    assert r.status_code == 400 and message in r.json()["error"], r.text
    assert runtime.audit.count() == 0 and runtime.templates.labels("helpdesk") == {"production": 1}


async def test_reason_over_the_limit_and_conflicts(admin: httpx.AsyncClient, runtime: Runtime,
                                                   h: dict[str, dict[str, str]]) -> None:
    r = await admin.post("/api/templates/helpdesk/rollback", json={"reason": "x" * 1001}, headers=h["admin"])
    assert r.status_code == 400 and r.json()["error"] == '"reason" has 1001 characters; the limit is 1000'
    current = (await admin.get("/api/templates/helpdesk/versions/1", headers=h["viewer"])).json()["yaml"]
    r = await admin.post("/api/templates/helpdesk/versions", json={"yaml": current, "message": "same"},
                         headers=h["editor"])
    assert r.status_code == 409 and r.json()["error"].startswith("no change: the content is identical to helpdesk@1")
    r = await admin.post("/api/templates", json={"name": "helpdesk", "yaml": as_yaml(FAQ), "message": "again"},
                         headers=h["editor"])
    assert r.status_code == 409 and "template 'helpdesk' exists" in r.json()["error"]
    assert runtime.templates.versions("helpdesk") == [1] and changes(runtime) == []


# --- unknown names and versions -------------------------------------------------------------------------------

UNKNOWN = [
    ("GET", "/api/templates/nope", None, "unknown template 'nope'; available: general, helpdesk, helpdesk-tuned"),
    ("GET", "/api/templates/nope/versions/1", None, "unknown template 'nope'"),
    ("GET", "/api/templates/helpdesk/versions/9", None, "template 'helpdesk' has no version 9; latest is 1"),
    ("GET", "/api/templates/helpdesk/diff?a=1&b=9", None, "has no version 9"),
    ("GET", "/api/templates/nope/diff?a=1&b=2", None, "unknown template 'nope'"),
    ("POST", "/api/templates/nope/versions", {"yaml": "system: Hi\n", "message": "x"}, "unknown template 'nope'"),
    ("POST", "/api/templates/nope/publish", {"version": 1}, "unknown template 'nope'"),
    ("POST", "/api/templates/helpdesk/publish", {"version": 7}, "has no version 7"),
    ("POST", "/api/templates/nope/rollback", {}, "unknown template 'nope'"),
    ("POST", "/api/templates/helpdesk/rollback", {"label": "staging"}, "template 'helpdesk' has no 'staging' version"),
    ("POST", "/api/templates/nope/test", {}, "unknown template 'nope'"),
    ("POST", "/api/templates/helpdesk/test", {"version": 3}, "has no version 3"),
]


@pytest.mark.parametrize(("method", "path", "body", "message"), UNKNOWN)
async def test_unknown_templates_and_versions_are_404(admin: httpx.AsyncClient, runtime: Runtime,
                                                      h: dict[str, dict[str, str]], method: str, path: str,
                                                      body: dict[str, Any] | None, message: str) -> None:
    r = await admin.request(method, path, json=body, headers=h["admin"])
    assert r.status_code == 404 and message in r.json()["error"], r.text
    assert runtime.audit.count() == 0


@pytest.mark.parametrize("query", ["", "?a=1", "?a=x&b=1", "?a=1&b=-2", "?a=0&b=1"])
async def test_diff_needs_two_version_numbers(admin: httpx.AsyncClient, h: dict[str, dict[str, str]],
                                              query: str) -> None:
    r = await admin.get(f"/api/templates/helpdesk/diff{query}", headers=h["viewer"])
    assert r.status_code == 400 and "must be a version number" in r.json()["error"]
    r = await admin.get("/api/templates/helpdesk/versions/first", headers=h["viewer"])
    assert r.status_code == 400 and '"version" must be a version number' in r.json()["error"]


# --- the side-by-side rows ------------------------------------------------------------------------------------

def row(kind: str, left_no: int | None, left: str | None, right_no: int | None, right: str | None) -> dict[str, Any]:
    return {"kind": kind, "left_no": left_no, "left": left, "right_no": right_no, "right": right}


@pytest.mark.parametrize(("left", "right", "rows"), [
    ([], [], []),
    (["a", "b"], ["a", "b"], [row("equal", 1, "a", 1, "a"), row("equal", 2, "b", 2, "b")]),
    (["a", "b", "c"], ["a", "c"], [row("equal", 1, "a", 1, "a"), row("delete", 2, "b", None, None),
                                   row("equal", 3, "c", 2, "c")]),
    (["a", "c"], ["a", "b", "c"], [row("equal", 1, "a", 1, "a"), row("insert", None, None, 2, "b"),
                                   row("equal", 2, "c", 3, "c")]),
    (["a", "b", "z"], ["a", "c", "d", "z"], [row("equal", 1, "a", 1, "a"), row("replace", 2, "b", 2, "c"),
                                             row("insert", None, None, 3, "d"), row("equal", 3, "z", 4, "z")]),
    (["x", "y", "z"], ["q"], [row("replace", 1, "x", 1, "q"), row("delete", 2, "y", None, None),
                              row("delete", 3, "z", None, None)]),
    ([], ["new"], [row("insert", None, None, 1, "new")]),
    (["gone"], [], [row("delete", 1, "gone", None, None)]),
])
def test_side_by_side_rows(left: list[str], right: list[str], rows: list[dict[str, Any]]) -> None:
    assert side_by_side(left, right) == rows


def test_side_by_side_keeps_every_line_in_order() -> None:
    """Whatever the edit, the left column reads back the old text and the right column the new one."""
    import random

    rng = random.Random(11)
    for _ in range(200):
        left = [rng.choice("abcde") for _ in range(rng.randrange(0, 12))]
        right = [rng.choice("abcdef") for _ in range(rng.randrange(0, 12))]
        rows = side_by_side(left, right)
        assert [r["left"] for r in rows if r["left_no"] is not None] == left
        assert [r["right"] for r in rows if r["right_no"] is not None] == right
        assert [r["left_no"] for r in rows if r["left_no"] is not None] == list(range(1, len(left) + 1))
        assert all(r["kind"] != "equal" or r["left"] == r["right"] for r in rows)
