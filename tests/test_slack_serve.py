"""``decorum serve`` as real processes with the real models, driven from outside like Slack drives it.

Two replicas share one database: signed HTTP in, the Slack Web API emulator recording what comes out.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.slack_emulator import BOT_USER, SlackEmulator, SlackSender, app_mention, envelope, free_port

pytestmark = [pytest.mark.models, pytest.mark.postgres]  # replicas on one database: runs on both passes

SECRET = "e2e-signing-secret"
LEASE_S, SWEEP_S = 3, 1


def _wait_healthy(base: str, proc: subprocess.Popen[str], within_s: float = 600) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read() if proc.stdout else "decorum serve exited")
        time.sleep(0.5)
    raise AssertionError("decorum serve did not become healthy")


@dataclass
class Replicas:
    emu: SlackEmulator
    bases: list[str]  # public listeners (Slack, /healthz)
    admins: list[str]  # admin listeners (console, /api, /metrics)
    procs: list[subprocess.Popen[str]]
    token: str  # an auditor's API token


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def replicas(db_url: str, tmp_path: Path) -> Iterator[Replicas]:
    config = tmp_path / "decorum.yaml"
    config.write_text("models:\n  generator:\n    max_new_tokens: 24\n")  # short answers: CPU only
    with SlackEmulator() as emu:
        env = {**os.environ, "DECORUM_DATABASE_URL": db_url, "SLACK_BOT_TOKEN": "xoxb-e2e",
               "SLACK_SIGNING_SECRET": SECRET, "DECORUM_SLACK_API_URL": emu.url, "DECORUM_CONFIG": str(config),
               "DECORUM_AUDIT_KEY": "e2e-audit-key-0123456789abcdef",
               # short leases, frequent sweeps: a killed replica's message is taken over within seconds
               "DECORUM_SLACK_LEASE_S": str(LEASE_S), "DECORUM_SLACK_SWEEP_S": str(SWEEP_S)}
        made = subprocess.run([sys.executable, "-m", "decorum", "users", "add", "auditor-e2e", "--role", "auditor"],
                              env=env, capture_output=True, text=True, check=True)
        token = made.stdout.strip().splitlines()[-1]
        procs, bases, admins = [], [], []
        try:
            ports: list[int] = []
            while len(ports) < 4:  # four different ports: a repeat would make two listeners share one
                if (p := free_port()) not in ports:
                    ports.append(p)
            for i in range(2):
                port, admin_port = ports[2 * i], ports[2 * i + 1]
                procs.append(subprocess.Popen([sys.executable, "-m", "decorum", "serve", "--port", str(port)],
                                              env={**env, "DECORUM_ADMIN_PORT": str(admin_port)},
                                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
                bases.append(f"http://127.0.0.1:{port}")
                admins.append(f"http://127.0.0.1:{admin_port}")
            for base, proc in zip(bases, procs, strict=True):
                _wait_healthy(base, proc)
            yield Replicas(emu, bases, admins, procs, token)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(60)


async def test_decorum_serve_answers_refuses_and_dedupes_across_replicas(replicas: Replicas) -> None:
    emu, bases, admins = replicas.emu, replicas.bases, replicas.admins
    auth = {"authorization": f"Bearer {replicas.token}"}
    a, b = SlackSender(bases[0], SECRET), SlackSender(bases[1], SECRET)
    try:
        # forged and stale requests are refused
        body = json.dumps(envelope(app_mention(f"<@{BOT_USER}> hi"))).encode()
        r, _ = await a.raw(body, "application/json", sign_with="forged")
        assert r.status_code == 401
        r, _ = await a.raw(body, "application/json", timestamp=int(time.time()) - 600)
        assert r.status_code == 401

        # one mention, delivered to both replicas at once and retried: acked fast, answered once
        event = app_mention(f"<@{BOT_USER}> How do I reset my VPN password?")
        full = envelope(event)
        results = await asyncio.gather(a.event(event, body=full), b.event(event, body=full),
                                       b.event(event, body=full, retry_num=1))
        assert all(r.status_code == 200 for r, _ in results)
        await emu.wait_for(lambda e: e.calls_to("chat.postMessage"), within_s=300)
        toxic = app_mention(f"<@{BOT_USER}> You are a worthless idiot and should be exterminated.")
        r, _ = await b.event(toxic)
        assert r.status_code == 200
        await emu.wait_for(lambda e: len(e.calls_to("chat.postEphemeral")) >= 2, within_s=120)  # notice + refusal
        await emu.settle(2.0, within_s=120)

        [call] = [c.args for c in emu.calls_to("chat.postMessage")]  # one answer message (streamed, then final)
        assert call["thread_ts"] == event["ts"]
        [post] = [m for m in emu.messages(event["channel"]) if m.get("bot_id") and m.get("thread_ts") == event["ts"]]
        text = json.dumps(post["blocks"])
        payload = post["metadata"]["event_payload"]
        assert payload["verdict"] == "answered" and payload["model"] == "smollm2-135m-instruct + helpdesk-lora@1"
        assert "AI-generated" in text and "Strategy *" in text and f"Ref `{payload['note_id']}`" in text
        assert [e["action_id"] for b_ in post["blocks"] if b_["type"] == "actions" for e in b_["elements"]] == [
            "decorum_feedback_up", "decorum_feedback_down", "decorum_why"]

        refusal = [c.args for c in emu.calls_to("chat.postEphemeral") if c.args.get("thread_ts") == toxic["ts"]][-1]
        assert "toxic" in refusal["text"] and refusal["user"] == "U0ALICE"
        assert all(c.args.get("thread_ts") != toxic["ts"] for c in emu.calls_to("chat.postMessage"))

        # the public (Slack) listener does not serve the audit log, with or without a token
        for base in bases:
            for path in ("/api/audit", "/api/audit/verify", "/metrics", "/"):
                assert (await a.client.get(f"{base}{path}", headers=auth)).status_code == 404
        assert (await a.client.get(f"{admins[1]}/api/audit")).status_code == 401
        audit = (await a.client.get(f"{admins[1]}/api/audit", params={"limit": 10}, headers=auth)).json()
        assert sorted(n["verdict"] for n in audit["records"]) == ["answered", "blocked_input"]
        assert (await a.client.get(f"{admins[0]}/api/audit/verify", headers=auth)).json()["ok"] is True
        # same replicas (one pair of model loads for the whole module): an oversized body cannot blow up memory
        await _oversized_unsigned_slack_body_is_refused_with_flat_memory(replicas)
        # and, last (it kills replica A): a replica killed mid-answer loses nothing
        await _a_replica_killed_mid_answer_loses_nothing(replicas, a, b)
        await _sigterm_lets_the_answer_in_flight_finish(replicas, b)
    finally:
        await a.aclose()
        await b.aclose()


async def _a_replica_killed_mid_answer_loses_nothing(replicas: Replicas, a: SlackSender, b: SlackSender) -> None:
    """The probe: replica A acked a mention and was killed 1 s later; Slack's retries went to B and were
    dropped as duplicates of A's claim (no answer, no audit record). Now B takes the lapsed claim over and
    answers once, with one audit record; Slack's retries stay duplicates."""
    emu, auth = replicas.emu, {"authorization": f"Bearer {replicas.token}"}
    audit_url = f"{replicas.admins[1]}/api/audit"

    async def records() -> list[dict[str, Any]]:
        return (await b.client.get(audit_url, params={"limit": 100}, headers=auth)).json()["records"]

    before = {r["id"] for r in await records()}
    text = f"<@{BOT_USER}> How do I set up two-factor authentication?"
    event = app_mention(text)
    emu.add_message(event["channel"], text, ts=event["ts"], user=event["user"])  # Slack keeps the message
    emu.delay_next("reactions.add", 60)  # A is mid-answer (claimed, acked, its progress call out) when killed
    r, _ = await a.event(event)
    assert r.status_code == 200
    await asyncio.sleep(1.0)
    replicas.procs[0].kill()
    killed = time.monotonic()
    r, _ = await b.event(event, retry_num=1)  # A's lease still runs: a duplicate, as before
    assert r.status_code == 200

    def answered(e: SlackEmulator) -> list[dict[str, Any]]:
        return [c.args for c in e.calls_to("chat.postMessage") if c.args.get("thread_ts") == event["ts"]]

    await emu.wait_for(answered, within_s=120)
    took = time.monotonic() - killed
    r, _ = await b.event(event, retry_num=2)  # Slack's last retry: answered already
    assert r.status_code == 200
    await emu.settle(2.0, within_s=120)
    [post] = [m for m in emu.messages(event["channel"]) if m.get("bot_id") and m.get("thread_ts") == event["ts"]]
    assert len(answered(emu)) == 1 and post["metadata"]["event_payload"]["verdict"] == "answered"
    new = [r for r in await records() if r["id"] not in before]
    assert [(r["id"], r["verdict"]) for r in new] == [(post["metadata"]["event_payload"]["note_id"], "answered")]
    # the bound: A's lease lapses (LEASE_S), B's next sweep takes it (SWEEP_S), then one answer on 2 cores
    assert took < LEASE_S + SWEEP_S + 60, took
    print(f"killed replica's message answered by the other replica {took:.1f} s after the kill")


