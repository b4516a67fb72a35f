"""The ``decorum`` command end to end with the real models (in-process; models load once per session)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from decorum import cli

pytestmark = pytest.mark.models

VPN = "How do I reset my VPN password?"
TOXIC = "You are a worthless idiot and people like you should be exterminated."


def run(capsys, *argv: str, stdin: bytes | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ask_json(capsys, *argv: str, **kw) -> dict:
    code, out, err = run(capsys, "ask", "--json", "--max-new-tokens", "24", *argv, **kw)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1, "--json prints exactly one JSON object"
    return json.loads(lines[0])


def test_ask_json_gives_a_complete_note_that_the_log_keeps(capsys, db_url) -> None:
    note = ask_json(capsys, "Suggest an agenda for our team offsite")  # a general request: the default route
    assert note["verdict"] == "answered" and note["answer"].strip()
    assert {"id", "created_at", "route", "template", "model", "guardrails", "latency_ms", "hash"} <= set(note)
    assert note["route"] == {"strategy": "prompt_engineering", "reason": "default"}
    assert note["template"]["name"] == "general" and isinstance(note["template"]["version"], int)
    assert note["model"]["name"] == "smollm2-135m-instruct" and len(note["model"]["revision"]) == 64
    for stage in ("input", "output"):
        checks = {r["check"]: r for r in note["guardrails"][stage]}
        assert set(checks) == {"toxicity", "bias"} | ({"answer_bias"} if stage == "output" else set())
        for name, r in checks.items():
            assert isinstance(r["score"], float) and r["threshold"] > 0 and r["passed"] is True
            # each check names the model behind it: the bias check is the dedicated stereotype model's
            assert r["scorer"].startswith({"answer_bias": "decorum/answer-bias-rules@",
                                           "bias": "decorum-minilm-stereotype@"}.get(name, "decorum-minilm-tox-bias@"))
    assert note["latency_ms"]["generate"] > 0 and note["tokens"]["completion"] > 0
    # the default engine, named beside the weights' revision
    model = note["model"]
    assert model["engine"] == "onnx" and model["precision"] == "int8"
    assert len(model["artifact_revision"]) == 64 and model["artifact_revision"] != model["revision"]

    code, out, _ = run(capsys, "audit", "show", note["id"], "--json")
    assert code == 0 and json.loads(out) == {k: v for k, v in note.items() if k != "answer"}
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 0 and "1 records verified" in out


def test_toxic_question_is_blocked_before_the_model(capsys, db_url) -> None:
    note = ask_json(capsys, TOXIC)
    assert note["verdict"] == "blocked_input"
    assert "generate" not in note["latency_ms"] and note["tokens"]["completion"] == 0
    assert any(not r["passed"] for r in note["guardrails"]["input"])
    assert note["id"] in note["answer"]
    _, out, _ = run(capsys, "audit", "list", "--json", "--verdict", "blocked_input")
    assert [n["id"] for n in json.loads(out)] == [note["id"]]


def test_plain_output_has_answer_and_summary(capsys, db_url) -> None:
    code, out, _ = run(capsys, "ask", "--max-new-tokens", "8", "--template", "helpdesk@1", VPN)
    assert code == 0
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("[answered · prompt_engineering · helpdesk@1 · smollm2-135m-instruct")
    assert "input ok" in summary and " id " in summary


def test_tampering_with_the_database_fails_verify(capsys, db_url) -> None:
    first = ask_json(capsys, VPN)
    ask_json(capsys, TOXIC)
    engine = create_engine(cli_url(db_url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_record SET verdict = 'blocked_output' WHERE id = :i"), {"i": first["id"]})
    engine.dispose()
    code, out, err = run(capsys, "audit", "verify")
    assert code != 0 and out.strip() == first["id"] and "broken" in err


def cli_url(url: str) -> str:
    from decorum.settings import Settings

    return Settings(database_url=url).resolved_database_url


@pytest.mark.parametrize("argv,stdin,match", [
    (["ask", ""], None, "the question is empty"),
    (["ask", "   "], None, "the question is empty"),
    (["ask", "-"], b"\xff\xfe\x00binary", "stdin is not valid UTF-8 (byte 0xff at offset 0)"),
    (["ask", "-"], b"abc\x00def", "NUL"),
    (["ask", "--template", "nosuch", "hi"], None,
     "unknown template 'nosuch'; available: general, helpdesk, helpdesk-tuned"),
    (["ask", "--template", "helpdesk@99", "hi"], None, "template 'helpdesk' has no version 99; latest is 1"),
    (["ask", "--template", "Bad Name!", "hi"], None, "invalid template name"),
    (["ask", "--strategy", "fine_tuned", "--template", "general", "hi"], None,
     "template 'general' has no fine-tuned domain"),
    (["audit", "show", "01NOSUCHID"], None, "no audit record with id '01NOSUCHID'"),
    (["audit", "list", "--limit", "0"], None, "--limit must be between 1 and 500"),
])
def test_bad_usage_exits_2_with_one_line(capsys, monkeypatch, db_url, argv, stdin, match) -> None:
    code, _, err = run(capsys, *argv, stdin=stdin, monkeypatch=monkeypatch)
    assert code == 2
    assert match in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    code, _, _ = run(capsys, "audit", "verify")
    assert code == 0  # nothing half-written


def test_argparse_errors_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["ask", "--strategy", "nonsense", "hi"])
    assert exc.value.code == 2


def test_huge_question_on_stdin_is_truncated_and_recorded(capsys, monkeypatch, db_url) -> None:
    text_in = ("Please help me with my laptop. " * 7000)[:200_000].encode()
    note = ask_json(capsys, "-", stdin=text_in, monkeypatch=monkeypatch)
    assert note["request"]["chars"] == 200_000 and note["request"]["truncated"] is True
    assert note["verdict"] == "answered"


def test_export_jsonl_and_csv(capsys, db_url, tmp_path) -> None:
    note = ask_json(capsys, TOXIC)
    code, out, _ = run(capsys, "audit", "export", "--format", "jsonl")
    assert code == 0 and json.loads(out.splitlines()[0])["id"] == note["id"]
    dest = tmp_path / "audit.csv"
    code, _, err = run(capsys, "audit", "export", "--format", "csv", "--out", str(dest))
    assert code == 0 and "exported 2 records" in err  # the note and the first export's own audit.export record
    assert dest.read_text().splitlines()[0].startswith("seq,id,created_at")


def test_guardrails_score_jsonl(capsys, monkeypatch, db_url) -> None:
    lines = [json.dumps({"text": VPN}), json.dumps({"text": TOXIC}), "{not json", json.dumps({"txt": 1}),
             json.dumps({"text": "My colleague is Muslim and she organised a lovely team lunch."})]
    code, out, err = run(capsys, "guardrails", "score", stdin=("\n".join(lines) + "\n").encode(),
                         monkeypatch=monkeypatch)
    results = [json.loads(line) for line in out.splitlines()]
    assert len(results) == 5
    assert results[0]["passed"] is True and set(results[0]["checks"]) == {"toxicity", "bias"}
    assert isinstance(results[0]["checks"]["toxicity"]["score"], float)
    assert results[1]["passed"] is False and results[1]["checks"]["toxicity"]["passed"] is False
    assert results[2] == {"error": results[2]["error"]} and "line 3: invalid JSON" in results[2]["error"]
    assert 'line 4: expected an object with a string "text"' in results[3]["error"]
    assert results[4]["passed"] is True
    assert code == 2 and "2 input line(s)" in err and len(err.strip().splitlines()) == 1


def test_guardrails_score_binary_input(capsys, monkeypatch, db_url) -> None:
    code, out, _ = run(capsys, "guardrails", "score", stdin=b'{"text": "ok"}\n\xff\xfe\n', monkeypatch=monkeypatch)
    results = [json.loads(line) for line in out.splitlines()]
    assert results[0]["passed"] is True and "not valid UTF-8" in results[1]["error"] and code == 2


def test_help_is_fast_and_imports_no_heavy_library() -> None:
    probe = ("import sys, decorum.cli as c\n"
             "try:\n    c.main(['--help'])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ('torch', 'transformers', 'guardrails', 'detoxify') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_internal_failure_exits_1_and_still_writes_an_error_note(capsys, db_url, tmp_path, monkeypatch) -> None:
    cfg = tmp_path / "down.yaml"
    cfg.write_text("models:\n  generator: {kind: openai_compat, base_url: 'http://127.0.0.1:9/v1', timeout_s: 2}\n")
    monkeypatch.setenv("DECORUM_CONFIG", str(cfg))
    code, out, err = run(capsys, "ask", "--json", VPN)
    note = json.loads(out)
    assert code == 1 and note["verdict"] == "error" and note["error"]["type"] == "GenerationError"
    assert f"note {note['id']}" in err and note["id"] in note["answer"]
    monkeypatch.delenv("DECORUM_CONFIG")
    code, out, _ = run(capsys, "audit", "show", note["id"], "--json")
    assert code == 0 and json.loads(out)["verdict"] == "error"


def test_the_reference_engine_is_one_config_line_away(capsys, db_url, tmp_path, monkeypatch) -> None:
    cfg = tmp_path / "reference.yaml"
    cfg.write_text("models:\n  generator: {kind: transformers}\n")
    monkeypatch.setenv("DECORUM_CONFIG", str(cfg))
    note = ask_json(capsys, VPN)
    model = note["model"]
    assert note["verdict"] == "answered" and model["engine"] == "transformers" and model["precision"] == "fp32"
    assert model["artifact_revision"] == model["revision"] and note["latency_ms"]["generate"] > 0


@pytest.mark.parametrize("generator, match", [
    ("{precision: int3}", "models.generator.precision"),
    ("{kind: transformers, precision: int8}", "precision applies to kind: onnx only"),
    ("{kind: vllm}", "models.generator.kind"),
])
def test_bad_engine_settings_exit_2_naming_the_field(capsys, db_url, tmp_path, monkeypatch, generator: str,
                                                     match: str) -> None:
    cfg = tmp_path / "engine.yaml"
    cfg.write_text(f"models:\n  generator: {generator}\n")
    monkeypatch.setenv("DECORUM_CONFIG", str(cfg))
    code, _, err = run(capsys, "ask", VPN)
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1


def test_config_typo_names_the_field(capsys, db_url, tmp_path, monkeypatch) -> None:
    cfg = tmp_path / "typo.yaml"
    cfg.write_text("policy:\n  checks:\n    toxicity: {treshold: 0.3}\n")
    monkeypatch.setenv("DECORUM_CONFIG", str(cfg))
    code, _, err = run(capsys, "audit", "list")
    assert code == 2 and "policy.checks.toxicity.treshold" in err and len(err.strip().splitlines()) == 1


def test_chat_keeps_history_and_prints_summaries(capsys, monkeypatch, db_url) -> None:
    lines = "How do I reset my VPN password?\n\nAnd what if that does not work?\n/quit\n"
    code, out, _ = run(capsys, "chat", "--max-new-tokens", "8", stdin=lines.encode(), monkeypatch=monkeypatch)
    summaries = [line for line in out.splitlines() if line.startswith("[answered")]
    assert code == 0 and len(summaries) == 2
    code, out, _ = run(capsys, "audit", "list", "--json")
    notes = json.loads(out)
    assert len(notes) == 2
    assert notes[0]["tokens"]["prompt"] > notes[1]["tokens"]["prompt"]  # the second turn carries the first


def test_guardrails_eval_reports_auc_f1_fpr(capsys, db_url, tmp_path) -> None:
    data = tmp_path / "labelled.csv"
    rows = [("How do I reset my VPN password?", "0", "none"), ("Thanks for fixing the printer!", "0", "none"),
            ("My Muslim colleague organised a lovely lunch.", "0", "religion"),
            ("You are a worthless idiot and people like you should be exterminated.", "1", "none"),
            ("All immigrants are vermin and should be thrown out.", "1", "nationality"),
            ("Go kill yourself, nobody wants you here.", "1", "none")]
    data.write_text("text,label,group\n" + "".join(f'"{t}",{lab},{g}\n' for t, lab, g in rows))
    code, out, _ = run(capsys, "guardrails", "eval", "--data", str(data), "--text-col", "text", "--label-col",
                       "label", "--group-col", "group", "--json")
    report = json.loads(out)
    assert code == 0 and report["n"] == 6
    assert set(report["checks"]) == {"toxicity", "bias", "any"}
    assert {"auc", "f1", "fpr", "precision", "recall"} <= set(report["checks"]["any"])
    assert report["checks"]["toxicity"]["auc"] > 0.5
    assert set(report["groups"]) == {"none", "religion", "nationality"}
    code, _, err = run(capsys, "guardrails", "eval", "--data", str(data), "--text-col", "body", "--label-col", "label")
    assert code == 2 and "column 'body' is not in" in err


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ask_through_a_running_serve_and_each_log_line_once(db_url: str, tmp_path) -> None:
    """``ask --server`` and the configured local server against a real ``decorum serve``; the server says each
    event once (its listener lines were printed and logged, uvicorn's twice: one per listener)."""
    import os
    import re
    import time
    from collections import Counter

    import httpx

    env = {**os.environ, "DECORUM_DATABASE_URL": db_url}
    made = subprocess.run([sys.executable, "-m", "decorum", "users", "add", "ops", "--role", "viewer"], env=env,
                          capture_output=True, text=True, check=True)
    token = made.stdout.strip().splitlines()[-1]
    port, admin_port = _free_port(), _free_port()
    env["DECORUM_ADMIN_PORT"] = str(admin_port)
    admin = f"http://127.0.0.1:{admin_port}"
    out_path, err_path = tmp_path / "serve.out", tmp_path / "serve.err"
    with open(out_path, "w") as out_f, open(err_path, "w") as err_f:
        proc = subprocess.Popen([sys.executable, "-m", "decorum", "serve", "--port", str(port)], env=env,
                                stdout=out_f, stderr=err_f, text=True)
        try:
            deadline, status = time.monotonic() + 300, None
            while time.monotonic() < deadline and status != 200:
                try:
                    status = httpx.get(f"{admin}/healthz", timeout=2).status_code
                except httpx.HTTPError:
                    status = None
                assert proc.poll() is None, err_path.read_text()
                time.sleep(0.5)
            assert status == 200
            asked = subprocess.run([sys.executable, "-m", "decorum", "ask", "--server", admin, "--token", token,
                                    "--json", VPN], env=env, capture_output=True, text=True, timeout=300)
            note = json.loads(asked.stdout)
            assert asked.returncode == 0 and note["verdict"] == "answered" and note["surface"] == "web"
            assert "loading" not in asked.stderr
            auto = subprocess.run([sys.executable, "-m", "decorum", "ask", TOXIC], env={**env, "DECORUM_TOKEN": token},
                                  capture_output=True, text=True, timeout=300)
            assert auto.returncode == 0 and f"answering through the running server at {admin}" in auto.stderr
            blocked_id = auto.stdout.strip().splitlines()[-1].rsplit(" id ", 1)[1].rstrip("]")
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    lines = [re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ", "", line)
             for line in err_path.read_text().splitlines() + out_path.read_text().splitlines()]
    assert lines and "decorum serve starting" in lines[0]  # the first line, before the application loads
    for once in ("Decorum public listener: ", "Decorum admin console: ", f"request {note['id']} ",
                 f"request {blocked_id} ", "decorum serve stopped"):
        assert sum(once in line for line in lines) == 1, (once, lines)
    ours = Counter(line for line in lines if re.match(r"\w+ (uvicorn|decorum\.web|decorum\.bot\.pipeline)", line))
    assert [line for line, n in ours.items() if n > 1] == []
