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


def test_serve_health_metrics_and_api(db_url: str) -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "decorum", "serve", "--port", str(port)],
                            env={**os.environ, "DECORUM_DATABASE_URL": db_url},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
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
        health = httpx.get(f"{base}/healthz").json()
        assert health["model"] == "smollm2-135m-instruct" and health["policy"] == "default@1"

        r = httpx.post(f"{base}/api/ask", json={"text": "You are a worthless idiot and should be exterminated."},
                       timeout=120)
        assert r.status_code == 200 and r.json()["verdict"] == "blocked_input"
        note_id = r.json()["id"]
        assert httpx.get(f"{base}/api/audit/{note_id}").json()["id"] == note_id
        assert httpx.get(f"{base}/api/audit/nope").status_code == 404
        assert httpx.get(f"{base}/api/audit/verify").json()["ok"] is True
        for bad in (b"{not json", b"\xff\xfe", b"[1,2]", b'{"text": 5}', b'{"text": ""}'):
            r = httpx.post(f"{base}/api/ask", content=bad, headers={"content-type": "application/json"})
            assert r.status_code == 400 and r.json()["error"]
        r = httpx.post(f"{base}/api/ask", content=b"x" * (300 * 1024))
        assert r.status_code == 400 and "limit" in r.json()["error"]
        metrics = httpx.get(f"{base}/metrics").text
        assert 'decorum_requests_total{surface="web",verdict="blocked_input"} 1.0' in metrics
        assert httpx.get(f"{base}/").status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)