async def _sigterm_lets_the_answer_in_flight_finish(replicas: Replicas, b: SlackSender) -> None:
    """SIGTERM to B mid-answer: B finishes that answer (its audit record written), then exits 0."""
    emu, proc = replicas.emu, replicas.procs[1]
    event = app_mention(f"<@{BOT_USER}> How do I connect to the office printer?")
    emu.delay_next("reactions.add", 2.0)  # mid-answer when the signal comes
    r, _ = await b.event(event)
    assert r.status_code == 200
    await asyncio.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    code = await asyncio.to_thread(proc.wait, 90)
    took = time.monotonic() - stopped
    posts = [m for m in emu.messages(event["channel"]) if m.get("bot_id") and m.get("thread_ts") == event["ts"]]
    assert code == 0 and len(posts) == 1 and posts[0]["metadata"]["event_payload"]["verdict"] == "answered"
    out = proc.stdout.read() if proc.stdout else ""
    assert "draining" in out and "unfinished answers: 0" in out, out[-2000:]
    print(f"SIGTERM mid-answer: answered, then exited 0 after {took:.1f} s")


async def _send_big(base: str, *, chunked: bool, total: int = 200 << 20) -> tuple[str, int]:
    """POST ``total`` bytes to /slack/events; stop when the server answers. (status line, bytes sent)."""
    return await asyncio.to_thread(_send_big_blocking, base, chunked, total)


