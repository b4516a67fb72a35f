"""A publish in one process is served by another process on the same database within the cache's bound.

The second process is a real one (``tests/propagation_reader.py``: its own runtime, pipeline and template
cache) answering in a loop; this process publishes through the CLI. With ``prompts.cache_check_s`` 1 s the
other process must serve the new version within a few seconds (measured figures: ``bench/template_propagation.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from decorum import cli
from decorum.bot.runtime import Runtime
from decorum.prompts.sql_store import SqlTemplateStore
from decorum.settings import Settings
from tests.fakes import FakeClassifier, FakeGenerator

ROOT = Path(__file__).resolve().parents[1]
BOUND_S = 5.0  # "within a few seconds": the check interval (1 s) plus an answer, with room for a slow CI machine


def _faq(system: str) -> dict:
    return {"name": "faq", "system": system, "user": "{{ question }}"}


def test_a_publish_here_is_served_by_another_process_within_the_bound(db_url: str, tmp_path: Path, capsys,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    rt = Runtime.open(Settings(), classifier=FakeClassifier(), generator=FakeGenerator())
    monkeypatch.setattr(cli.base, "runtime", lambda: rt)
    f = tmp_path / "faq.yaml"
    f.write_text(yaml.safe_dump(_faq("Answer briefly.")), encoding="utf-8")
    assert cli.main(["prompts", "create", "faq", "--file", str(f)]) == 0
    assert cli.main(["prompts", "publish", "faq@1"]) == 0
    f.write_text(yaml.safe_dump(_faq("Answer in one sentence.")), encoding="utf-8")
    assert cli.main(["prompts", "edit", "faq", "--file", str(f), "--message", "shorter"]) == 0
    capsys.readouterr()

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.propagation_reader", "faq", "40"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[dict] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == "ready":
                ready.set()
            elif line.startswith("{"):
                lines.append(json.loads(line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(60), "the second process did not start"
        deadline = time.monotonic() + 30
        while not any(x["version"] == 1 for x in lines):  # it serves production (v1) and has cached it
            assert time.monotonic() < deadline and proc.poll() is None, "the second process serves nothing"
            time.sleep(0.05)
        time.sleep(1.5)  # well past one check interval: v1 is cached there, not read per request

        published_at = time.time()
        assert cli.main(["prompts", "publish", "faq@2", "--as", "bob"]) == 0
        deadline = time.monotonic() + BOUND_S + 5
        while not any(x["version"] == 2 for x in lines):
            assert time.monotonic() < deadline, "the other process never served faq@2"
            time.sleep(0.02)
        first = next(x for x in lines if x["version"] == 2)
        delay = first["t"] - published_at
        assert delay < BOUND_S, f"served faq@2 {delay:.2f} s after the publish"
        time.sleep(0.3)
        after = [x["version"] for x in lines if x["t"] > first["t"]]
        assert after and set(after) == {2}  # and never the old version again
        print(f"propagation delay {delay:.3f} s")
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_cache_serves_labels_without_reading_the_table_until_the_revision_moves(db_url: str) -> None:
    rt = Runtime.open(Settings(), classifier=FakeClassifier(), generator=FakeGenerator())
    other = SqlTemplateStore(rt.db, cache_check_s=3600)  # another process's store: it never looks again
    looking = SqlTemplateStore(rt.db, cache_check_s=0.0001)
    assert other.get("helpdesk").version == looking.get("helpdesk").version == 1
    tpl = rt.templates.latest("helpdesk")
    stored = rt.templates.add_version(replace(tpl, description="changed", legacy=False), author="t")
    before = rt.templates.revision()
    rt.templates.set_label("helpdesk", stored.version)
    assert rt.templates.revision() == before + 1
    assert rt.templates.get("helpdesk").version == stored.version  # its own change: at once
    time.sleep(0.01)
    assert looking.get("helpdesk").version == stored.version  # looked at the revision: moved
    assert other.get("helpdesk").version == 1  # cached and not due to look (what the interval bounds)
    assert other.get("helpdesk", 1).version == 1 and other.get("helpdesk", stored.version).version == stored.version
