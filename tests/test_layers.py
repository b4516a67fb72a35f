"""The layers of ``src/decorum``, read from the source's AST (nothing is imported): the audit log sits below ``bot/``
and ``web/`` and imports neither, not even inside a function or under ``TYPE_CHECKING``; and no module imports
another module's underscored names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "decorum"
ABOVE_AUDIT = ("decorum.bot", "decorum.web")


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, src: Path) -> list[tuple[int, str, list[str]]]:
    """Every import in the module, wherever it stands: (line, absolute module, names taken from it). A name taken
    with ``from X import name`` is listed as the module ``X.name`` too (it may be one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path, src).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the module's package
                head = package[:len(package) - node.level + 1]
                base = ".".join([*head, base] if base else head)
            taken = [alias.name for alias in node.names]
            out.append((node.lineno, base, taken))
            out.extend((node.lineno, f"{base}.{n}", []) for n in taken)
    return out


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def upward_imports(root: Path, src: Path = SRC) -> list[str]:
    """``file:line module`` for each import under ``root`` that names ``decorum.bot`` or ``decorum.web``."""
    return sorted({f"{p.relative_to(src)}:{line} {mod}" for p in root.rglob("*.py")
                   for line, mod, _ in imported(p, src) if within(mod, ABOVE_AUDIT)})


def is_module(dotted: str, src: Path) -> bool:
    path = src.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def private_imports(root: Path, src: Path = SRC) -> list[str]:
    """``from decorum.X import _name`` in a module other than X, where ``_name`` is not a submodule of X."""
    found = []
    for p in sorted(root.rglob("*.py")):
        own = module_name(p, src)
        for line, mod, taken in imported(p, src):
            if not within(mod, ("decorum",)) or mod == own:
                continue
            found += [f"{p.relative_to(src)}:{line} from {mod} import {n}" for n in taken
                      if n.startswith("_") and not n.startswith("__") and not is_module(f"{mod}.{n}", src)]
    return found


def test_the_audit_package_imports_nothing_above_it() -> None:
    assert (PACKAGE / "audit" / "log.py").is_file()
    assert upward_imports(PACKAGE / "audit") == []


def test_the_layer_check_sees_imports_inside_functions_relative_ones_and_type_checking(tmp_path: Path) -> None:
    pkg = tmp_path / "decorum" / "audit"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "fine.py").write_text("from decorum.store import Database\nfrom . import log\n")
    (pkg / "bad.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from decorum.bot.runtime import Runtime\n"
        "def f():\n    from decorum.bot.note import utc_now\n    return utc_now()\n"
        "def g():\n    from .. import web\n    import decorum.web.app\n")
    found = upward_imports(pkg, tmp_path)
    assert {f.split(" ")[0] for f in found} == {"decorum/audit/bad.py:3", "decorum/audit/bad.py:5",
                                                 "decorum/audit/bad.py:8", "decorum/audit/bad.py:9"}
    assert "decorum/audit/bad.py:8 decorum.web" in found


# Found by the check below on 2026-12-08, outside the audit package (the training workshop): to be made public
# or moved; then this list empties and the xfail below turns into a pass (strict: an XPASS fails, so it is noticed).
KNOWN_PRIVATE_IMPORTS = [
    "decorum/guardrails/training/calibrate.py from decorum.guardrails.training.train import _prf",
    "decorum/guardrails/training/soup.py from decorum.guardrails.training.train import _latency",
    "decorum/guardrails/training/soup.py from decorum.guardrails.training.train import _swap_into_place",
]


def without_line(found: list[str]) -> list[str]:
    return [f"{where.rsplit(':', 1)[0]} {what}" for where, what in (f.split(" ", 1) for f in found)]


@pytest.mark.xfail(bool(KNOWN_PRIVATE_IMPORTS), strict=True,
                   reason="private names imported across modules today: " + "; ".join(KNOWN_PRIVATE_IMPORTS))
def test_no_module_imports_another_modules_underscored_names() -> None:
    assert private_imports(PACKAGE) == []


def test_no_new_module_imports_another_modules_underscored_names() -> None:
    """Beside the known ones (above), none: a new one fails here even while the test above is marked xfail."""
    assert [f for f in without_line(private_imports(PACKAGE)) if f not in KNOWN_PRIVATE_IMPORTS] == []


def test_nothing_under_audit_imports_underscored_names() -> None:
    assert private_imports(PACKAGE / "audit") == []


def test_the_private_name_check_sees_them(tmp_path: Path) -> None:
    pkg = tmp_path / "decorum"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("_SECRET = 1\n\n\ndef _own():\n    return _SECRET\n")
    (pkg / "_impl.py").write_text("")
    (pkg / "b.py").write_text("from decorum import _impl\n"  # a private submodule: its package's business
                              "def f():\n    from decorum.a import _SECRET, __doc__\n    return _SECRET\n")
    assert private_imports(pkg, tmp_path) == ["decorum/b.py:3 from decorum.a import _SECRET"]
