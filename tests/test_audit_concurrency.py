"""Audit appends from two processes at once (issue 13): 1,000 appends, 8 threads in each of two processes,
on the test's database (SQLite file, or PostgreSQL in the PostgreSQL run), leave one chain that verifies:
no fork (two records claiming one predecessor), no gap, every append kept."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from decorum.audit.chain_key import ChainKey
from decorum.audit.log import SqlAuditLog
from decorum.store import Database
from decorum.store.tables import AuditRecordRow

WRITER = """
import sys, threading, time
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from decorum.settings import Settings
from decorum.store import Database
from decorum.audit.chain_key import ChainKey
from decorum.audit.log import SqlAuditLog

url, key_path, name, n, start_file = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), Path(sys.argv[5])
db = Database.open(Settings(database_url=url).resolved_database_url)
log = SqlAuditLog(db, chain_key=ChainKey.open(key_path, db))
while not start_file.exists():  # both processes start appending together
    time.sleep(0.005)
def one(i):
    log.append_change("test.concurrent_append", actor=name, surface="cli", index=i)
with ThreadPoolExecutor(8) as pool:
    list(pool.map(one, range(n)))
print("done", name)
"""


def test_a_thousand_concurrent_appends_from_two_processes_leave_one_verifiable_chain(db_url: str,
                                                                                     tmp_path: Path) -> None:
    from decorum.settings import Settings

    db = Database.open(Settings(database_url=db_url).resolved_database_url)
    key_path = tmp_path / "audit-chain.key"  # shared by both writers, as replicas share it
    log = SqlAuditLog(db, chain_key=ChainKey.open(key_path, db))
    start = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, db_url, str(key_path), name, "500", str(start)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy())
             for name in ("replica-a", "replica-b")]
    time.sleep(1.0)  # both imported and connected
    start.touch()
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs

    with db.session() as s:
        seqs = s.execute(select(AuditRecordRow.seq).order_by(AuditRecordRow.seq)).scalars().all()
        prevs = s.execute(select(func.count(func.distinct(AuditRecordRow.prev_hash)))).scalar_one()
        actors = s.execute(select(AuditRecordRow.note)).scalars().all()
    assert seqs == list(range(1, 1001))  # no gap, none lost
    assert prevs == 1000  # no fork: every record has its own predecessor
    assert sum('"replica-a"' in n for n in actors) == 500 and sum('"replica-b"' in n for n in actors) == 500
    result = log.verify()
    assert result.ok and result.checked == 1000, result
