"""The ``decorum`` command without model weights: what the light commands import, the audit table and summary,
``users list`` without tokens, the README's template walk-through as written, and ``ask``/``chat`` through a
running admin listener (an in-process one over fakes; ``test_cli`` repeats it against a real ``decorum serve``).
"""

from __future__ import annotations

import io
import json
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from decorum import cli
from decorum.access import local_admin
from decorum.bot.pipeline import Request
from decorum.bot.runtime import Runtime
from decorum.settings import Settings
from tests.fakes import FakeClassifier, FakeGenerator

README = Path(__file__).resolve().parents[1] / "README.md"
RULES = {"worthless": {"toxicity": 0.95}}
ANSWER = "Open the VPN portal and choose Reset password."
VPN = "How do I reset my VPN password?"
TOXIC = "You are a worthless idiot."
HEAVY = ("torch", "transformers", "onnxruntime", "onnxruntime_genai", "guardrails", "detoxify", "peft",
         "sentence_transformers")
# Runs one command in a fresh interpreter, then says which model libraries it imported.
PROBE = ("import sys\nfrom decorum.cli import main\ncode = main(sys.argv[1:])\n"
         f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
         "print('exit', code, 'heavy', heavy)")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def fake_runtime() -> Runtime:
    return Runtime.open(Settings(), classifier=FakeClassifier(RULES), generator=FakeGenerator(ANSWER))


@pytest.fixture
def rt(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """The runtime every CLI command of the test uses: fakes for the models, the test's own database."""
    runtime = fake_runtime()
    monkeypatch.setattr(cli.base, "runtime", lambda: runtime)
    return runtime


@pytest.fixture
def notes(rt: Runtime) -> dict[str, dict]:
    """An answered and a refused note, written by the pipeline as any answer is."""
    import asyncio

    def answer(text: str) -> dict:
        req = Request(text=text, surface="cli", strategy="prompt_engineering", template="general")
        return asyncio.run(rt.pipeline.answer(req)).as_json()

    return {"answered": answer(VPN), "blocked": answer(TOXIC)}


# --- the light commands load no model library --------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["users", "list"], ["users", "add", "ana", "--role", "viewer"], ["audit", "list"], ["audit", "show", "NOTE"],
    ["audit", "verify"], ["audit", "export", "--format", "jsonl", "--out", "q.jsonl"], ["prompts", "list"],
    ["prompts", "show", "general"], ["prompts", "history", "general"], ["prompts", "diff", "general@1", "helpdesk@1"],
    ["models", "list"],
], ids=lambda argv: " ".join(argv[:2]))
def test_light_commands_import_no_model_library(notes: dict[str, dict], tmp_path: Path, argv: list[str]) -> None:
    argv = [notes["answered"]["id"] if a == "NOTE" else a for a in argv]
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.stdout.strip().splitlines()[-1] == "exit 0 heavy []", done.stderr


