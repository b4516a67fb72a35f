"""Shared fixtures: a clean environment, a database of its own per test, models loaded once per session.

The database is SQLite unless ``DECORUM_TEST_DATABASE_URL`` names a PostgreSQL server (``make test``
runs the suite once each way); on PostgreSQL every test gets a database of its own, copied from one migrated once
per session, and dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from decorum.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DECORUM_SHARED_DATA", REPO.parent / "shared" / "data"))
PG_URL = os.environ.get("DECORUM_TEST_DATABASE_URL", "")
MODEL_CACHE = Path(os.environ.get("DECORUM_TEST_CACHE_DIR", REPO / ".cache" / "models"))

requires_shared_data = pytest.mark.skipif(not SHARED_DATA.exists(), reason=f"{SHARED_DATA} is absent")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No SLACK_* or DECORUM_* leaks in; HOME and the data dir are the test's own."""
    for key in list(os.environ):
        if key.startswith(("SLACK_", "DECORUM_")) and key != "DECORUM_TEST_DATABASE_URL":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("DECORUM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DECORUM_CACHE_DIR", str(MODEL_CACHE))
    monkeypatch.setenv("DECORUM_LOG_FORMAT", "text")
    yield


def _pg_admin() -> Any:
    """An AUTOCOMMIT engine on the PostgreSQL server of ``DECORUM_TEST_DATABASE_URL`` (CREATE/DROP DATABASE)."""
    from sqlalchemy import create_engine

    return create_engine(Settings(database_url=PG_URL).resolved_database_url, isolation_level="AUTOCOMMIT")


def _pg_database_url(name: str) -> str:
    """``DECORUM_TEST_DATABASE_URL`` with another database name."""
    from sqlalchemy.engine import make_url

    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    """On the PostgreSQL pass, a database migrated to head once; each test's database is a copy of it
    (``CREATE DATABASE ... TEMPLATE``: about 0.03 s, where migrating a fresh schema took 0.2-0.6 s a test). None
    where the server refuses to create databases: each test then gets a schema of its own, migrated by the code
    under test."""
    if not PG_URL:
        yield None
        return
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from decorum.store import Database
    from decorum.store import db as store_db

    admin = _pg_admin()
    name = f"decorum_tpl_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except DBAPIError:
        admin.dispose()
        yield None
        return
    try:
        Database.open(Settings(database_url=_pg_database_url(name)).resolved_database_url).dispose()
        store_db.dispose_all()  # a template must have no connections when it is copied
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def db_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database URL (no records), also exported as DECORUM_DATABASE_URL: SQLite in the test's data dir, or on
    the PostgreSQL pass a database copied from ``pg_template`` (a schema of its own where that is not possible)."""
    if not PG_URL:
        url = f"sqlite:///{tmp_path / 'data' / 'decorum.db'}"
        monkeypatch.setenv("DECORUM_DATABASE_URL", url)
        yield url
        return
    from sqlalchemy import text

    from decorum.store import db as store_db

    template = request.getfixturevalue("pg_template")
    admin = _pg_admin()
    name = f"t_{uuid.uuid4().hex[:12]}"
    if template is not None:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        url = _pg_database_url(name)
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    else:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        sep = "&" if "?" in PG_URL else "?"
        url = f"{PG_URL}{sep}options=-csearch_path%3D{name}"
        drop = f'DROP SCHEMA "{name}" CASCADE'
    monkeypatch.setenv("DECORUM_DATABASE_URL", url)
    try:
        yield url
    finally:
        store_db.dispose_all()
        with admin.connect() as conn:
            conn.execute(text(drop))
        admin.dispose()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings()


@pytest.fixture
def database(settings: Settings) -> Iterator[object]:
    from decorum.store import Database

    db = Database.open(settings.resolved_database_url)
    yield db
    db.dispose()


@pytest.fixture
def emu() -> Iterator[object]:
    """The local Slack Web API emulator (tests/slack_emulator.py): records every call, can answer 429 / 500."""
    from tests.slack_emulator import SlackEmulator

    with SlackEmulator() as e:
        yield e


@pytest.fixture
async def slack(emu: object, monkeypatch: pytest.MonkeyPatch, db_url: str) -> AsyncIterator[object]:
    """The served public app with Slack configured and fake models (tests/slack_harness.py ``running``)."""
    from tests.slack_harness import running

    async with running(emu, monkeypatch) as h:  # type: ignore[arg-type]
        yield h


@pytest.fixture
def console(settings: Settings) -> Iterator[tuple[str, dict[str, str]]]:
    """The admin listener (console and API) on a free port with fake models, and a viewer's and an auditor's
    token (tests/console_harness.py)."""
    from decorum.access import local_admin
    from decorum.bot.runtime import Runtime
    from tests.console_harness import admin_server
    from tests.fakes import FakeClassifier, FakeGenerator

    rt = Runtime.open(settings, classifier=FakeClassifier({"worthless": {"toxicity": 0.95}}),
                      generator=FakeGenerator("Open the VPN portal and choose Reset password."))
    tokens = {role: rt.access.add_user(f"{role}-1", role, by=local_admin("local:test"))[1]
              for role in ("viewer", "auditor")}
    with admin_server(rt) as url:
        yield url, tokens


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL run (``make test-postgres``) is the storage layer's second pass, not a second full suite.

    It keeps the tests that use a database and load no real model and drive no browser (a model's or a page's
    database work goes through the same stores those tests cover on both databases), plus the tests marked
    ``postgres``: several processes or replicas on one database, where PostgreSQL's locking is the point. Every
    test ran on the SQLite pass already.
    """
    if not PG_URL:
        return

    def keep(item: pytest.Item) -> bool:
        if item.get_closest_marker("postgres"):
            return True
        if "db_url" not in getattr(item, "fixturenames", ()):
            return False
        return not (item.get_closest_marker("models") or item.get_closest_marker("browser"))

    kept = [it for it in items if keep(it)]
    config.hook.pytest_deselected(items=[it for it in items if it not in kept])
    items[:] = kept


@pytest.fixture(scope="session")
def smollm():
    """The reference generator (transformers fp32, packaged SmolLM2 weights), loaded once for the session."""
    from decorum.adapters.registry import GeneratorConfig
    from decorum.bot.runtime import shared_generator

    gen = shared_generator(GeneratorConfig(kind="transformers"), Settings(cache_dir_override=MODEL_CACHE))
    gen.load()
    return gen


@pytest.fixture(scope="session")
def onnx_smollm():
    """The default engine (onnxruntime-genai, int8), built into the test cache once, loaded once per session."""
    from decorum.adapters.registry import GeneratorConfig
    from decorum.bot.runtime import shared_generator

    gen = shared_generator(GeneratorConfig(), Settings(cache_dir_override=MODEL_CACHE))
    gen.load()
    return gen


@pytest.fixture(scope="session")
def tiny_adapter(tmp_path_factory: pytest.TempPathFactory, smollm) -> Path:
    """A small LoRA adapter with non-zero random weights on the real base model (exercises fine_tuned)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from decorum.adapters.weights import ensure_converted

    folder, _ = ensure_converted(None, MODEL_CACHE)
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, local_files_only=True)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=32, target_modules=["q_proj", "v_proj"],
                                                 init_lora_weights=False))
    out = tmp_path_factory.mktemp("adapters") / "helpdesk-lora"
    peft_model.save_pretrained(str(out))
    return out
