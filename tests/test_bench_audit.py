"""Smoke run of the audit workbench bench (bench/audit.py): it runs and writes every figure. Times are
measured, never asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_quick_bench_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "audit-bench.json"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "audit.py"), "--quick", "--backends", "sqlite",
                           "--json", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "slowest page p95" in proc.stdout
    report = json.loads(out.read_text())
    assert report["records"] == 2000
    assert set(report["backends"]) == {"sqlite"}
    r = report["backends"]["sqlite"]
    load = r["load"]
    for key in ("append_per_s", "bulk_per_s", "verify_per_s", "verify_s"):
        assert load[key] > 0, key
    assert load["feedback_rows"] > 0 and load["score_rows"] > 0
    assert r["baseline"]["median_ms"] > 0 and r["baseline"]["p95_ms"] >= r["baseline"]["median_ms"]
    names = [q["query"] for q in r["queries"]]
    assert len(names) == len(set(names)) >= 13
    for q in r["queries"]:
        for part in ("page", "page_total", "stats"):
            fig = q[part]
            assert 0 < fig["median_ms"] <= fig["p95_ms"], (q["query"], part)
            assert fig["runs"] >= 2
        assert q["page"]["ratio"] > 0 and q["page_total"]["ratio"] > 0
        assert q["matches"] >= 0
    # the data is shaped so that every filter finds something (a filter that matched nothing would time nothing)
    assert all(q["matches"] > 0 for q in r["queries"]), [(q["query"], q["matches"]) for q in r["queries"]]
    exports = {k: v for k, v in r["export"].items() if isinstance(v, dict)}
    assert {"full JSONL", "full CSV"} <= set(exports)
    for fig in exports.values():
        assert fig["records"] > 0 and fig["records_per_s"] > 0
    assert r["slowest_page_p95_ms"] > 0
    assert not list(tmp_path.glob("decorum-bench-audit-*")), "the bench left its temporary folder behind"
