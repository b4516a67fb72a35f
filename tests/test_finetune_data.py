"""Fine-tuning data: reading, checks (duplicates, leakage, overlong, guardrail screen), split, metrics.

No model loads here except in the CLI tests, which stop at the data checks (no adapter is written).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from decorum import cli
from decorum.adapters.finetune.data import QAPair, check_data, read_pairs, split_eval
from decorum.adapters.finetune.metrics import key_fact_recall, key_facts, rouge_l, token_f1
from decorum.errors import UsageError

DOMAIN = Path(__file__).resolve().parents[1] / "src" / "decorum" / "adapters" / "finetune" / "domains" / "helpdesk"


def write(path: Path, rows: list[object] | str | bytes) -> Path:
    if isinstance(rows, bytes):
        path.write_bytes(rows)
    elif isinstance(rows, str):
        path.write_text(rows, encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def pair(q: str, a: str = "Use the Pelican portal.", line: int = 1, fact: str | None = None) -> QAPair:
    return QAPair(question=q, answer=a, line=line, fact=fact)


@pytest.mark.parametrize("content, message", [
    ("", "holds no question/answer pairs"),
    ("\n\n", "holds no question/answer pairs"),
    ('{"question": "a", "answer": "b"}\n{"question": "x"\n', ":2: not valid JSON"),
    ('["a", "b"]\n', ":1: expected a JSON object"),
    ('{"question": "a", "answer": 3}\n', ":1: 'question' and 'answer' must both be strings"),
    ('{"question": "  ", "answer": "b"}\n', ":1: empty question"),
    ('{"question": "a", "answer": ""}\n', ":1: empty answer"),
    ('{"question": "a", "answer": "b", "key_facts": "x"}\n', "'key_facts' must be a list of strings"),
    (b"\xff\xfe\x00binary", "not UTF-8 text"),
    ('{"question": "' + "x" * 9000 + '", "answer": "b"}\n', "over 8000 characters"),
])
def test_malformed_files_are_refused_with_the_line(tmp_path: Path, content: str | bytes, message: str) -> None:
    path = write(tmp_path / "d.jsonl", content)
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_pairs(path)


def test_duplicates_are_dropped_and_conflicts_refused() -> None:
    rows = [pair("How do I reset my VPN?", line=1), pair("how do I reset my VPN", line=2), pair("Payday?", "25th", 3)]
    report = check_data(rows, None, count_tokens=lambda p: 10, max_tokens=256, screen=None)
    assert [p.line for p in report.kept] == [1, 3] and report.duplicates == [2]
    assert report.summary()["leakage_checked"] is False
    with pytest.raises(UsageError, match="line 2: the question of line 1 again with a different answer"):
        check_data([pair("Payday?", "25th", 1), pair("payday", "1st", 2)], None, count_tokens=lambda p: 1,
                   max_tokens=9, screen=None)


def test_leakage_exact_and_near_duplicate_is_an_error() -> None:
    train = [pair("How do I reset my VPN password at home?", line=1), pair("When is payday?", "25th", 2)]
    with pytest.raises(UsageError, match=r"train/test leakage: 1 test question.*test line 7 = train line 2"):
        check_data(train, [pair("when is PAYDAY", "25th", 7)], count_tokens=lambda p: 1, max_tokens=9, screen=None)
    with pytest.raises(UsageError, match=r"test line 3 ~ train line 1"):
        check_data(train, [pair("how do I reset my VPN password at home please", line=3)],
                   count_tokens=lambda p: 1, max_tokens=9, screen=None)
    report = check_data(train, [pair("My remote-access passphrase expired, what now?", line=1)],
                        count_tokens=lambda p: 1, max_tokens=9, screen=None)
    assert report.leakage_checked and report.test_size == 1


def test_overlong_pairs_are_set_aside_and_listed() -> None:
    rows = [pair("short", line=1), pair("long " * 50, line=2)]
    report = check_data(rows, None, count_tokens=lambda p: len(p.question.split()), max_tokens=20, screen=None)
    assert [p.line for p in report.kept] == [1] and report.overlong == [2]


def screen_flagging(word: str):
    def screen(texts: list[str], stage: str) -> list[list[tuple[str, float, bool]]]:
        return [[("toxicity", 0.9 if word in t else 0.01, word not in t), ("bias", 0.02, True)] for t in texts]
    return screen


def test_flagged_examples_are_excluded_unless_kept() -> None:
    rows = [pair("How do I book leave?", line=1), pair("Why are those people so lazy?", line=2),
            pair("Who fixes laptops?", "Only lazy people call ext. 4357.", line=3)]
    report = check_data(rows, None, count_tokens=lambda p: 1, max_tokens=9, screen=screen_flagging("lazy"))
    assert [p.line for p in report.kept] == [1]
    assert {(f.line, f.field, f.check) for f in report.flagged} == {(2, "question", "toxicity"),
                                                                     (3, "answer", "toxicity")}
    summary = report.summary()
    assert summary["flagged"] == 2 and summary["flagged_kept"] is False
    kept = check_data(rows, None, count_tokens=lambda p: 1, max_tokens=9, screen=screen_flagging("lazy"),
                      keep_flagged=True)
    assert len(kept.kept) == 3 and kept.summary()["flagged_kept"] is True
    with pytest.raises(UsageError, match="no training pairs are left"):
        check_data([rows[1]], None, count_tokens=lambda p: 1, max_tokens=9, screen=screen_flagging("lazy"))


def test_eval_split_is_seeded_and_leaves_every_fact_trained() -> None:
    rows = [pair(f"q{f}-{i}", line=f * 10 + i, fact=f"f{f}") for f in range(20) for i in range(5)]
    a_train, a_eval = split_eval(rows, 0.1, seed=13)
    _, b_eval = split_eval(rows, 0.1, seed=13)
    assert [p.line for p in a_eval] == [p.line for p in b_eval] and len(a_eval) == 10
    assert {p.line for p in a_eval} != {p.line for p in split_eval(rows, 0.1, seed=14)[1]}
    assert {p.fact for p in a_train} == {p.fact for p in rows}
    assert not {p.line for p in a_train} & {p.line for p in a_eval}


def test_metrics() -> None:
    assert token_f1("Use the Pelican portal", "Use the Pelican portal.") == 1.0
    assert token_f1("nothing alike", "Use the Pelican portal") == 0.0
    assert 0 < token_f1("Reset it in the Pelican portal", "Use the Pelican portal") < 1
    assert rouge_l("w x y z", "w y z") == pytest.approx(2 * (3 / 4) * 1 / (3 / 4 + 1))
    assert rouge_l("z y x w", "w x y z") == pytest.approx(0.25)
    ref = "Call the Tech Bar on ext. 4357 within 10 minutes; see #it-help."
    assert {"Tech Bar", "4357", "10", "#it-help"} <= set(key_facts(ref))
    assert key_fact_recall("call ext. 4357", ref, ["ext. 4357", "10 minutes"]) == 0.5
    assert key_fact_recall("Tech Bar, 4357, 10 minutes, #it-help", ref) == 1.0


def test_the_shipped_domain_is_big_enough_and_does_not_leak() -> None:
    train = read_pairs(DOMAIN / "train.jsonl")
    test = read_pairs(DOMAIN / "test.jsonl")
    facts = [json.loads(line) for line in (DOMAIN / "facts.jsonl").read_text().splitlines() if line.strip()]
    assert len(train) >= 300 and len(test) >= 60
    assert {p.fact for p in test} <= {f["id"] for f in facts}
    for p in test:
        assert p.key_facts and all(k in p.answer for k in p.key_facts), p.line
    report = check_data(train, test, count_tokens=lambda p: 1, max_tokens=9, screen=None)
    assert report.leakage_checked and len(report.kept) == len(train)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("content, message", [
    ("", "holds no question/answer pairs"),
    ('{"question": "a"\n', "not valid JSON"),
    (b"\x00\x01\x02", "NUL bytes"),
])
def test_finetune_refuses_bad_data_in_one_line_and_writes_nothing(capsys, db_url, tmp_path: Path,
                                                                  content: str | bytes, message: str) -> None:
    data = write(tmp_path / "train.jsonl", content)
    code, out, err = run(capsys, "finetune", "--data", str(data), "--name", "x-lora")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("decorum: error: ") and message in err
    assert not (tmp_path / "data" / "models").exists()
    code, out, _ = run(capsys, "models", "list", "--json")
    assert code == 0 and "x-lora" not in {m["name"] for m in json.loads(out)}


def test_finetune_refuses_a_leaking_test_split(capsys, db_url, tmp_path: Path) -> None:
    rows = [{"question": f"How do I do thing number {i} at work?", "answer": f"Do it via portal {i}."}
            for i in range(6)]
    data = write(tmp_path / "train.jsonl", rows)
    test = write(tmp_path / "test.jsonl", rows[:1])
    code, _, err = run(capsys, "finetune", "--data", str(data), "--test", str(test), "--name", "x-lora")
    assert code == 2 and "train/test leakage: 1 test question(s)" in err and err.count("\n") == 1
    assert not (tmp_path / "data" / "models").exists()


@pytest.mark.parametrize("argv, message", [
    (["--name", "Bad Name"], "invalid model name"),
    (["--name", "x", "--lr", "0"], "--lr must be positive"),
    (["--name", "x", "--eval-fraction", "0.9"], "--eval-fraction"),
])
def test_finetune_usage_errors(capsys, tmp_path: Path, argv: list[str], message: str) -> None:
    data = write(tmp_path / "train.jsonl", [{"question": "q", "answer": "a"}])
    code, _, err = run(capsys, "finetune", "--data", str(data), *argv)
    assert code == 2 and message in err


def test_non_latin_text_and_line_separators_inside_strings(tmp_path: Path) -> None:
    rows = [{"question": "Как сбросить пароль VPN?", "answer": "Через портал Pelican."},
            {"question": "Где мой расчётный листок?", "answer": "В Tidewater."},
            {"question": "Line\u2028separator inside a question?", "answer": "Fine\u2029too."}]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    pairs = read_pairs(path)
    assert [p.line for p in pairs] == [1, 2, 3]
    report = check_data(pairs, [pair("給与明細はどこですか？", line=1)], count_tokens=lambda p: 1, max_tokens=9,
                        screen=None)
    assert len(report.kept) == 3  # different questions in other scripts are neither duplicates nor leaks
    assert token_f1("Через портал Pelican", "Через портал Pelican.") == 1.0
    assert key_fact_recall("it takes 100 days", "", ["10"]) == 0.0