def _send_big_blocking(base: str, chunked: bool, total: int) -> tuple[str, int]:
    """A plain blocking socket: the server answers 413 and closes while this side is still writing, so a write
    may fail (reset or broken pipe) with the answer already in the receive buffer. The kernel still hands that
    buffered answer to ``recv`` (an asyncio stream would raise the write error instead), so read it from there."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = f"POST /slack/events HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {total}\r\n\r\n"
    block, sent = b"x" * (256 << 10), 0
    payload = b"%x\r\n%b\r\n" % (len(block), block) if chunked else block
    try:
        sock.sendall(head.encode())
        while sent < total:
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered
            sock.sendall(payload)
            sent += len(block)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed while this side was still writing
    try:
        answer = b""
        while b"\r\n" not in answer:
            data = sock.recv(4096)
            if not data:
                break
            answer += data
    finally:
        sock.close()
    return answer.split(b"\r\n", 1)[0].decode(errors="replace").strip(), sent


async def _oversized_unsigned_slack_body_is_refused_with_flat_memory(replicas: Replicas) -> None:
    """Before: a 200 MB chunked, unsigned body was read whole (150 MB -> 930 MB) before the 401."""
    base, pid = replicas.bases[0], replicas.procs[0].pid
    before = _rss_kib(pid)
    status, sent = await _send_big(base, chunked=True)
    assert status.startswith("HTTP/1.1 413"), status
    assert sent < 32 << 20, f"the server read {sent >> 20} MiB before refusing"
    status, sent = await _send_big(base, chunked=False)
    assert status.startswith("HTTP/1.1 413"), status
    assert sent < 32 << 20
    after = _rss_kib(pid)
    assert after - before < 64 * 1024, f"server memory grew {before} -> {after} KiB"
    assert replicas.procs[0].poll() is None
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{base}/healthz")).status_code == 200  # still serving
