"""``decorum serve`` as a real process: /healthz turns 200 once models load; the JSON API answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = pytest.mark.models


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_two_listeners_health_metrics_and_api(db_url: str) -> None:
    env = {**os.environ, "DECORUM_DATABASE_URL": db_url}
    made = subprocess.run([sys.executable, "-m", "decorum", "users", "add", "ops", "--role", "auditor"], env=env,
                          capture_output=True, text=True, check=True)
    token = made.stdout.strip().splitlines()[-1]
    auth = {"authorization": f"Bearer {token}"}
    port, admin_port = _free_port(), _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "decorum", "serve", "--port", str(port)],
                            env={**env, "DECORUM_ADMIN_PORT": str(admin_port)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base, admin = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}"
    try:
        deadline, status = time.monotonic() + 300, None
        while time.monotonic() < deadline:
            try:
                status = httpx.get(f"{base}/healthz", timeout=2).status_code
            except httpx.HTTPError:
                status = None
            if status == 200:
                break
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.5)
        assert status == 200
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}  # the public one says no more
        health = httpx.get(f"{admin}/api/health", headers=auth).json()
        assert health["model"] == "smollm2-135m-instruct" and health["policy"] == "default@1"

        # the public listener serves Slack and /healthz only
        for path in ("/", "/api/audit", "/api/audit/verify", "/metrics"):
            assert httpx.get(f"{base}{path}", headers=auth).status_code == 404, path
        # the admin one wants a login
        r = httpx.post(f"{admin}/api/ask", json={"text": "You are a worthless idiot and should be exterminated."})
        assert r.status_code == 401
        assert httpx.get(f"{admin}/api/audit").status_code == 401 and httpx.get(f"{admin}/metrics").status_code == 401
        r = httpx.post(f"{admin}/api/ask", json={"text": "You are a worthless idiot and should be exterminated."},
                       headers=auth, timeout=120)
        assert r.status_code == 200 and r.json()["verdict"] == "blocked_input"
        note_id = r.json()["id"]
        assert httpx.get(f"{admin}/api/audit/{note_id}", headers=auth).json()["note"]["id"] == note_id
        assert httpx.get(f"{admin}/api/audit/nope", headers=auth).status_code == 404
        assert httpx.get(f"{admin}/api/audit/verify", headers=auth).json()["ok"] is True
        assert httpx.get(f"{admin}/api/audit", headers={**auth, "host": "rebind.example"}).status_code == 421
        for bad in (b"{not json", b"\xff\xfe", b"[1,2]", b'{"text": 5}', b'{"text": ""}'):
            r = httpx.post(f"{admin}/api/ask", content=bad, headers={**auth, "content-type": "application/json"})
            assert r.status_code == 400 and r.json()["error"]
        r = httpx.post(f"{admin}/api/ask", content=b"x" * (300 * 1024), headers={**auth, "content-type": "text/plain"})
        assert r.status_code == 413 and "limit" in r.json()["error"]
        metrics = httpx.get(f"{admin}/metrics", headers=auth).text
        assert 'decorum_requests_total{surface="web",verdict="blocked_input"} 1.0' in metrics
        assert 'decorum_access_events_total{action="playground.ask",outcome="denied_401"} 1.0' in metrics
        assert httpx.get(f"{admin}/").status_code == 200  # the console's page (its data needs the login)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert f"Decorum public listener: {base}" in out and f"Decorum admin console:   {admin}/" in out


def test_serve_refuses_a_taken_port_in_one_line(db_url: str) -> None:
    env = {**os.environ, "DECORUM_DATABASE_URL": db_url}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = str(taken.getsockname()[1])
        for args, extra, what in ((["--port", str(_free_port())], {"DECORUM_ADMIN_PORT": busy}, "admin listener"),
                                  (["--port", busy], {"DECORUM_ADMIN_PORT": str(_free_port())}, "public listener"),
                                  (["--port", busy], {"DECORUM_ADMIN_PORT": busy}, "cannot share")):
            r = subprocess.run([sys.executable, "-m", "decorum", "serve", *args], env={**env, **extra},
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 2 and what in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_a_port_another_process_bound_but_does_not_yet_listen_on_is_refused_at_bind() -> None:
    # With SO_REUSEADDR a second bind succeeds beside a socket that is bound but not listening (two replicas given
    # the same port); listening at bind time turns that into the one clear error, not a failure inside uvicorn.
    from decorum.errors import UsageError
    from decorum.web.server import _bind

    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", 0))
        port = other.getsockname()[1]
        first = _bind("127.0.0.1", port, "the public listener")  # listens at once
        try:
            with pytest.raises(UsageError, match=rf"the admin listener cannot listen on 127\.0\.0\.1:{port}"):
                _bind("127.0.0.1", port, "the admin listener")
        finally:
            first.close()
