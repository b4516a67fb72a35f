"""No outbound connection: a whole ``decorum ask`` (and a guardrails-ai Guard) under a network guard.

A ``sitecustomize`` on PYTHONPATH installs an audit hook in the child process that records, and refuses,
every DNS look-up or connection that is not to this machine (loopback or a Unix socket).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GUARD = '''
import os, socket, sys
_log = os.environ["NET_GUARD_LOG"]
def _local(addr):
    if isinstance(addr, (str, bytes)):
        return True  # AF_UNIX path
    host = str(addr[0]) if addr else ""
    return host in ("localhost", "::1", "") or host.startswith("127.")
def _hook(event, args):
    if event == "socket.getaddrinfo" and not _local((args[0],)):
        target = f"dns {args[0]}"
    elif event == "socket.connect" and not _local(args[1]):
        target = f"connect {args[1]}"
    else:
        return
    with open(_log, "a") as fh:
        fh.write(target + "\\n")
    raise OSError("network access blocked by the test guard")
sys.addaudithook(_hook)
'''


def _guarded(tmp_path: Path, code: str, env_extra: dict[str, str]) -> tuple[subprocess.CompletedProcess, list[str]]:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(GUARD)
    log = tmp_path / "net.log"
    env = {**os.environ, **env_extra, "NET_GUARD_LOG": str(log),
           "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    attempts = log.read_text().splitlines() if log.exists() else []
    return proc, attempts


def test_the_guard_catches_a_connection(tmp_path: Path) -> None:
    proc, attempts = _guarded(tmp_path, "import socket\ntry:\n    socket.create_connection(('example.org', 80), 2)\n"
                              "except OSError:\n    pass\n", {})
    assert attempts == ["dns example.org"], proc.stderr


@pytest.mark.models
def test_ask_and_guardrails_make_no_outbound_connection(tmp_path: Path, db_url: str) -> None:
    code = (
        "from decorum.cli import main\n"
        "rc = main(['ask', '--json', '--max-new-tokens', '8', 'How do I reset my VPN password?'])\n"
        "from guardrails import Guard\n"  # guardrails-ai, with decorum's offline settings applied by the CLI
        "Guard().validate('hello')\n"
        "raise SystemExit(rc)\n"
    )
    proc, attempts = _guarded(tmp_path, code, {"DECORUM_DATABASE_URL": db_url})
    assert proc.returncode == 0, proc.stderr[-2000:]
    note = json.loads(proc.stdout.strip().splitlines()[-1])
    assert note["verdict"] == "answered"
    assert attempts == []
    rc = (Path(os.environ["HOME"]) / ".guardrailsrc").read_text()
    assert "enable_metrics=false" in rc
