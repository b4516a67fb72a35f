"""Routing and policy as admin data over the admin API (``decorum.web.policy_api``), in-process over HTTP.

Fakes for the models (the rule-based classifier scores 0.01 unless a rule matches, the generator answers one
sentence); the database is the test's own. As in ``tests/test_live_config.py`` the configuration file turns the
sentence encoder off and routes the seeds' VPN case to the fine-tuned domain with a rule instead.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from decorum.access import ROLES, local_admin
from decorum.bot.runtime import Runtime
from decorum.guardrails.policy import TOXICITY_THRESHOLD
from decorum.settings import Settings
from decorum.web.app import create_apps
from tests.fakes import FakeClassifier, FakeGenerator

ADMIN = "http://127.0.0.1:8001"
ANSWER = "Open the VPN portal, choose Reset, and follow the steps for the printer."
VPN = {"name": "vpn", "match": {"pattern": "VPN"}, "strategy": "fine_tuned", "domain": "helpdesk"}
PRINTERS = {"name": "printers", "match": {"pattern": "(?i)printer"}, "template": "helpdesk"}


@pytest.fixture
def runtime(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"routing": {"semantic": False, "rules": [VPN]}}), encoding="utf-8")
    monkeypatch.setenv("DECORUM_CONFIG", str(cfg))
    return Runtime.open(Settings(), classifier=FakeClassifier({"idiot": {"toxicity": 0.9}}),
                        generator=FakeGenerator(ANSWER))


@pytest.fixture
async def admin(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_apps(runtime, load_models=False).admin
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ADMIN) as c:
        yield c


@pytest.fixture
def h(runtime: Runtime) -> dict[str, dict[str, str]]:
    """Bearer headers of one user per role (``viewer-user`` ... ``admin-user``)."""
    tokens = {role: runtime.access.add_user(f"{role}-user", role, by=local_admin("local:test"))[1] for role in ROLES}
    return {role: {"authorization": f"Bearer {token}"} for role, token in tokens.items()}


async def ask(admin: httpx.AsyncClient, h: dict[str, dict[str, str]], text: str) -> dict[str, Any]:
    """The transparency note of one question asked in the console's playground."""
    r = await admin.post("/api/ask", json={"text": text}, headers=h["viewer"])
    assert r.status_code == 200, r.text
    return dict(r.json())


def changes(rt: Runtime) -> list[dict[str, Any]]:
    return [n["change"] for n in reversed(rt.audit.list(limit=500, verdict="change"))]


def assert_chain_holds(rt: Runtime) -> None:
    v = rt.audit.verify()
    assert v.ok, v.reason
    assert v.checked == rt.audit.count()


# --- the whole flow -----------------------------------------------------------------------------------------

