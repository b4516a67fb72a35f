"""``decorum compare`` classes every answer right, not sure or wrong, and answers the served strategies through the
request path (retrieval, grounding, the "I'm not sure" quote) without writing to the users' audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from decorum.adapters.base import GenerationRequest
from decorum.adapters.finetune.compare import DOMAINS_DIR, RAW, SERVED, STRATEGIES, compare, html_report, text_report
from decorum.bot.runtime import Runtime
from decorum.settings import Settings
from tests.fakes import FakeClassifier, FakeGenerator

FACTS = ("it-out-of-hours", "it-vpn-after-password", "it-mfa-setup")
NONSENSE = "Call the Lighthouse desk on ext. 9999 within 45 minutes."


def pairs(tmp_path: Path) -> dict[str, str]:
    """Three test questions (one per fact of ``FACTS``) in a file of their own; returns question -> reference."""
    rows = [json.loads(line) for line in (DOMAINS_DIR / "helpdesk" / "test.jsonl").read_text().splitlines()]
    chosen = [next(r for r in rows if r["fact"] == fact) for fact in FACTS]
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in chosen))
    return {r["question"]: r["answer"] for r in chosen}


def run_compare(settings: Settings, tmp_path: Path, reply) -> tuple[Runtime, dict]:
    rt = Runtime.open(settings, classifier=FakeClassifier({}), generator=FakeGenerator(reply))
    before = rt.audit.count()
    report = compare(rt, data=tmp_path / "test.jsonl", domain=None, knowledge=None, template=None,
                     strategies=list(STRATEGIES), facts=3, limit=None, max_new_tokens=32)
    assert rt.audit.count() == before  # the served answers' notes went to a throwaway log
    return rt, report


def test_reference_answers_are_right_on_every_strategy(settings: Settings, tmp_path: Path) -> None:
    references = pairs(tmp_path)

    def reply(req: GenerationRequest) -> str:
        return references.get(req.messages[-1]["content"], "Open Settings and choose Reset.")

    _, report = run_compare(settings, tmp_path, reply)
    for name in STRATEGIES:
        s = report["strategies"][name]
        assert (s["right"], s["not_sure"], s["wrong"]) == (3, 0, 0), name
        assert s["right_share"] == 1.0 and s["key_fact_recall"] == 1.0
    for name in SERVED:  # grounded in the entries retrieved: kept as the model said it
        assert report["strategies"][name]["grounding_actions"] == {"kept": 3, "regenerated": 0, "not_sure": 0,
                                                                   "none": 0}
    assert all("grounding_actions" not in report["strategies"][name] for name in RAW)
    assert report["default_route"] == {"strategy": "fine_tuned", "routed": {"fine_tuned": 3},
                                       "as_served": "auto_grounded"}
    assert report["retrieval"]["questions"] == 3 and report["retrieval"]["entries"] >= 60
    rows = report["answers"]
    assert len(rows) == 3 * len(STRATEGIES) and {r["class"] for r in rows} == {"right"}
    assert {r["fact"] for r in rows} == set(FACTS)


def test_a_wrong_number_is_wrong_raw_and_not_sure_as_served(settings: Settings, tmp_path: Path) -> None:
    pairs(tmp_path)
    _, report = run_compare(settings, tmp_path, NONSENSE)
    for name in RAW:
        s = report["strategies"][name]
        assert (s["right"], s["not_sure"], s["wrong"]) == (0, 0, 3), name
        assert s["wrong_share"] == 1.0
    for name in SERVED:  # regenerated with the entries, still ungrounded: the closest entry, quoted
        s = report["strategies"][name]
        assert (s["right"], s["not_sure"], s["wrong"]) == (0, 3, 0), name
        assert s["grounding_actions"] == {"kept": 0, "regenerated": 0, "not_sure": 3, "none": 0}
        assert s["guardrail_pass_rate"] == 1.0
    served = [r for r in report["answers"] if r["strategy"] in SERVED]
    assert all(r["answer"].startswith("I'm not sure. The closest article says: \u201c") for r in served)
    assert all(NONSENSE not in r["answer"] and r["verdict"] == "answered" for r in served)
    assert report["winner"]["fewest_wrong"] in SERVED

    text = text_report(report)
    assert "fine_tuned_grounded" in text and "default route: fine_tuned" in text and "0/0/3" in text
    html = html_report(report)
    assert "Answers: right, not sure, wrong" in html and "Default route: fine_tuned" in html


@pytest.mark.parametrize(("answer", "recall", "expected"), [
    ("I'm not sure. The closest article says: \u201cx\u201d (T)", 1.0, "not_sure"),
    ("I\u2019m not sure, ask the helpdesk.", 0.0, "not_sure"),
    ("Ring +31 10 740 9911 before 09:30.", 2 / 3, "right"),
    ("Ring +31 10 740 9911.", 0.5, "wrong"),
    ("Ring the on-call engineer.", 0.0, "wrong"),
    ("", 0.0, "wrong"),
])
def test_answer_class(answer: str, recall: float, expected: str) -> None:
    from decorum.adapters.finetune.metrics import answer_class

    assert answer_class(answer, recall) == expected
