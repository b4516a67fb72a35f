"""Access and hardening of the listeners, repeating the outside probes of issue 10 against the real ASGI apps.

Probes (before: every one of these succeeded anonymously): ``POST /api/ask`` and ``GET /api/audit`` without
a login, ``/metrics`` and the console data open, any ``Host`` accepted, a ``text/plain`` POST taken as JSON,
the admin routes served on the public (Slack) listener, an oversized body read whole before a 401.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from decorum.access import PERMISSIONS, ROLES, AccessConfig, AccessControl, local_admin, permissions_of
from decorum.bot.runtime import Runtime
from decorum.errors import Forbidden, Unauthenticated, UsageError
from decorum.settings import Settings
from decorum.web.app import Apps, create_apps
from tests.fakes import FakeClassifier, FakeGenerator

ADMIN = "http://127.0.0.1:8001"
PUBLIC = "http://127.0.0.1:8000"


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
def tokens(runtime: Runtime) -> dict[str, str]:
    """One user per role, created as the CLI does."""
    return {role: runtime.access.add_user(f"{role}-user", role, by=local_admin("local:test"))[1] for role in ROLES}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


# --- roles ------------------------------------------------------------------------------------------------

def test_roles_are_cumulative_and_every_permission_has_a_least_role() -> None:
    held = [set(permissions_of(r)) for r in ROLES]
    assert all(a < b for a, b in itertools.pairwise(held))  # each role adds to the one before
    assert held[-1] == set(PERMISSIONS)
    assert "audit.read" not in held[0] and "audit.read" in held[1]
    assert "templates.edit" in held[2] and "templates.publish" not in held[2]
    assert "models.promote" in held[3] and "users.manage" not in held[3]


def test_tokens_are_shown_once_and_stored_hashed(runtime: Runtime, database: Any) -> None:
    from sqlalchemy import text

    user, token = runtime.access.add_user("ana", "auditor", by=local_admin("local:root"))
    assert token.startswith("dcm_") and len(token) > 40 and "token" not in user
    with runtime.db.session() as s:
        raw = json.dumps([list(r) for r in s.execute(text("SELECT * FROM app_user")).all()])
    assert token not in raw and token[8:] not in raw
    assert runtime.access.authenticate_token(token).role == "auditor"  # type: ignore[union-attr]
    assert runtime.access.authenticate_token(token + "x") is None
    with pytest.raises(UsageError, match="exists already"):
        runtime.access.add_user("ana", "admin", by=local_admin("local:root"))
    for bad in ("", "a b", "x" * 65, "-lead", "ünï"):
        with pytest.raises(UsageError, match="user name"):
            runtime.access.add_user(bad, "viewer", by=local_admin("local:root"))
    runtime.access.revoke_user("ana", by=local_admin("local:root"))
    assert runtime.access.authenticate_token(token) is None
    with pytest.raises(UsageError, match="revoked already"):
        runtime.access.revoke_user("ana", by=local_admin("local:root"))
    with pytest.raises(UsageError, match="no user"):
        runtime.access.revoke_user("nobody", by=local_admin("local:root"))


def test_require_refuses_and_records(runtime: Runtime) -> None:
    access = runtime.access
    _, token = access.add_user("vic", "viewer", by=local_admin("local:root"))
    who = access.authenticate_token(token)
    with pytest.raises(Unauthenticated):
        access.require(None, "audit.read", surface="api", target="/api/audit")
    with pytest.raises(Forbidden, match=r"viewer role cannot do audit\.read"):
        access.require(who, "audit.read", surface="api", target="/api/audit")
    assert access.require(who, "playground.ask", surface="api") is who
    outcomes = [(e["actor"], e["action"], e["outcome"]) for e in access.events()]
    assert ("vic", "audit.read", "denied_403") in outcomes and ("anonymous", "audit.read", "denied_401") in outcomes
    assert ("local:root", "users.add", "ok") in outcomes


def test_slack_roles_by_user_id_and_workspace_admins(database: Any) -> None:
    access = AccessControl(database, AccessConfig(slack_roles={"U0AUDIT": "auditor"}, slack_workspace_admins="editor"))
    assert access.slack_principal("U0AUDIT", pseudonym="hmac:a").role == "auditor"  # type: ignore[union-attr]
    assert access.slack_principal("U0NOBODY", pseudonym="hmac:b") is None  # asking needs no role; nothing else
    assert access.slack_principal("U0NOBODY", pseudonym="hmac:b", is_workspace_admin=True).role == "editor"  # type: ignore[union-attr]
    plain = AccessControl(database, AccessConfig(slack_roles={"U0AUDIT": "auditor"}))
    assert plain.slack_principal("U0NOBODY", pseudonym="hmac:b", is_workspace_admin=True) is None
    with pytest.raises(ValueError, match="not a Slack user id"):
        AccessConfig(slack_roles={"alice": "admin"})


# --- the admin listener -----------------------------------------------------------------------------------

async def test_anonymous_probes_get_401(admin: httpx.AsyncClient, runtime: Runtime) -> None:
    r = await admin.post("/api/ask", json={"text": "How do I reset my VPN password?"})
    assert r.status_code == 401 and "login required" in r.json()["error"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    for path in ("/api/audit", "/api/audit/verify", "/api/audit/X", "/metrics", "/api/templates", "/api/models",
                 "/api/users", "/api/access/events", "/api/me", "/api/health"):
        assert (await admin.get(path)).status_code == 401, path
    assert runtime.audit.count() == 0  # the model never ran for an anonymous caller
    r = await admin.get("/api/audit", headers=bearer("dcm_" + "x" * 43))
    assert r.status_code == 401
    denied = [e for e in runtime.access.events() if e["outcome"] == "denied_401"]
    assert {"playground.ask", "audit.read", "metrics.read"} <= {e["action"] for e in denied}


async def test_roles_on_the_api(admin: httpx.AsyncClient, tokens: dict[str, str], runtime: Runtime) -> None:
    r = await admin.post("/api/ask", json={"text": "How do I reset my VPN password?"}, headers=bearer(tokens["viewer"]))
    assert r.status_code == 200 and r.json()["verdict"] == "answered"
    note = r.json()
    assert note["user"].startswith("hmac:") and "viewer-user" not in json.dumps(note)  # pseudonymised asker
    r = await admin.get("/api/audit", headers=bearer(tokens["viewer"]))
    assert r.status_code == 403
    assert r.json()["error"] == "the viewer role cannot do audit.read (it needs auditor or above)"
    r = await admin.get("/api/audit", headers=bearer(tokens["auditor"]))
    assert r.status_code == 200 and [n["id"] for n in r.json()["records"]] == [note["id"]]
    shown = (await admin.get(f"/api/audit/{note['id']}", headers=bearer(tokens["auditor"]))).json()
    assert shown["note"]["id"] == note["id"] and shown["verify"]["ok"] is True
    assert (await admin.get("/api/audit/nope", headers=bearer(tokens["auditor"]))).status_code == 404
    assert (await admin.get("/api/users", headers=bearer(tokens["publisher"]))).status_code == 403
    assert (await admin.get("/metrics", headers=bearer(tokens["viewer"]))).status_code == 200
    r = await admin.post("/api/users", json={"name": "newbie", "role": "viewer"}, headers=bearer(tokens["admin"]))
    assert r.status_code == 201 and r.json()["token"].startswith("dcm_")
    r = await admin.post("/api/users/newbie/revoke", json={}, headers=bearer(tokens["admin"]))
    assert r.status_code == 200 and r.json()["active"] is False
    assert (await admin.post("/api/users/ghost/revoke", json={}, headers=bearer(tokens["admin"]))).status_code == 404
    events = (await admin.get("/api/access/events", headers=bearer(tokens["admin"]))).json()
    assert any(e["actor"] == "viewer-user" and e["outcome"] == "denied_403" and e["target"] == "/api/audit"
               for e in events)
    assert any(e["action"] == "users.add" and e["actor"] == "admin-user" and e["surface"] == "api" for e in events)


async def test_bad_bodies_are_refused_clearly(admin: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    h = bearer(tokens["viewer"])
    for bad in (b"{not json", b"\xff\xfe", b"[1,2]", b'{"text": 5}', b'{"text": ""}'):
        r = await admin.post("/api/ask", content=bad, headers={**h, "content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"], bad
    # a cross-site form can send text/plain; the API takes JSON only
    r = await admin.post("/api/ask", content=b'{"text": "hi"}', headers={**h, "content-type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["error"]
    r = await admin.post("/api/ask", content=b"x" * (300 * 1024), headers={**h, "content-type": "application/json"})
    assert r.status_code == 413 and "limit" in r.json()["error"]


async def test_chunked_body_over_the_limit_is_cut_off(apps: Apps, tokens: dict[str, str]) -> None:
    """A chunked body (no Content-Length) is counted as it arrives and refused once past the cap."""
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(64):  # 64 x 64 KiB = 4 MiB offered
            pulled += 1
            yield b"x" * 65536

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=apps.admin), base_url=ADMIN) as c:
        r = await c.post("/api/ask", content=body(), headers={**bearer(tokens["viewer"]),
                                                             "content-type": "application/json"})
    assert r.status_code == 413
    assert pulled <= 6  # stopped after ~256 KiB, not 4 MiB


async def test_host_allow_list(admin: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    h = bearer(tokens["auditor"])
    for host in ("evil.example", "127.0.0.1.nip.io", "attacker:8001"):
        r = await admin.get("/api/audit", headers={**h, "host": host})
        assert r.status_code == 421, host
    for host in ("127.0.0.1:8001", "localhost:8001", "[::1]:8001", "LOCALHOST"):
        assert (await admin.get("/api/audit", headers={**h, "host": host})).status_code == 200, host


async def test_allowed_hosts_setting(runtime: Runtime, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DECORUM_ALLOWED_HOSTS", "decorum.internal, ops.example")
    rt = Runtime.open(Settings(), classifier=FakeClassifier(), generator=FakeGenerator("ok"))
    apps = create_apps(rt, load_models=False)
    transport = httpx.ASGITransport(app=apps.admin)
    h = bearer(tokens["auditor"])
    async with httpx.AsyncClient(transport=transport, base_url="http://decorum.internal") as c:
        assert (await c.get("/api/audit", headers=h)).status_code == 200
        assert (await c.get("/api/audit", headers={**h, "host": "x.example"})).status_code == 421


async def test_console_security_headers(admin: httpx.AsyncClient) -> None:
    r = await admin.get("/")
    assert r.status_code == 200 and "Decorum console" in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in r.text and "<style>" not in r.text  # nothing inline for the CSP to allow
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer" and r.headers["cache-control"] == "no-store"
    assert (await admin.get("/console.js")).headers["content-type"].startswith("text/javascript")


async def test_cookie_session_login_and_csrf(admin: httpx.AsyncClient, tokens: dict[str, str],
                                             runtime: Runtime) -> None:
    r = await admin.post("/api/login", json={"token": "dcm_wrong"})
    assert r.status_code == 401 and "decorum_session" not in r.headers.get("set-cookie", "")
    r = await admin.post("/api/login", content=json.dumps({"token": tokens["auditor"]}),
                         headers={"content-type": "text/plain"})
    assert r.status_code == 415  # a cross-site form cannot log someone in
    r = await admin.post("/api/login", json={"token": tokens["auditor"]})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    me = r.json()
    assert me["user"] == "auditor-user" and me["role"] == "auditor" and "audit.read" in me["permissions"]
    csrf = me["csrf"]
    assert (await admin.get("/api/audit")).status_code == 200  # the cookie is the login
    assert (await admin.get("/api/me")).json()["csrf"] == csrf
    # a change over the cookie needs the CSRF token, and this origin when the browser names one
    ask = {"text": "How do I reset my VPN password?"}
    assert (await admin.post("/api/ask", json=ask)).status_code == 403
    assert (await admin.post("/api/ask", json=ask, headers={"x-csrf-token": "forged"})).status_code == 403
    r = await admin.post("/api/ask", json=ask, headers={"x-csrf-token": csrf, "origin": "http://evil.example"})
    assert r.status_code == 403 and "cross-origin" in r.json()["error"]
    r = await admin.post("/api/ask", json=ask, headers={"x-csrf-token": csrf, "origin": ADMIN})
    assert r.status_code == 200
    # an auditor cannot reach an admin action, cookie or not
    r = await admin.post("/api/users", json={"name": "x", "role": "admin"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 403 and "users.manage" in r.json()["error"]
    assert any(e["outcome"] == "denied_403" and e["actor"] == "auditor-user" and e["action"] == "playground.ask"
               for e in runtime.access.events())
    # revoking the user ends the session at once
    runtime.access.revoke_user("auditor-user", by=local_admin("local:test"))
    assert (await admin.get("/api/audit")).status_code == 401
    # logout clears it
    await admin.post("/api/login", json={"token": tokens["viewer"]})
    assert (await admin.get("/api/me")).status_code == 200
    csrf = (await admin.get("/api/me")).json()["csrf"]
    assert (await admin.post("/api/logout", json={}, headers={"x-csrf-token": csrf})).status_code == 200
    assert (await admin.get("/api/me")).status_code == 401


# --- the public listener -----------------------------------------------------------------------------------

async def test_public_listener_serves_only_slack_and_health(apps: Apps, tokens: dict[str, str]) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=apps.public), base_url=PUBLIC) as c:
        assert (await c.get("/healthz")).status_code == 503  # loading (models not loaded in this test)
        for path in ("/", "/api/audit", "/metrics", "/api/me", "/console.js"):
            assert (await c.get(path, headers=bearer(tokens["admin"]))).status_code == 404, path
        r = await c.post("/api/ask", json={"text": "hi"}, headers=bearer(tokens["admin"]))
        assert r.status_code in (404, 413)
        assert (await c.get("/slack/events")).status_code == 404  # Slack is not configured here


def test_cli_users_add_list_revoke(runtime: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    from decorum.cli import main

    assert main(["users", "add", "carol", "--role", "publisher", "--as", "ops-lead"]) == 0
    out = capsys.readouterr().out
    token = out.strip().splitlines()[-1]
    assert token.startswith("dcm_") and "publisher" in out
    assert main(["users", "list", "--json"]) == 0
    [carol] = json.loads(capsys.readouterr().out)
    assert carol["name"] == "carol" and carol["role"] == "publisher" and carol["created_by"] == "ops-lead"
    assert token not in json.dumps(carol)
    assert main(["users", "add", "carol", "--role", "viewer"]) == 2
    assert "exists already" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["users", "add", "dave", "--role", "root"])
    assert exc.value.code == 2
    assert main(["users", "revoke", "carol"]) == 0
    assert main(["users", "revoke", "carol"]) == 2
    assert main(["users", "events", "--json"]) == 0
    actions = [e["action"] for e in json.loads(capsys.readouterr().out.strip().splitlines()[-1])]
    assert actions[:2] == ["users.revoke", "users.add"]
    assert runtime.access.authenticate_token(token) is None


async def test_api_answers_503_when_full_and_429_past_the_rate(settings: Settings, tmp_path: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: 300 concurrent anonymous asks all ran. Now: a login, a bounded queue and a per-user rate."""
    import asyncio
    import time

    config = tmp_path / "limits.yaml"
    config.write_text("limits: {max_in_flight: 2, max_pending: 2, asks_burst: 50}\nrouting: {semantic: false}\n")
    monkeypatch.setenv("DECORUM_CONFIG", str(config))

    def slow(_: Any) -> str:
        time.sleep(0.3)
        return "Open the VPN portal."

    rt = Runtime.open(Settings(), classifier=FakeClassifier(), generator=FakeGenerator(slow))
    _, token = rt.access.add_user("busy-viewer", "viewer", by=local_admin("local:test"))
    apps = create_apps(rt, load_models=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=apps.admin), base_url=ADMIN, timeout=60) as c:
        rs = await asyncio.gather(*(c.post("/api/ask", json={"text": f"question {i}"}, headers=bearer(token))
                                    for i in range(30)))
        codes = sorted(r.status_code for r in rs)
        assert codes.count(200) >= 2 and codes.count(503) >= 20, codes
        busy = next(r for r in rs if r.status_code == 503)
        assert int(busy.headers["retry-after"]) >= 1 and busy.json()["ref"] and "capacity" in busy.json()["error"]
        # refused asks did no work; each left an ids-only record whose id is the reference the asker got
        assert rt.audit.count() == codes.count(200) + codes.count(503)
        record = rt.audit.get(busy.json()["ref"])
        assert record is not None and record["verdict"] == "error"
        assert record["error"] == {"type": "Busy", "reason": "capacity", "where": "api"} and "request" not in record
        # one person past their rate: 429, while someone else still gets through
        config.write_text("limits: {asks_burst: 2, asks_per_user_per_minute: 1}\nrouting: {semantic: false}\n")
        rt2 = Runtime.open(Settings(), classifier=FakeClassifier(), generator=FakeGenerator("ok"))
        _, other = rt2.access.add_user("other-viewer", "viewer", by=local_admin("local:test"))
        apps2 = create_apps(rt2, load_models=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=apps2.admin), base_url=ADMIN, timeout=60) as c:
        first = [await c.post("/api/ask", json={"text": "hi"}, headers=bearer(token)) for _ in range(3)]
        assert [r.status_code for r in first] == [200, 200, 429]
        limited = rt2.audit.get(first[2].json()["ref"])
        assert limited is not None and limited["error"]["type"] == "RateLimited" and limited["error"]["where"] == "api"
        assert (await c.post("/api/ask", json={"text": "hi"}, headers=bearer(other))).status_code == 200


async def test_templates_api_lists_unpublished_drafts(admin: httpx.AsyncClient, tokens: dict[str, str],
                                                     runtime: Runtime) -> None:
    """The console's template list and ``prompts list --json`` are one listing; a draft has no production."""
    from decorum.prompts.base import Template

    runtime.templates.add_version(Template(name="draft-only", version=0, system="Be brief."), author="local:test")
    r = await admin.get("/api/templates", headers=bearer(tokens["viewer"]))
    assert r.status_code == 200
    rows = {t["name"]: t for t in r.json()}
    assert rows["draft-only"]["production"] is None and rows["draft-only"]["latest"] == 1
    assert rows["general"]["production"] == 1
    assert r.json() == runtime.templates.overview()