async def test_a_stricter_threshold_is_gated_overridden_applied_live_and_rolled_back(
        admin: httpx.AsyncClient, runtime: Runtime, h: dict[str, dict[str, str]]) -> None:
    r = await admin.get("/api/policy", headers=h["viewer"])
    assert r.status_code == 200, r.text
    now = r.json()
    assert (now["active"], now["applied"], now["versions"], now["events"]) == (None, None, [], [])
    assert now["effective"]["policy"]["checks"]["toxicity"]["threshold"] == TOXICITY_THRESHOLD
    assert now["effective"]["routing"]["rules"][0]["name"] == "vpn" and now["yaml"] == "policy: {}\nrouting: {}\n"
    before = await ask(admin, h, "Where is the printer?")
    assert before["verdict"] == "answered" and "live_config" not in before["guardrails"]

    strict = {"set": ["policy.checks.toxicity.threshold=0.005"], "message": "block nearly everything"}
    r = await admin.post("/api/policy", json=strict, headers=h["viewer"])
    assert r.status_code == 403
    assert r.json()["error"] == "the viewer role cannot do policy.edit (it needs admin or above)"
    r = await admin.post("/api/policy", json=strict, headers=h["publisher"])
    assert r.status_code == 403 and "publisher role cannot do policy.edit" in r.json()["error"]
    r = await admin.post("/api/policy", json=strict, headers=h["admin"])
    assert r.status_code == 201, r.text
    v1 = r.json()
    assert (v1["version"], v1["author"], v1["message"], v1["tests"]) == (1, "admin-user", "block nearly everything", [])
    assert v1["overlay"] == {"policy": {"checks": {"toxicity": {"threshold": 0.005}}}}
    assert yaml.safe_load(v1["yaml"]) == v1["overlay"]
    assert (await ask(admin, h, "Where is the printer?"))["verdict"] == "answered"  # saved is not active

    r = await admin.post("/api/policy/1/test", json={}, headers=h["admin"])
    assert r.status_code == 200, r.text
    run = r.json()
    assert (run["version"], run["passed"], run["summary"], run["actor"]) == (1, False, "0/3 cases passed", "admin-user")
    assert run["results"][0]["template"] == "general@1" and run["results"][0]["verdict"] == "blocked_input"
    assert run["results"][0]["failures"][0] == "guardrails did not pass (verdict blocked_input)"

    r = await admin.post("/api/policy/1/publish", json={"reason": "we know"}, headers=h["admin"])
    assert r.status_code == 409
    assert r.json()["error"].startswith("live@1 failed the test gate (general@1 case 0: guardrails did not pass (")
    r = await admin.post("/api/policy/1/publish", json={"override": True}, headers=h["admin"])
    assert r.status_code == 400 and r.json()["error"] == '"override" needs a "reason" (it is recorded with the change)'
    assert runtime.live.active_version() is None

    r = await admin.post("/api/policy/1/publish", json={"override": True, "reason": "drill"}, headers=h["admin"])
    assert r.status_code == 200, r.text
    assert r.json() == {"action": "publish", "version": 1, "from_version": None, "override": True, "reason": "drill",
                        "sha256": v1["sha256"], "tests": {"passed": False, "summary": "0/3 cases passed",
                                                          "at": run["at"], "actor": "admin-user"}}
    after = await ask(admin, h, "Where is the printer?")  # the same process: no restart
    assert after["verdict"] == "blocked_input" and after["guardrails"]["live_config"] == 1
    assert after["guardrails"]["input"][0]["threshold"] == 0.005
    r = await admin.post("/api/policy/1/publish", json={}, headers=h["admin"])
    assert r.status_code == 409 and r.json()["error"] == "live@1 is already active"

    now = (await admin.get("/api/policy", headers=h["viewer"])).json()
    assert (now["active"], now["applied"]["version"], now["effective"]["version"]) == (1, 1, 1)
    assert now["effective"]["policy"]["checks"]["toxicity"]["threshold"] == 0.005
    assert now["yaml"] == v1["yaml"]
    assert [(v["version"], v["tests"]["passed"], v["runs"]) for v in now["versions"]] == [(1, False, 1)]
    detail = (await admin.get("/api/policy/1", headers=h["viewer"])).json()
    assert detail["tests"][0]["results"] == run["results"]

    r = await admin.post("/api/policy/rollback", json={"reason": "drill over"}, headers=h["admin"])
    assert r.status_code == 200, r.text
    assert r.json() == {"action": "rollback", "version": None, "from_version": 1, "override": False,
                        "reason": "drill over", "sha256": None, "tests": None}
    again = await ask(admin, h, "Where is the printer?")
    assert again["verdict"] == "answered" and "live_config" not in again["guardrails"]
    r = await admin.post("/api/policy/rollback", json={}, headers=h["admin"])
    assert r.status_code == 409 and r.json()["error"] == "no earlier live configuration to roll back to"
    r = await admin.post("/api/policy/rollback", json={}, headers=h["viewer"])
    assert r.status_code == 403

    hist = (await admin.get("/api/policy", headers=h["viewer"])).json()
    assert [(e["action"], e["from_version"], e["version"], e["actor"], e["override"]) for e in hist["events"]] == [
        ("save", None, 1, "admin-user", False), ("test", None, 1, "admin-user", False),
        ("publish", None, 1, "admin-user", True), ("rollback", 1, None, "admin-user", False)]
    assert hist["active"] is None
    assert hist["effective"]["policy"]["checks"]["toxicity"]["threshold"] == TOXICITY_THRESHOLD
    recorded = changes(runtime)
    assert [(c["kind"], c["live_config"], c["actor"]) for c in recorded] == [
        ("live_config.save", 1, "admin-user"), ("live_config.test", 1, "admin-user"),
        ("live_config.publish", 1, "admin-user"), ("live_config.rollback", None, "admin-user")]
    assert (recorded[2]["override"], recorded[2]["reason"], recorded[3]["reason"]) == (True, "drill", "drill over")
    assert {n["surface"] for n in runtime.audit.list(limit=500, verdict="change")} == {"console"}
    assert_chain_holds(runtime)


