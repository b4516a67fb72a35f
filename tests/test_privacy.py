"""Issue 10, privacy: every probe from the issue, repeated against the new behaviour.

Keyed fingerprints (no plain SHA-256 of a question or answer), explanations without the message's
words, error notes with the type only, OAuth tokens encrypted at rest, key files 0600 from the start.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import multiprocessing
import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from decorum.audit.pseudonyms import Pseudonymiser
from decorum.audit.records import canonical_json
from decorum.bot.pipeline import Request
from decorum.bot.runtime import Runtime
from decorum.errors import ConfigError, GenerationError
from decorum.guardrails.explain import GROUP_NAMES, GROUP_TERMS, describe_groups, describe_targets
from decorum.secrets_files import read_or_create_secret
from decorum.settings import Settings
from decorum.store.tables import SlackInstallationRow
from tests.fakes import FakeClassifier, FakeGenerator

QUESTION = "Why are muslims like that?"
BIASED = {"muslims": {"bias": 0.93}, "immigrants": {"bias": 0.91}}
AUDIT_KEY = "privacy-test-audit-key-0123456789"


def ask(rt: Runtime, text: str) -> dict[str, Any]:
    return asyncio.run(rt.pipeline.answer(Request(text=text))).as_json()


def stored_json(rt: Runtime, note_id: str) -> str:
    """The note as the audit log holds it (the exact hashed JSON)."""
    return canonical_json({k: v for k, v in rt.audit.get(note_id).items() if k != "hash"})


def words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z]+", text)}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- fingerprints ------------------------------------------------------------------------------------


def test_a_guessed_question_cannot_be_confirmed_from_the_note(settings: Settings, monkeypatch) -> None:
    monkeypatch.setenv("DECORUM_AUDIT_KEY", AUDIT_KEY)
    answer_text = "Here is a calm answer."
    rt = Runtime.open(Settings(), classifier=FakeClassifier(), generator=FakeGenerator(answer_text))
    try:
        note = ask(rt, QUESTION)
        raw = stored_json(rt, note["id"])
        # The probe: sha256("Why are muslims like that?") matched the note. Now it does not.
        assert sha256(QUESTION) not in raw and sha256(answer_text) not in raw
        assert '"sha256"' not in json.dumps(note["request"]) + json.dumps(note["response"])
        # Whoever holds the audit key can still confirm it.
        keyed = hmac.new(AUDIT_KEY.encode(), QUESTION.encode(), hashlib.sha256).hexdigest()
        assert note["request"] == {"hmac_sha256": keyed, "chars": len(QUESTION), "truncated": False}
        assert note["response"]["hmac_sha256"] == hmac.new(AUDIT_KEY.encode(), answer_text.encode(),
                                                           hashlib.sha256).hexdigest()
        assert keyed in raw
    finally:
        rt.close()


def test_fingerprints_use_the_generated_key_file_when_no_key_is_set(settings: Settings) -> None:
    rt = Runtime.open(settings, classifier=FakeClassifier(), generator=FakeGenerator())
    try:
        note = ask(rt, QUESTION)
    finally:
        rt.close()
    key = (settings.data_dir / "audit.key").read_text().strip().encode()
    assert note["request"]["hmac_sha256"] == hmac.new(key, QUESTION.encode(), hashlib.sha256).hexdigest()
    other = Pseudonymiser(b"some-other-key-0123456789").fingerprint(QUESTION)
    assert other["hmac_sha256"] != note["request"]["hmac_sha256"]  # a different key, a different fingerprint


# --- explanations ------------------------------------------------------------------------------------


def test_describe_groups_names_groups_never_words() -> None:
    assert describe_groups(QUESTION) == "religion"
    assert describe_groups("Immigrants and Muslims, again") == "religion; nationality"
    assert describe_groups("How do I reset my VPN password?") == ""


@pytest.mark.parametrize("text", [QUESTION, "Honestly, why are immigrants and muslims always grumbling over "
                                  "everything here? " + "Quixotic paperwork keeps piling up. " * 30])
def test_a_flagged_message_leaves_none_of_its_words_in_the_note(settings: Settings, text: str) -> None:
    rt = Runtime.open(settings, classifier=FakeClassifier(BIASED), generator=FakeGenerator())
    try:
        note = ask(rt, text)
        raw = stored_json(rt, note["id"])
    finally:
        rt.close()
    assert note["verdict"] == "blocked_input"
    [bias] = [r for r in note["guardrails"]["input"] if r["check"] == "bias"]
    # The groups are named by their fixed names, with the category of stereotype; no other word of the text.
    assert not bias["passed"] and "Muslims (religion)" in bias["explanation"]
    assert ("immigrants (nationality); Muslims (religion)" in bias["explanation"]) == ("immigrants" in text)
    group_names = words(" ".join(GROUP_NAMES)) | words(" ".join(GROUP_TERMS))
    leaked = {w for w in words(text) - group_names if re.search(rf"\b{w}\b", raw, re.IGNORECASE)}
    assert not leaked, leaked
    assert "muslims always" not in raw.lower() and "grumbling" not in raw.lower()


def test_describe_targets_names_each_group_once_with_its_category() -> None:
    assert describe_targets("Why are muslim women and MUSLIMS like that") == "Muslims (religion); women (gender)"
    assert describe_targets("wives and ladies") == "women (gender)"  # one fixed name, not the message's spelling
    assert describe_targets("How do I reset my VPN password?") == ""
    named = {term for terms in GROUP_NAMES.values() for term in terms}
    assert named == {term for terms in GROUP_TERMS.values() for term in terms}  # every listed term has a name


# --- errors ------------------------------------------------------------------------------------------


class QuotingGenerator(FakeGenerator):
    """A backend whose failure message quotes the prompt, as real ones do."""

    def __init__(self, exc_type: type[Exception]) -> None:
        super().__init__()
        self.exc_type = exc_type

    def generate(self, requests):  # type: ignore[no-untyped-def]
        raise self.exc_type(f"cannot continue {requests[0].messages[-1]['content']!r}")


@pytest.mark.parametrize("exc_type", [RuntimeError, GenerationError])
def test_an_error_note_keeps_the_type_only(settings: Settings, exc_type: type[Exception],
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    question = "Why does the zanzibar quokka reset fail?"
    rt = Runtime.open(settings, classifier=FakeClassifier(), generator=QuotingGenerator(exc_type))
    try:
        note = ask(rt, question)
        raw = stored_json(rt, note["id"])
    finally:
        rt.close()
    assert note["verdict"] == "error" and note["error"] == {"type": exc_type.__name__}
    assert "zanzibar" not in raw and "quokka" not in raw
    logged = caplog.text  # formatted: messages and any traceback
    assert "zanzibar" not in logged and "quokka" not in logged  # logs carry ids and types, not text
    if exc_type is RuntimeError:
        assert f"request {note['id']} failed: RuntimeError" in logged


# --- key files ---------------------------------------------------------------------------------------


def test_audit_key_is_0600_from_its_first_byte(tmp_path: Path, monkeypatch) -> None:
    seen: list[tuple[int, str]] = []
    real_link = os.link

    def spy_link(src: Any, dst: Any, *a: Any, **kw: Any) -> None:
        seen.append((os.stat(src).st_mode & 0o777, Path(src).read_text()))  # what a reader could ever see
        real_link(src, dst, *a, **kw)

    monkeypatch.setattr(os, "link", spy_link)
    old = os.umask(0)  # the old code's open() then chmod() left a 0666 window under this umask
    try:
        p = Pseudonymiser.from_settings(None, tmp_path / "d")
    finally:
        os.umask(old)
    path = tmp_path / "d" / "audit.key"
    key = path.read_text().strip()
    assert seen == [(0o600, key + "\n")] and len(key) == 64
    assert path.stat().st_mode & 0o777 == 0o600
    assert p.user("U1") == Pseudonymiser(key.encode()).user("U1")
    assert sorted(f.name for f in path.parent.iterdir()) == ["audit.key"]  # no temporary file left


def test_a_key_file_readable_by_others_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    path.write_text("k" * 64)
    path.chmod(0o644)
    assert read_or_create_secret(path, lambda: "unused") == "k" * 64
    assert path.stat().st_mode & 0o777 == 0o600


def _create_key(args: tuple[str, Any]) -> str:
    path, barrier = args
    barrier.wait()
    return read_or_create_secret(Path(path), lambda: os.urandom(16).hex())


def test_concurrent_creators_agree_on_one_key(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    n = 6
    for round_ in range(3):
        path = tmp_path / f"r{round_}" / "audit.key"
        with ctx.Manager() as manager, ctx.Pool(n) as pool:
            keys = pool.map(_create_key, [(str(path), manager.Barrier(n))] * n)
        assert len(set(keys)) == 1 and keys[0] == path.read_text().strip()
        assert path.stat().st_mode & 0o777 == 0o600


def test_without_hard_links_creators_still_agree(tmp_path: Path, monkeypatch) -> None:
    import errno

    def no_link(*a: Any, **kw: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    path = tmp_path / "k" / "audit.key"
    barrier = threading.Barrier(8)
    keys: list[str] = []

    def create() -> None:
        barrier.wait()
        keys.append(read_or_create_secret(path, lambda: os.urandom(16).hex()))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1 and path.stat().st_mode & 0o777 == 0o600
    assert sorted(f.name for f in path.parent.iterdir()) == ["audit.key"]


# --- OAuth tokens at rest ----------------------------------------------------------------------------

KEY_A = "sWAzhgwStpmA0wM9w8cqzbt2t4cwsFNXIsLbZ7l6W8w="
KEY_B = "f6wW1kQpnYqsgGfYxbk-8-lFyu8UgbLVDAAzHVsKEQc="
OAUTH = {"SLACK_BOT_TOKEN": "", "SLACK_CLIENT_ID": "1111.2222", "SLACK_CLIENT_SECRET": "oauth-secret"}


def installation(token: str = "xoxb-secret-token-123", team: str = "T0SECOND") -> Any:
    from slack_sdk.oauth.installation_store.models.installation import Installation

    return Installation(app_id="A0EMU", team_id=team, bot_token=token, bot_id="B0BOT2", bot_user_id="U0BOT2",
                        user_id="U0ADMIN", bot_refresh_token="xoxe-1-refresh-456",
                        incoming_webhook_url="https://hooks.slack.com/services/T0/B0/secretpath")


def raw_rows(database: Any) -> list[str]:
    with database.session() as s:
        return list(s.execute(select(SlackInstallationRow.data)).scalars())


async def test_every_secret_field_is_encrypted(database: Any) -> None:
    from decorum.bot.slack.installations import SqlInstallationStore

    store = SqlInstallationStore(database, KEY_A)
    await store.async_save(installation())
    [data] = raw_rows(database)
    for secret in ("xoxb-secret-token-123", "xoxe-1-refresh-456", "secretpath", "U0ADMIN"):
        assert secret not in data
    found = await store.async_find_installation(enterprise_id=None, team_id="T0SECOND")
    assert found.bot_token == "xoxb-secret-token-123" and found.bot_refresh_token == "xoxe-1-refresh-456"


def slack_surface(monkeypatch: pytest.MonkeyPatch, key: str | None) -> Any:
    """Build the Slack surface the way ``decorum serve`` does, with OAuth configured."""
    from decorum.bot.slack import SlackSettings
    from decorum.bot.slack.app import SlackSurface

    for k, v in {**OAUTH, "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
                 "DECORUM_ENCRYPTION_KEY": key or ""}.items():
        if v:
            monkeypatch.setenv(k, v)
        else:
            monkeypatch.delenv(k, raising=False)
    rt = Runtime.open(Settings(), classifier=FakeClassifier(), generator=FakeGenerator())
    try:
        return SlackSurface(rt, SlackSettings())
    finally:
        rt.close()


@pytest.mark.parametrize(("key", "match"), [(None, "set DECORUM_ENCRYPTION_KEY to a Fernet key"),
                                            ("not-a-fernet-key", "key 1 of 1 is not a Fernet key"),
                                            (f"{KEY_A},short", "key 2 of 2 is not a Fernet key")])
def test_oauth_without_a_key_refuses_to_start_and_says_how_to_make_one(monkeypatch, db_url: str, key: str | None,
                                                                        match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        slack_surface(monkeypatch, key)
    assert "Fernet.generate_key().decode()" in str(info.value)
    assert slack_surface(monkeypatch, KEY_A).installations is not None  # with a key it starts


async def test_a_wrong_key_is_a_clear_error_not_a_crash(database: Any, monkeypatch, db_url: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    from decorum.bot.slack.installations import SqlInstallationStore

    await SqlInstallationStore(database, KEY_A).async_save(installation())
    wrong = SqlInstallationStore(database, KEY_B)
    with pytest.raises(ConfigError, match="decrypts none of the stored Slack installations of 1 workspace"):
        wrong.migrate()
    caplog.set_level(logging.INFO)
    assert await wrong.async_find_bot(enterprise_id=None, team_id="T0SECOND") is None  # no exception
    assert "workspace=-:T0SECOND unreadable" in caplog.text and "xoxb" not in caplog.text
    with pytest.raises(ConfigError, match="Put the old key after the new one"):
        slack_surface(monkeypatch, KEY_B)  # `decorum serve` prints this one line and exits


async def test_rows_stored_before_encryption_are_read_and_then_encrypted(database: Any) -> None:
    from decorum.bot.note import utc_now
    from decorum.bot.slack.installations import SqlInstallationStore, _json_default

    legacy = installation(token="xoxb-legacy-plain")  # exactly what the previous version stored
    with database.session() as s:
        s.add(SlackInstallationRow(workspace="-:T0SECOND", enterprise_id=None, team_id="T0SECOND",
                                   is_enterprise_install=False, installed_at=utc_now(),
                                   data=json.dumps(legacy.to_dict_for_copying(), default=_json_default)))
    store = SqlInstallationStore(database, KEY_A)
    assert (await store.async_find_bot(enterprise_id=None, team_id="T0SECOND")).bot_token == "xoxb-legacy-plain"
    assert store.migrate() == 1 and store.migrate() == 0
    [data] = raw_rows(database)
    assert data.startswith("fernet:") and "xoxb-legacy-plain" not in data
    assert (await store.async_find_bot(enterprise_id=None, team_id="T0SECOND")).bot_token == "xoxb-legacy-plain"


async def test_keys_rotate_first_encrypts_all_decrypt(database: Any) -> None:
    from decorum.bot.slack.installations import SqlInstallationStore

    await SqlInstallationStore(database, KEY_A).async_save(installation())
    rotating = SqlInstallationStore(database, f"{KEY_B}, {KEY_A}")
    assert (await rotating.async_find_bot(enterprise_id=None, team_id="T0SECOND")).bot_token == "xoxb-secret-token-123"
    assert rotating.migrate() == 1 and rotating.migrate() == 0
    only_new = SqlInstallationStore(database, KEY_B)
    assert (await only_new.async_find_bot(enterprise_id=None, team_id="T0SECOND")).bot_token == "xoxb-secret-token-123"
    with pytest.raises(ConfigError):
        SqlInstallationStore(database, KEY_A).migrate()  # the retired key reads nothing now
