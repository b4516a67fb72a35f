"""Wall time of ``decorum`` commands, each a fresh process as a person runs it, for one checkout or several.

    .venv/bin/python bench/cli.py [--runs 7] [--records 2000] [--variant LABEL=SRC ...] [--python PY]
                                  [--ask] [--server URL] [--json PATH]

Each variant is a ``src`` folder put first on ``PYTHONPATH`` (default: this checkout's ``src``); the "before"
figures of a change come from a second checkout of the old commit, without touching this one::

    git worktree add /tmp/cli-before HEAD
    .venv/bin/python bench/cli.py --variant before=/tmp/cli-before/src --variant after=src
    git worktree remove /tmp/cli-before

For each variant, with its own code, one temporary data dir is prepared once: a user, ``--records`` synthetic
audit records shaped like the pipeline's (``bench/audit.py``'s loader: keyed chain, copies, score rows) and the
seeded templates and adapters. Then every command runs ``--runs`` times per variant, the variants taking turns
run by run, so a busy machine slows each alike. Compiled bytecode is cached in a temporary folder
(``PYTHONPYCACHEPREFIX``; this machine sets ``PYTHONDONTWRITEBYTECODE``) and one untimed run warms it, as an
installed command has its ``.pyc`` files. Figures: median, min and max wall seconds (subprocess start to exit).

``--ask`` adds ``decorum ask`` answered in the process (models load: one run each, ``--ask-runs`` to change);
``--server URL`` (with ``DECORUM_TOKEN`` set) adds ``decorum ask --server URL`` for variants that have it;
``--only NAMES`` times only those commands (``none``: only the asks).
Prints a table and the machine's state (cores, load average before and after); never fails on a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "How do I reset my VPN password?"
# (name shown, argv); NOTE is the newest record's id, N the run's number (a new user and file each time).
COMMANDS: list[tuple[str, list[str]]] = [
    ("--help", ["--help"]),
    ("users add", ["users", "add", "bench-N", "--role", "viewer"]),
    ("users list", ["users", "list"]),
    ("audit list", ["audit", "list"]),
    ("audit show", ["audit", "show", "NOTE"]),
    ("audit verify", ["audit", "verify"]),
    ("audit export", ["audit", "export", "--format", "jsonl", "--out", "export-N.jsonl"]),
    ("prompts list", ["prompts", "list"]),
    ("prompts show", ["prompts", "show", "general"]),
    ("prompts history", ["prompts", "history", "general"]),
    ("prompts diff", ["prompts", "diff", "general@1", "helpdesk@1"]),
    ("models list", ["models", "list"]),
]
LOAD_RECORDS = """
import sys, time
sys.path.insert(0, {bench!r})
import audit as bench_audit
from decorum.bot.runtime import Runtime
rt = Runtime.open()
n = {records}
if n:
    bench_audit.load(rt.db, rt.audit, bench_audit.Notes(n, int(time.time() * 1000)), min(50, n), "cli bench")
print(rt.audit.list(limit=1)[0]["id"] if n else "")
"""


class Variant:
    """One checkout's ``src`` with its own prepared data dir."""

    def __init__(self, label: str, src: Path, python: str, workdir: Path, cache_dir: Path) -> None:
        self.label, self.src, self.python = label, src, python
        self.dir = workdir / label
        self.dir.mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DECORUM_", "SLACK_"))}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update({"PYTHONPATH": str(src), "PYTHONPYCACHEPREFIX": str(self.dir / "pycache"),
                    "DECORUM_DATA_DIR": str(self.dir / "data"), "DECORUM_CACHE_DIR": str(cache_dir),
                    "DECORUM_LOG_FORMAT": "text"})
        self.env = env
        self.note = ""
        self.has_server_option = False

    def run(self, argv: list[str], *, extra_env: dict[str, str] | None = None, timeout: float = 900
            ) -> tuple[float, subprocess.CompletedProcess[str]]:
        t0 = time.perf_counter()
        done = subprocess.run([self.python, "-m", "decorum", *argv], cwd=self.dir,
                              env={**self.env, **(extra_env or {})}, capture_output=True, text=True, timeout=timeout)
        return time.perf_counter() - t0, done

    def prepare(self, records: int) -> None:
        """A user, the audit records, the seeds; then one untimed run of each command (bytecode, first-use work)."""
        _, done = self.run(["users", "add", "bench-admin", "--role", "admin"])
        _check(done, f"{self.label}: users add")
        done = subprocess.run([self.python, "-c", LOAD_RECORDS.format(bench=str(ROOT / "bench"), records=records)],
                              cwd=self.dir, env=self.env, capture_output=True, text=True, timeout=1800)
        _check(done, f"{self.label}: loading {records} audit records")
        self.note = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        self.has_server_option = "--server" in self.run(["ask", "--help"])[1].stdout
        for _, argv in COMMANDS:
            self.run(self.argv(argv, 0))

    def argv(self, argv: list[str], n: int) -> list[str]:
        return [a.replace("bench-N", f"bench-{n}").replace("export-N", f"export-{n}")
                .replace("NOTE", self.note) for a in argv]


