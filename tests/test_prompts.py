"""Template store and sandboxed rendering."""

from __future__ import annotations

import pytest

from decorum.errors import TemplateInvalid, TemplateNotFound, TemplateRenderError, UsageError
from decorum.prompts.base import Template, TemplateRef
from decorum.prompts.render import render_messages, validate
from decorum.prompts.sql_store import SqlTemplateStore


@pytest.fixture
def store(database) -> SqlTemplateStore:
    s = SqlTemplateStore(database)
    s.seed()
    return s


def test_seeds_give_general_and_helpdesk_in_production(store: SqlTemplateStore) -> None:
    assert {"general", "helpdesk"} <= set(store.names())
    tpl = store.get("helpdesk")
    assert tpl.version == 1 and tpl.domain == "helpdesk" and len(tpl.sha256) == 64
    assert store.seed() == []  # idempotent


def test_versions_are_immutable_and_labels_move(store: SqlTemplateStore) -> None:
    v1 = store.get("general")
    v2 = store.add_version(Template(name="general", version=0, system="Be brief, {{ assistant_name }}.",
                                    defaults={"assistant_name": "D"}), author="alice")
    assert v2.version == 2
    assert store.get("general").version == 1  # production still points at v1
    store.set_label("general", 2)
    assert store.get("general").system.startswith("Be brief")
    assert store.get("general", 1) == v1  # the old version is unchanged
    assert store.versions("general") == [1, 2]


@pytest.mark.parametrize("name,version,match", [
    ("nosuch", None, "unknown template 'nosuch'; available: general, helpdesk"),
    ("general", 9, "has no version 9; latest is 1"),
])
def test_unknown_templates_name_what_exists(store: SqlTemplateStore, name: str, version, match: str) -> None:
    with pytest.raises(TemplateNotFound, match=match):
        store.get(name, version)


@pytest.mark.parametrize("spec,match", [
    ("Bad Name", "invalid template name"),
    ("general@x", "invalid template version"),
    ("general@0", "invalid template version"),
    ("", "invalid template name"),
])
def test_template_refs_are_validated(spec: str, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        TemplateRef.parse(spec)


def test_user_text_is_never_template_code() -> None:
    tpl = Template(name="t", version=1, system="System for {{ who }}.", defaults={"who": "you"})
    for attack in ("{{ 7*7 }}", "{% for x in range(3) %}x{% endfor %}", "{{ ''.__class__.__mro__ }}",
                   "{{ who }}"):
        msgs = render_messages(tpl, question=attack)
        assert msgs[-1]["content"] == attack
        assert msgs[0]["content"] == "System for you."


@pytest.mark.parametrize("system,match", [
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
    ("Hello {{ undefined_thing }}", "undefined"),
    ("{% if %}", "syntax error"),
])
def test_bad_admin_templates_are_refused_at_save(store: SqlTemplateStore, system: str, match: str) -> None:
    with pytest.raises(TemplateInvalid, match=match):
        store.add_version(Template(name="evil", version=0, system=system), author="mallory")
    assert "evil" not in store.names()


def test_user_message_must_hold_the_question() -> None:
    with pytest.raises(TemplateInvalid, match="question"):
        validate(Template(name="t", version=1, system="s", user="no question here"))


def test_render_errors_are_template_errors() -> None:
    tpl = Template(name="t", version=1, system="{{ 1 / 0 }}")
    with pytest.raises(TemplateRenderError):
        render_messages(tpl, question="q")
