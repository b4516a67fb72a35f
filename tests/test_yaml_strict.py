"""Strict YAML (issue 25): duplicate keys and control characters in a template file are refused, naming the
line and the key, by the loader and through ``decorum prompts create`` and ``POST /api/templates``.

Bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069) are refused like control characters (they
make a reviewer read text in another order than it runs); the marks LRM/RLM stay allowed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from decorum import cli
from decorum.access import local_admin
from decorum.bot.runtime import Runtime
from decorum.prompts.yaml_format import (
    StrictYamlError,
    load_strict_yaml,
    load_template_file,
    parse_yaml,
    template_from_data,
)
from decorum.settings import Settings
from decorum.web.app import create_apps
from tests.fakes import FakeClassifier, FakeGenerator

GOOD = ("description: Short answers.\n"
        "system: |\n"
        "  You are {{ assistant_name }}.\n"
        "  Answer in {{ sentences }} sentences.\n"
        "user: '{{ question }}'\n"
        "variables:\n"
        "- {name: assistant_name, type: string, max_length: 40}\n"
        "- {name: sentences, type: int}\n"
        "defaults: {assistant_name: Decorum, sentences: 2}\n"
        "generation:\n"
        "  max_tokens: 120\n"
        "  temperature: 0.2\n")

# (text, line, key, words the error must hold)
BAD: list[tuple[str, int, str, str]] = [
    ("system: Be kind.\nuser: '{{ question }}'\nsystem: Be rude.\n", 3, "system", "duplicate key (first at line 1)"),
    (GOOD.replace("  temperature: 0.2\n", "  temperature: 0.2\n  max_tokens: 4000\n"), 13,
     "generation.max_tokens", "duplicate key (first at line 11)"),
    ("description: x\nsystem: Hello\x00 there\n", 2, "system", "NUL bytes (U+0000) written raw"),
    ('description: x\nsystem: "Hello\\0 there"\n', 2, "system", "U+0000 (NUL) written as the escape \\0"),
    ('system: "one\n  two \\x85 three"\n', 2, "system", "U+0085 (NEL) written as the escape \\x85"),
    ("system: one\x85two\n", 1, "system", "U+0085 (NEL) written raw"),
    ("system: ok\nsafer_system: bell\x07\n", 2, "safer_system", "U+0007 (BEL) written raw"),
    ('system: "del \\x7f"\n', 1, "system", "U+007F (DEL)"),
    ('system: "\\u202eevil"\n', 1, "system", "U+202E (RIGHT-TO-LEFT OVERRIDE) written as the escape \\u202e"),
    ("system: Hi\ntest_cases:\n- question: \"a\\eb\"\n", 3, "test_cases.0.question", "U+001B (ESC)"),
    # Python refuses to build an integer past 4,300 digits with a ValueError that named no line (a 500 on the web)
    ("description: x\nsystem: Hi\ngeneration:\n  max_tokens: " + "9" * 5000 + "\n", 4, "generation.max_tokens",
     "a number written with 5,000 characters"),
]


@pytest.mark.parametrize(("text", "line", "key", "words"), BAD)
def test_the_loader_refuses_naming_line_and_key(text: str, line: int, key: str, words: str) -> None:
    with pytest.raises(StrictYamlError) as info:
        load_strict_yaml(text)
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.line, err.key) == (line, key), str(err)
    assert words in str(err) and str(err).startswith(f"line {line}, column ")


@pytest.mark.parametrize(("text", "words"), [
    ("a: &x hi\nsystem: *x\n", "YAML aliases (*x)"),
    ("<<: {system: a}\nuser: b\n", "merge keys"),
    ("? [a, b]\n: c\n", "complex keys"),
    ("system: !!binary AA==\n", "binary values"),
    ("1: a\ntrue: b\n", "duplicate key"),  # both load as the key 1: the second would replace the first
    ("[" * 50_000, "nested deeper than"),  # a RecursionError (a 500) before
])
def test_what_could_be_misread_or_blow_up_is_refused(text: str, words: str) -> None:
    with pytest.raises(StrictYamlError, match=r"^line \d+, column \d+: .*" + words.replace("(", r"\(")
                       .replace(")", r"\)").replace("*", r"\*")):
        load_strict_yaml(text)


def test_ordinary_templates_and_text_still_load() -> None:
    data = load_strict_yaml(GOOD)
    assert data["generation"] == {"max_tokens": 120, "temperature": 0.2}
    tpl, _ = template_from_data(data, "faq.yaml", name="faq")
    assert tpl.system.startswith("You are {{ assistant_name }}")
    # tabs, CRLF line ends, right-to-left text with its marks, emoji with joiners: all ordinary text
    text = ("system: \"a\\tb\"\r\nuser: |\r\n  {{ question }}\r\n"
            "description: \u05e9\u05dc\u05d5\u05dd \u200f! \U0001f469\u200d\U0001f4bb\r\n")
    data = load_strict_yaml(text)
    assert data["system"] == "a\tb" and "\u200f" in data["description"]
    assert load_strict_yaml("") is None
    assert load_strict_yaml("same: 1\nnested: {same: 2}\nlist: [{same: 3}, {same: 4}]\n")["list"][1] == {"same": 4}


def test_template_errors_name_the_source(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"^faq.yaml: line 3, column 1: system: duplicate key"):
        parse_yaml(BAD[0][0], "faq.yaml")
    f = tmp_path / "faq.yaml"
    f.write_bytes(b"system: a\nuser: '{{ question }}'\ndescription: \x01\n")
    with pytest.raises(Exception, match=r"^faq.yaml: line 3, column 14: description: control character U\+0001"):
        load_template_file(f, name="faq")


# --- through the surfaces ------------------------------------------------------------------------------------


@pytest.fixture
def rt(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    runtime = Runtime.open(Settings(), classifier=FakeClassifier({}), generator=FakeGenerator("Fine."))
    monkeypatch.setattr(cli.base, "runtime", lambda: runtime)
    return runtime


@pytest.mark.parametrize(("text", "line", "key", "words"), BAD)
def test_decorum_prompts_create_refuses_naming_the_line(rt: Runtime, capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path, text: str, line: int, key: str,
                                                        words: str) -> None:
    f = tmp_path / "faq.yaml"
    f.write_text(text, encoding="utf-8", newline="")
    code = cli.main(["prompts", "create", "faq", "--file", str(f)])
    _, err = capsys.readouterr()
    assert code == 2, err
    assert f"faq.yaml: line {line}, column " in err and f": {key}: " in err and words in err, err
    assert "faq" not in rt.templates.names()


def test_decorum_prompts_create_takes_a_normal_file(rt: Runtime, capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    f = tmp_path / "faq.yaml"
    f.write_text(GOOD, encoding="utf-8")
    assert cli.main(["prompts", "create", "faq", "--file", str(f)]) == 0, capsys.readouterr().err
    assert rt.templates.versions("faq") == [1]


@pytest.fixture
async def admin(rt: Runtime) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    apps = create_apps(rt, load_models=False)
    token = rt.access.add_user("editor-user", "editor", by=local_admin("local:test"))[1]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=apps.admin), base_url="http://127.0.0.1:8001") as c:
        yield c, {"authorization": f"Bearer {token}"}


# The web API refuses a raw NUL before parsing ("holds NUL characters"): the escapes and the rest get here.
WEB_BAD = [case for case in BAD if "\x00" not in case[0]]


@pytest.mark.parametrize(("text", "line", "key", "words"), WEB_BAD)
async def test_the_web_api_refuses_with_400_naming_the_line(admin: Any, rt: Runtime, text: str, line: int,
                                                            key: str, words: str) -> None:
    client, headers = admin
    r = await client.post("/api/templates", json={"name": "faq", "yaml": text, "message": "x"}, headers=headers)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error.startswith(f"yaml: line {line}, column ") and f": {key}: " in error and words in error, error
    assert "faq" not in rt.templates.names() and rt.audit.count() == 0


async def test_the_web_api_takes_a_normal_template(admin: Any, rt: Runtime) -> None:
    client, headers = admin
    r = await client.post("/api/templates", json={"name": "faq", "yaml": GOOD, "message": "x"}, headers=headers)
    assert r.status_code in (200, 201), r.text
    assert rt.templates.versions("faq") == [1]
    assert yaml.safe_load(GOOD)["system"] == rt.templates.get("faq", 1).system