async def test_a_routing_rule_in_yaml_passes_the_gate_routes_at_once_and_diffs(
        admin: httpx.AsyncClient, runtime: Runtime, h: dict[str, dict[str, str]]) -> None:
    only_printers = yaml.safe_dump({"routing": {"rules": [PRINTERS]}})
    r = await admin.post("/api/policy", json={"yaml": only_printers, "message": "printers"}, headers=h["admin"])
    assert r.status_code == 201, r.text
    r = await admin.post("/api/policy/1/publish", json={"reason": "helpdesk owns printers"}, headers=h["admin"])
    # the list replaces the file's rules: the VPN rule is gone, and a seed's case says so (the gate ran here)
    assert r.status_code == 409 and "helpdesk-tuned@1 case 0: strategy prompt_engineering != fine_tuned" in \
        r.json()["error"]

    both = yaml.safe_dump({"routing": {"rules": [PRINTERS, VPN]}})
    r = await admin.post("/api/policy", json={"yaml": both, "message": "both"}, headers=h["admin"])
    assert r.status_code == 201 and r.json()["version"] == 2, r.text
    r = await admin.post("/api/policy", json={"yaml": both, "message": "again"}, headers=h["admin"])
    assert r.status_code == 409 and r.json()["error"] == "no change: the content is identical to live@2"
    r = await admin.post("/api/policy/2/publish", json={}, headers=h["admin"])
    assert r.status_code == 200 and r.json()["tests"]["summary"] == "3/3 cases passed", r.text
    note = await ask(admin, h, "The printer on floor 2 jams")
    assert (note["route"]["reason"], note["route"]["rule"], note["template"]["name"]) == ("rule", "printers",
                                                                                         "helpdesk")
    assert note["guardrails"]["live_config"] == 2

    # ``set`` applies over the active overlay (v2's rules stay)
    r = await admin.post("/api/policy", json={"set": ["policy.max_question_chars=500"], "message": "shorter"},
                         headers=h["admin"])
    assert r.status_code == 201, r.text
    assert r.json()["overlay"] == {"policy": {"max_question_chars": 500}, "routing": {"rules": [PRINTERS, VPN]}}

    r = await admin.get("/api/policy/diff", params={"a": 1, "b": 2}, headers=h["viewer"])
    assert r.status_code == 200, r.text
    diff = r.json()
    assert diff["unified"].startswith("--- live@1\n+++ live@2\n") and "+    name: vpn\n" in diff["unified"]
    inserted = [row["right"] for row in diff["rows"] if row["kind"] == "insert"]
    assert diff["same"] is False and inserted[:2] == ["  - domain: helpdesk", "    match:"], inserted
    texts = [(await admin.get(f"/api/policy/{n}", headers=h["viewer"])).json()["yaml"] for n in (1, 2)]
    assert [row["left"] for row in diff["rows"] if row["left"] is not None] == texts[0].splitlines()
    assert [row["right"] for row in diff["rows"] if row["right"] is not None] == texts[1].splitlines()
    r = await admin.get("/api/policy/diff?a=2&b=2", headers=h["viewer"])
    assert r.json()["same"] is True and r.json()["unified"] == ""
    assert_chain_holds(runtime)


# --- bad input, unknown versions, sessions -----------------------------------------------------------------------