def _check(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        raise SystemExit(f"{what} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-2000:]}")


def measure(variants: list[Variant], commands: list[tuple[str, list[str], dict[str, str]]], runs: int
            ) -> dict[str, dict[str, list[float]]]:
    """Seconds per variant and command; the variants take turns run by run."""
    times: dict[str, dict[str, list[float]]] = {v.label: {} for v in variants}
    failures: dict[tuple[str, str], str] = {}
    for i in range(1, runs + 1):
        for name, argv, extra_env in commands:
            for v in variants:
                if name.startswith("ask --server") and not v.has_server_option:
                    continue
                seconds, done = v.run(v.argv(argv, i), extra_env=extra_env)
                if done.returncode != 0:
                    said = (done.stderr or done.stdout).strip().splitlines()
                    failures[(v.label, name)] = said[-1] if said else f"exit {done.returncode}"
                    continue
                times[v.label].setdefault(name, []).append(seconds)
        print(f"run {i}/{runs} done (load average {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)
    for (label, name), why in failures.items():
        print(f"{label}: {name} failed: {why}", file=sys.stderr)
    return times


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "python": platform.python_version(),
            "platform": platform.platform(), "loadavg": [round(x, 2) for x in os.getloadavg()]}


def table(times: dict[str, dict[str, list[float]]], names: list[str]) -> str:
    labels = list(times)
    head = "| command | " + " | ".join(f"{lab}: median (min-max) s" for lab in labels) + " |"
    lines = [head, "|---" * (len(labels) + 1) + "|"]
    for name in names:
        cells = []
        for lab in labels:
            t = times[lab].get(name)
            cells.append(f"{statistics.median(t):.2f} ({min(t):.2f}-{max(t):.2f})" if t else "-")
        lines.append(f"| `decorum {name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", action="append", metavar="LABEL=SRC",
                   help="a checkout's src folder under a label (repeat to compare; default: this checkout)")
    p.add_argument("--python", default=sys.executable, help="the interpreter (default: this one)")
    p.add_argument("--runs", type=int, default=7, help="timed runs of each command per variant (default 7)")
    p.add_argument("--records", type=int, default=2000, help="synthetic audit records in the data dir (default 2000)")
    p.add_argument("--ask", action="store_true", help="also `decorum ask` answered in the process (loads models)")
    p.add_argument("--ask-runs", type=int, default=1, help="runs of the in-process ask (default 1)")
    p.add_argument("--server", metavar="URL", help="also `decorum ask --server URL` (needs DECORUM_TOKEN)")
    p.add_argument("--cache-dir", default=str(ROOT / ".cache" / "models"),
                   help="DECORUM_CACHE_DIR: the built models (only --ask reads it)")
    p.add_argument("--only", metavar="NAMES", help="comma-separated command names to time (default: all; "
                                                "'none' with --ask or --server: only those)")
    p.add_argument("--json", metavar="PATH", help="also write the figures here")
    args = p.parse_args(argv)
    specs = args.variant or [f"this checkout={ROOT / 'src'}"]
    before = machine()
    with tempfile.TemporaryDirectory(prefix="decorum-cli-bench-") as tmp:
        variants = []
        for spec in specs:
            label, sep, src = spec.partition("=")
            if not sep or not (Path(src) / "decorum").is_dir():
                raise SystemExit(f"--variant {spec!r}: expected LABEL=SRC with SRC/decorum a folder")
            variants.append(Variant(label, Path(src).resolve(), args.python, Path(tmp), Path(args.cache_dir)))
        for v in variants:
            print(f"preparing {v.label} ({v.src}): {args.records} audit records ...", file=sys.stderr, flush=True)
            v.prepare(args.records)
        wanted = None if args.only is None else {n.strip() for n in args.only.split(",")}
        commands = [(name, argv, {}) for name, argv in COMMANDS if wanted is None or name in wanted]
        times = measure(variants, commands, args.runs) if commands else {v.label: {} for v in variants}
        names = [name for name, _, _ in commands]
        extra: list[tuple[str, list[str], dict[str, str]]] = []
        if args.ask:
            extra.append(("ask (in this process, models load)", ["ask", QUESTION], {}))
        if args.server:
            token = os.environ.get("DECORUM_TOKEN")
            if not token:
                raise SystemExit("--server needs DECORUM_TOKEN (a token of that server's users)")
            extra.append((f"ask --server {args.server}", ["ask", "--server", args.server, QUESTION],
                          {"DECORUM_TOKEN": token}))
        if extra:
            more = measure(variants, extra, args.ask_runs)
            for label, got in more.items():
                times[label].update(got)
            names += [name for name, _, _ in extra]
    after = machine()
    print(table(times, names))
    print(f"\n{before['cpus']} CPUs ({before['affinity']} usable), Python {before['python']}, {args.runs} runs per "
          f"command" + (f" ({args.ask_runs} per ask)" if extra else "")
          + f"; load average {before['loadavg'][0]} before, {after['loadavg'][0]} after")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine_before": before, "machine_after": after, "runs": args.runs,
                                               "records": args.records,
                                               "variants": {v.label: str(v.src) for v in variants},
                                               "seconds": times}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