def test_parsing_a_light_command_imports_no_trainer() -> None:
    probe = ("import sys\nfrom decorum.cli import build_parser\nbuild_parser(['users', 'list'])\n"
             "print(sorted(m for m in sys.modules if '.training.' in m or '.finetune.' in m))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stderr
    help_text = subprocess.run([sys.executable, "-m", "decorum", "guardrails", "train", "--help"],
                               capture_output=True, text=True, timeout=120).stdout
    assert "--seed" in help_text or "--out" in help_text  # the named command still gets its module's options


# --- audit list and audit show ----------------------------------------------------------------------------


def test_audit_list_is_a_table_with_a_header_and_the_id_first(notes: dict[str, dict], capsys) -> None:
    code, out, _ = run(capsys, "audit", "list")
    header, *rows = out.splitlines()
    assert code == 0 and re.split(r"\s{2,}", header) == ["ID", "CREATED (UTC)", "VERDICT", "SURFACE", "WHAT", "CHECKS"]
    blocked, answered = (re.split(r"\s{2,}", r) for r in rows)  # newest first
    assert blocked[0] == notes["blocked"]["id"] and answered[0] == notes["answered"]["id"]
    assert blocked[2:] == ["blocked_input", "cli", "-", "FAIL input toxicity 0.95"]
    assert answered[2:5] == ["answered", "cli", "prompt_engineering general@1"]
    assert answered[5].startswith("ok (max ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", answered[1])
    # every column starts where its header does
    for name in ("CREATED (UTC)", "VERDICT", "SURFACE", "WHAT", "CHECKS"):
        assert all(row[header.index(name) - 2:header.index(name)] == "  " for row in rows), name
    code, out, err = run(capsys, "audit", "list", "--verdict", "error")
    assert code == 0 and out == "" and "no records match" in err


def test_audit_show_is_a_summary_and_json_the_whole_note(notes: dict[str, dict], capsys) -> None:
    note = notes["blocked"]
    code, out, _ = run(capsys, "audit", "show", note["id"])
    assert code == 0 and not out.lstrip().startswith("{")
    assert out.splitlines()[0].startswith(f"{note['id']}  blocked_input  {note['created_at']}  via cli")
    assert re.search(r"^\s+policy\s+default@1, action refused$", out, re.M)
    assert re.search(r"^\s+input\s+toxicity\s+0\.9500\s+0\.\d+\s+FAIL\b", out, re.M)
    assert f"decorum audit show {note['id']} --json" in out
    code, out, _ = run(capsys, "audit", "show", notes["answered"]["id"])
    assert re.search(r"^\s+template\s+general@1\b", out, re.M) and re.search(r"^\s+model\s+fake-llm\b", out, re.M)
    code, out, _ = run(capsys, "audit", "show", note["id"], "--json")
    assert code == 0 and json.loads(out) == {k: v for k, v in note.items() if k != "answer"}


# --- users list never shows a token --------------------------------------------------------------------------


def test_users_list_shows_no_part_of_a_token(rt: Runtime, capsys) -> None:
    code, out, _ = run(capsys, "users", "add", "ana", "--role", "auditor")
    token = out.strip().splitlines()[-1]
    assert code == 0 and token.startswith("dcm_")
    for argv in (["users", "list"], ["users", "list", "--json"]):
        code, out, _ = run(capsys, *argv)
        assert code == 0 and "ana" in out
        secret = token.removeprefix("dcm_")
        assert not any(secret[i:i + 4] in out for i in range(len(secret) - 3)), argv  # not even 4 characters
        assert "token" not in out
    [ana] = json.loads(run(capsys, "users", "list", "--json")[1])
    assert ana["name"] == "ana" and ana["role"] == "auditor" and "token_hint" not in ana


# --- the README's template walk-through runs as written ---------------------------------------------------------


def readme_block(title: str) -> list[str]:
    """The commands of the first ``sh`` block under the README heading ``title``, one list of words each."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(f"\n## {title}\n"):]
    block = section[section.index("```sh\n") + 6:]
    block = block[:block.index("```")]
    commands = []
    for line in block.splitlines():
        for part in line.split("&&"):
            words = shlex.split(part, comments=True)
            if words:
                commands.append(words)
    return commands


def test_the_readme_template_walk_through_runs_as_written(rt: Runtime, capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    faq = {"description": "Short answers about the VPN.", "system": "Answer in two sentences.\n",
           "user": "{{ question }}", "test_cases": [{"question": VPN, "expect": {"must_contain": ["reset"]}}]}
    Path("faq.yaml").write_text(yaml.safe_dump(faq), encoding="utf-8")
    commands = readme_block("Prompt templates")
    assert [c[:3] for c in commands][:2] == [["decorum", "prompts", "create"], ["decorum", "prompts", "publish"]]
    for words in commands:
        assert words[0] == "decorum", words
        if words[1:3] == ["prompts", "edit"]:  # "from the edited file": the reader edits it first
            Path("faq.yaml").write_text(yaml.safe_dump({**faq, "system": "Answer in one sentence.\n"}),
                                        encoding="utf-8")
        code, out, err = run(capsys, *words[1:])
        assert code == 0, f"{shlex.join(words)}: {err}"
        if words[1:3] == ["prompts", "rollback"]:
            assert out.strip() == "production -> faq@1 (rolled back)"
    assert rt.templates.labels("faq") == {"production": 1}


# --- ask and chat through a running admin listener -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(db_url: str) -> Iterator[tuple[str, str, Runtime]]:
    """The admin app of ``decorum serve`` over fakes, on a real port in a thread: (URL, a viewer's token, runtime)."""
    import uvicorn

    from decorum.web.app import create_apps

    runtime = fake_runtime()
    _, token = runtime.access.add_user("viewer-1", "viewer", by=local_admin("test"))
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_apps(runtime, load_models=False).admin, host="127.0.0.1", port=port,
                                        log_config=None, access_log=False))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(400):
        if srv.started:
            break
        time.sleep(0.05)
    assert srv.started
    yield f"http://127.0.0.1:{port}", token, runtime
    srv.should_exit = True
    thread.join(timeout=30)