BAD_SAVES = [
    (b"{not json", "request body is not valid JSON"),
    (b"[1]", "must be a JSON object"),
    (b'{"set": ["policy.max_question_chars=5"], "message": "x", "mesage": "y"}', "unknown field 'mesage'"),
    (b'{"set": ["policy.max_question_chars=5"]}', '"message" must be a string'),
    (b'{"set": ["policy.max_question_chars=5"], "message": " "}', '"message" must not be empty'),
    (b'{"message": "x"}', 'send either "yaml"'),
    (b'{"yaml": "policy: {}", "set": [], "message": "x"}', 'send either "yaml"'),
    (b'{"set": "policy.max_question_chars=5", "message": "x"}', '"set" must be a non-empty list'),
    (b'{"set": [], "message": "x"}', '"set" must be a non-empty list'),
    (b'{"set": ["policy.checks.toxicity.threshold"], "message": "x"}', "expected KEY=VALUE"),
    (b'{"set": ["models.generator.engine=x"], "message": "x"}', "expected policy.KEY"),
    (b'{"set": ["policy.checks.toxicity.threshold=2"], "message": "x"}',
     "policy.checks.toxicity.threshold: Input should be less than or equal"),
    (b'{"set": ["policy.checks.nosuch.threshold=0.2"], "message": "x"}', "policy.checks.nosuch: no such check"),
    (b'{"set": ["policy.checks.toxicity.labels=[insult]"], "message": "x"}',
     "policy.checks.toxicity.labels: not a live setting"),
    (b'{"set": ["routing.default_template=nosuch"], "message": "x"}', "unknown template 'nosuch'"),
    (b'{"set": ["routing.rules=[{name: r, match: {}, strategy: fine_tuned, domain: nowhere}]"], "message": "x"}',
     "unknown domain 'nowhere'"),
    (b'{"yaml": "", "message": "x"}', '"yaml" must be the YAML text'),
    (b'{"yaml": "policy: [", "message": "x"}', "yaml: not valid YAML at line 1"),
    (b'{"yaml": "- 1\\n", "message": "x"}', "a live configuration is a mapping with policy and routing, got list"),
    (b'{"yaml": "secrets: {}\\n", "message": "x"}', "secrets: unknown section"),
    (b'{"yaml": "policy:\\n  classifier: {max_length: 64}\\n", "message": "x"}', "policy.classifier: not a live"),
    (b'{"yaml": "routing:\\n  rules: [{name: r, match: {pattern: \\"(\\"}, template: general}]\\n", "message": "x"}',
     "invalid regular expression"),
    (b'{"yaml": "policy:\\n  on_output_fail: explode\\n", "message": "x"}', "policy.on_output_fail: Input should be"),
]


async def test_bad_input_and_the_guards_refusals_are_400_and_save_nothing(
        admin: httpx.AsyncClient, runtime: Runtime, h: dict[str, dict[str, str]]) -> None:
    # one runtime for the whole table: each case must leave nothing behind for the next
    for body, message in BAD_SAVES:
        r = await admin.post("/api/policy", content=body, headers={**h["admin"], "content-type": "application/json"})
        assert r.status_code == 400 and message in r.json()["error"], (body, r.text)
    assert runtime.live.versions() == [] and runtime.audit.count() == 0


async def test_unknown_versions_are_404_and_bad_numbers_400(admin: httpx.AsyncClient, runtime: Runtime,
                                                            h: dict[str, dict[str, str]]) -> None:
    r = await admin.post("/api/policy", json={"set": ["policy.checks.bias.threshold=0.4"], "message": "bias"},
                         headers=h["admin"])
    assert r.status_code == 201, r.text
    for method, path in (("GET", "/api/policy/7"), ("GET", "/api/policy/diff?a=1&b=7"),
                         ("POST", "/api/policy/7/test"), ("POST", "/api/policy/7/publish")):
        r = await admin.request(method, path, json={} if method == "POST" else None, headers=h["admin"])
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"] == "no live configuration version 7; versions: 1", path
    for path in ("/api/policy/first", "/api/policy/diff?a=1", "/api/policy/diff?a=0&b=1"):
        r = await admin.get(path, headers=h["viewer"])
        assert r.status_code == 400 and "must be a version number" in r.json()["error"], path
    for body, message in (({"override": "yes", "reason": "x"}, '"override" must be true or false'),
                          ({"reason": "x" * 1001}, '"reason" has 1001 characters; the limit is 1000'),
                          ({"label": "production"}, "unknown field 'label'")):
        r = await admin.post("/api/policy/1/publish", json=body, headers=h["admin"])
        assert r.status_code == 400 and message in r.json()["error"], body
    assert (await admin.get("/api/policy")).status_code == 401
    assert [c["kind"] for c in changes(runtime)] == ["live_config.save"] and runtime.live.active_version() is None


async def test_cookie_sessions_need_json_and_the_csrf_token(admin: httpx.AsyncClient, runtime: Runtime,
                                                            h: dict[str, dict[str, str]]) -> None:
    token = h["admin"]["authorization"].removeprefix("Bearer ")
    csrf = (await admin.post("/api/login", json={"token": token})).json()["csrf"]
    body = {"set": ["policy.checks.bias.threshold=0.4"], "message": "bias"}
    r = await admin.post("/api/policy", json=body)
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]
    r = await admin.post("/api/policy", content=json.dumps(body),
                         headers={"x-csrf-token": csrf, "content-type": "text/plain"})
    assert r.status_code == 415 and runtime.live.versions() == []
    r = await admin.post("/api/policy", json=body, headers={"x-csrf-token": csrf})
    assert r.status_code == 201 and r.json()["author"] == "admin-user", r.text