def test_ask_server_prints_what_a_local_answer_prints(server, rt: Runtime, capsys) -> None:
    url, token, _ = server
    code, out, err = run(capsys, "ask", "--server", url, "--token", token, "--template", "general", VPN)
    answer, summary = out.splitlines()
    assert code == 0 and answer == ANSWER and "loading" not in err
    assert summary.startswith("[answered · prompt_engineering · general@1 · fake-llm · input ok")
    code, local_out, err = run(capsys, "ask", "--template", "general", VPN)  # no server named, no token: here
    assert code == 0 and local_out.splitlines()[0] == ANSWER and local_out.splitlines()[1].startswith(summary[:40])
    assert err.strip() == cli.ask.LOADING_NOTICE  # said before loading, one line
    code, out, _ = run(capsys, "ask", "--server", url + "/", "--token", token, "--json", TOXIC)
    remote = json.loads(out)
    assert code == 0 and remote["verdict"] == "blocked_input" and remote["id"] in remote["answer"]
    assert "report" not in remote  # the console's link; the CLI prints the note plus "answer", as locally
    local = json.loads(run(capsys, "ask", "--json", TOXIC)[1])
    assert set(remote) - {"user", "pseudonym_key"} == set(local) - {"user", "pseudonym_key"}
    code, out, _ = run(capsys, "audit", "show", remote["id"], "--json")  # the server wrote it to the same log
    assert json.loads(out)["surface"] == "web"


def test_ask_uses_the_configured_local_server_only_with_a_token(server, rt: Runtime, capsys, monkeypatch) -> None:
    url, token, served = server
    monkeypatch.setenv("DECORUM_ADMIN_PORT", url.rsplit(":", 1)[1])
    code, out, err = run(capsys, "ask", VPN)  # no token: this process answers, after saying it loads the models
    assert code == 0 and err.strip() == cli.ask.LOADING_NOTICE
    asked = len(served.generator.requests)
    monkeypatch.setenv("DECORUM_TOKEN", token)
    code, out, err = run(capsys, "ask", VPN)
    assert code == 0 and out.splitlines()[0] == ANSWER
    assert err.strip() == f"decorum: answering through the running server at {url} (--local answers in this process)"
    assert len(served.generator.requests) == asked + 1
    code, _, err = run(capsys, "ask", "--local", VPN)
    assert code == 0 and err.strip() == cli.ask.LOADING_NOTICE and len(served.generator.requests) == asked + 1


@pytest.mark.parametrize("argv, code, match", [
    (["--token", "dcm_wrong"], 2, "refused the token (401"),
    ([], 2, "--server needs a login token: --token TOKEN or DECORUM_TOKEN"),
    (["--template", "nosuch"], 2, "unknown template 'nosuch'"),
    (["--max-new-tokens", "8"], 2, "--max-new-tokens applies to answers in this process"),
])
def test_ask_server_refusals_are_one_line(server, capsys, argv: list[str], code: int, match: str) -> None:
    url, token, _ = server
    argv = [a.replace("TOKEN", token) for a in argv]
    if "--token" not in argv and match != "--server needs a login token: --token TOKEN or DECORUM_TOKEN":
        argv += ["--token", token]
    got, out, err = run(capsys, "ask", "--server", url, *argv, VPN)
    assert got == code and match in err and len(err.strip().splitlines()) == 1 and out == ""


def test_ask_server_unreachable_fails_in_one_line(db_url: str, capsys) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = run(capsys, "ask", "--server", url, "--token", "dcm_x", VPN)
    assert code == 1 and err.strip() == f"decorum: failed: cannot reach the server at {url}: ConnectError"


def test_chat_through_the_server(server, capsys, monkeypatch) -> None:
    url, token, served = server
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(f"{VPN}\n\n{TOXIC}\n/quit\n".encode())))
    code, out, err = run(capsys, "chat", "--server", url, "--token", token)
    lines = out.splitlines()
    assert code == 0 and "loading" not in err
    assert lines[0] == ANSWER and lines[1].startswith("[answered") and lines[3].startswith("[blocked_input")
    assert len(served.generator.requests) == 1  # the refused one never reached the model
