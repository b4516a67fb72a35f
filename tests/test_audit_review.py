"""The audit review queue (``decorum.audit.review``): samples, marks, their audit records, the CSV.

Runs on SQLite and, with ``DECORUM_TEST_DATABASE_URL``, on PostgreSQL. ``seed_notes`` (also used by the
console's audit test) appends notes shaped like the pipeline's: Slack and web askers (pseudonyms), both
strategies, two template versions, every verdict, toxicity and bias scores on both stages.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from decorum.audit.log import SqlAuditLog
from decorum.audit.query import AuditFilter, count, search
from decorum.audit.review import (
    MAX_COMMENT,
    ReviewConflict,
    ReviewNotFound,
    draw_sample,
    export_reviews,
    mark,
    sample_items,
    samples,
)
from decorum.bot.note import new_id
from decorum.errors import UsageError
from decorum.store.tables import AuditReviewRow, FeedbackRow

THRESHOLDS = {"toxicity": 0.5, "bias": 0.6}
SCORER = "decorum-multilabel@3f2a9c1e"


def _check(rng: random.Random, check: str, chars: int, fail: bool) -> dict[str, Any]:
    threshold = THRESHOLDS[check]
    score = round(threshold + (1 - threshold) * rng.uniform(0.05, 0.95) if fail
                  else min(threshold - 0.001, rng.betavariate(0.7, 8.0)), 4)
    details = ({"toxicity": score, "insult": round(score * 0.6, 4), "threat": round(score * 0.1, 4)}
               if check == "toxicity" else {"bias": score})
    return {"check": check, "score": score, "threshold": threshold, "passed": not fail, "scorer": SCORER,
            "label": check, "span": [0, chars], "details": details,
            "explanation": f"{check} {'at or above' if fail else 'below'} the threshold {threshold}"}


def make_note(rng: random.Random, i: int, at: datetime, templates: dict[str, str]) -> dict[str, Any]:
    """One note as ``Pipeline`` writes it; ``templates`` maps ``name@version`` to the version's sha256."""
    ms = int(at.timestamp() * 1000)
    stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    note: dict[str, Any] = {"id": new_id(ms), "created_at": stamp,
                            "surface": "slack" if i % 3 else "web", "schema_version": 1, "pseudonym_key": "k1"}
    user = f"hmac:{rng.choice(['3f9a', 'b07c', '91de', '5e21']) * 8}"
    if note["surface"] == "slack":
        note["slack"] = {"team": "T0ACME001", "channel": rng.choice(["C0HELPDESK", "C0GENERAL"]),
                         "thread_ts": f"{ms // 1000}.{i:06d}", "user": user}
    else:
        note["user"] = user
    chars = rng.randrange(12, 400)
    note["request"] = {"hmac_sha256": f"{rng.getrandbits(256):064x}", "chars": chars, "truncated": False}
    note.update(route=None, template=None, model=None, tokens={"prompt": 0, "completion": 0},
                guardrails={"policy": "default@1", "input": [], "output": [], "action": "allow"})
    verdict = ("blocked_input", "answered", "blocked_output", "answered", "error", "answered", "blocked_input",
               "answered")[i % 8]
    guard, latency = note["guardrails"], {"input_checks": rng.randrange(8, 40)}
    if verdict == "blocked_input":
        failing = "bias" if i % 16 == 6 else "toxicity"
        guard["input"] = [_check(rng, c, chars, c == failing) for c in THRESHOLDS]
        guard["action"] = "refused"
        latency["total"] = latency["input_checks"] + 3
        note.update(verdict=verdict, latency_ms=latency,
                    response={"hmac_sha256": f"{rng.getrandbits(256):064x}", "chars": 212})
        return note
    guard["input"] = [_check(rng, c, chars, False) for c in THRESHOLDS]
    fine = i % 5 == 0
    ref = "helpdesk@1" if i < 30 else "helpdesk@2"
    name, version = ref.split("@")
    note["route"] = ({"strategy": "fine_tuned", "reason": "rule", "domain": "helpdesk", "rule": "vpn"} if fine
                     else {"strategy": "prompt_engineering", "reason": "default"})
    note["template"] = {"name": name, "version": int(version), "sha256": templates[ref], "variant": "standard"}
    note["model"] = {"backend": "local", "name": "smollm2-135m-instruct", "revision": "e" * 64,
                     "engine": "transformers" if fine else "onnx", "precision": "fp32" if fine else "int8",
                     "artifact_revision": "d" * 64,
                     **({"adapter": {"name": "helpdesk-lora", "version": 1, "sha256": "a" * 64}} if fine else {})}
    latency["route"] = rng.randrange(1, 9)
    if verdict == "error":
        guard["action"] = "error"
        latency["generate"] = 30000
        latency["total"] = sum(latency.values()) + 4
        note.update(verdict="error", error={"type": "GenerationError"}, latency_ms=latency,
                    response={"hmac_sha256": f"{rng.getrandbits(256):064x}", "chars": 118})
        return note
    completion = rng.randrange(20, 200)
    note["tokens"] = {"prompt": rng.randrange(80, 300), "completion": completion}
    note["generation"] = {"finish_reason": "stop", "input_truncated": False, "max_new_tokens": 256, "temperature": 0.0}
    latency["generate"] = completion * 12
    answer = rng.randrange(80, 900)
    if verdict == "blocked_output":
        guard["output"] = [_check(rng, c, answer, c == "toxicity") for c in THRESHOLDS]
        guard["action"] = "refused"
    else:
        if i % 16 == 3:  # the first answer failed; the safer prompt's passed
            guard["first_output"] = [_check(rng, c, answer, c == "toxicity") for c in THRESHOLDS]
            guard["action"] = "regenerated"
            note["template"]["variant"] = "safer"
        guard["output"] = [_check(rng, c, answer, False) for c in THRESHOLDS]
    latency["output_checks"] = rng.randrange(10, 50)
    latency["total"] = sum(latency.values()) + 5
    note.update(verdict=verdict, latency_ms=latency,
                response={"hmac_sha256": f"{rng.getrandbits(256):064x}",
                          "chars": answer if verdict == "answered" else 230})
    return note


def seed_notes(db: Any, audit: SqlAuditLog, n: int = 60, *, templates: dict[str, str] | None = None,
               feedback_every: int = 5, seed: int = 11) -> list[dict[str, Any]]:
    """Append ``n`` realistic notes over the last ~5 days (oldest first) and 👍/👎 on every few answers."""
    rng = random.Random(seed)
    templates = templates or {"helpdesk@1": "1" * 64, "helpdesk@2": "2" * 64}
    start = datetime.now(UTC) - timedelta(days=5)
    stored = []
    for i in range(n):
        note = make_note(rng, i, start + timedelta(minutes=i * (5 * 24 * 60 // max(n, 1))), templates)
        stored.append(audit.append(note))
    with db.session() as s:
        for k, note in enumerate(x for x in stored if x["verdict"] == "answered"):
            if k % feedback_every == 0:
                s.add(FeedbackRow(note_id=note["id"], user=f"hmac:{k:032x}", value=-1 if k % 2 else 1,
                                  created_at=note["created_at"]))
    return stored


@pytest.fixture
def audit(database) -> SqlAuditLog:
    return SqlAuditLog(database)


@pytest.fixture
def notes(database, audit: SqlAuditLog) -> list[dict[str, Any]]:
    return seed_notes(database, audit, 40)


def changes(audit: SqlAuditLog, kind: str) -> list[dict[str, Any]]:
    return [n for n in reversed(audit.list(limit=500, verdict="change")) if n["change"]["kind"] == kind]


def test_a_sample_holds_random_matching_answer_records_and_the_draw_is_audited(database, audit, notes) -> None:
    flt = AuditFilter(verdict="blocked_input,blocked_output")
    matching = {n["id"] for n in notes if n["verdict"] in ("blocked_input", "blocked_output")}
    sample = draw_sample(database, audit, flt, 5, by="ana", seed=3)
    items = sample_items(database, sample)
    assert len(items) == 5 and len({i["note_id"] for i in items}) == 5
    assert {i["note_id"] for i in items} <= matching
    assert [i["seq"] for i in items] == sorted(i["seq"] for i in items)  # chain order
    assert all(i["mark"] is None and i["reviewer"] is None for i in items)
    assert any(c["passed"] is False for c in items[0]["checks"])  # what the reviewer judges
    # the same seed draws the same records; another draws (almost surely) others
    again = draw_sample(database, audit, flt, 5, by="ana", seed=3)
    assert [i["note_id"] for i in sample_items(database, again)] == [i["note_id"] for i in items]
    (first, second) = changes(audit, "review.sample")
    assert first["change"] == {"kind": "review.sample", "actor": "ana", "sample": sample, "size": 5, "requested": 5,
                               "matched": len(matching), "filter": {"verdict": "blocked_input,blocked_output"}}
    assert first["surface"] == "console" and second["change"]["sample"] == again
    # more than match: all of them; change records (the draws above among them) are never drawn
    everything = draw_sample(database, audit, AuditFilter(), 200, by="ana")
    assert {i["note_id"] for i in sample_items(database, everything)} == {n["id"] for n in notes}
    assert audit.verify().ok


def test_draw_sample_bounds_and_empty_matches(database, audit, notes) -> None:
    for n in (0, 201, -1, True, 2.5):
        with pytest.raises(UsageError, match="1 to 200"):
            draw_sample(database, audit, AuditFilter(), n, by="ana")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="no answer records match"):
        draw_sample(database, audit, AuditFilter(verdict="change"), 5, by="ana")
    with pytest.raises(UsageError, match="no answer records match"):
        draw_sample(database, audit, AuditFilter(check="toxicity", min_score=1.0), 5, by="ana")
    with pytest.raises(ReviewNotFound):
        sample_items(database, "NOSUCHSAMPLE")
    with database.session() as s:
        assert s.execute(select(AuditReviewRow)).first() is None
    assert changes(audit, "review.sample") == []


def test_marks_are_stored_audited_without_the_comment_and_only_their_reviewer_changes_them(database, audit,
                                                                                           notes) -> None:
    sample = draw_sample(database, audit, AuditFilter(verdict="blocked_input"), 3, by="ana", seed=1)
    first, second, _ = (i["note_id"] for i in sample_items(database, sample))
    comment = "  Idiom ('kill the process'), not a threat: the toxicity score is a false positive.  "
    item = mark(database, audit, sample, first, "disagree", comment, by="ana")
    assert (item["mark"], item["reviewer"], item["comment"]) == ("disagree", "ana", comment.strip())
    assert item["marked_at"] and item["verdict"] == "blocked_input"
    (rec,) = changes(audit, "review.mark")
    assert rec["change"] == {"kind": "review.mark", "actor": "ana", "sample": sample, "note_id": first,
                             "mark": "disagree", "previous": None, "comment_chars": len(comment.strip()),
                             "comment_sha256": hashlib.sha256(comment.strip().encode()).hexdigest()}
    assert "Idiom" not in json.dumps(rec)  # the comment stays in the review table

    # the same reviewer may change their mark: the row is updated, the log keeps both
    item = mark(database, audit, sample, first, "agree", "", by="ana")
    assert (item["mark"], item["comment"]) == ("agree", "")
    assert [r["change"]["previous"] for r in changes(audit, "review.mark")] == [None, "disagree"]
    # another reviewer cannot overwrite it, but marks the records nobody marked
    with pytest.raises(ReviewConflict, match="marked agree by ana"):
        mark(database, audit, sample, first, "disagree", "no", by="bo")
    assert mark(database, audit, sample, second, "agree", None, by="bo")["reviewer"] == "bo"  # type: ignore[arg-type]

    with pytest.raises(ReviewNotFound, match="no review sample"):
        mark(database, audit, "NOSUCHSAMPLE", first, "agree", "", by="ana")
    outside = next(n["id"] for n in notes if n["verdict"] == "answered")
    with pytest.raises(ReviewNotFound, match="is not in review sample"):
        mark(database, audit, sample, outside, "agree", "", by="ana")
    with pytest.raises(UsageError, match='"mark" must be one of agree, disagree'):
        mark(database, audit, sample, first, "maybe", "", by="ana")
    with pytest.raises(UsageError, match="the limit is 2000"):
        mark(database, audit, sample, first, "agree", "x" * (MAX_COMMENT + 1), by="ana")
    with pytest.raises(UsageError, match='"comment" must be a string'):
        mark(database, audit, sample, first, "agree", 5, by="ana")  # type: ignore[arg-type]
    assert len(changes(audit, "review.mark")) == 3
    items = {i["note_id"]: i for i in sample_items(database, sample)}
    assert (items[first]["mark"], items[first]["reviewer"]) == ("agree", "ana")
    assert audit.verify().ok


def test_a_mark_the_log_refuses_is_undone(database, audit, notes, monkeypatch: pytest.MonkeyPatch) -> None:
    sample = draw_sample(database, audit, AuditFilter(verdict="answered"), 2, by="ana", seed=2)
    note_id = sample_items(database, sample)[0]["note_id"]

    def broken(note: dict[str, Any]) -> dict[str, Any]:
        raise UsageError("the audit log is read-only today")

    monkeypatch.setattr(audit, "append", broken)
    with pytest.raises(UsageError, match="read-only"):
        mark(database, audit, sample, note_id, "agree", "fine", by="ana")
    item = next(i for i in sample_items(database, sample) if i["note_id"] == note_id)
    assert (item["mark"], item["reviewer"], item["comment"], item["marked_at"]) == (None, None, "", None)
    with pytest.raises(UsageError, match="read-only"):
        draw_sample(database, audit, AuditFilter(), 3, by="ana")
    assert len(samples(database)) == 1  # the unrecorded draw left nothing behind


def test_export_reviews_and_the_samples_list(database, audit, notes) -> None:
    one = draw_sample(database, audit, AuditFilter(verdict="blocked_output"), 2, by="ana", seed=4)
    two = draw_sample(database, audit, AuditFilter(verdict="answered", template="helpdesk@2"), 3, by="ana", seed=4)
    a, b = (i["note_id"] for i in sample_items(database, one))
    mark(database, audit, one, a, "agree", "=HYPERLINK(\"http://x\")", by="ana")
    mark(database, audit, one, b, "disagree", "over-blocked, plain advice", by="bo")
    rows = list(csv.DictReader(io.StringIO(export_reviews(database, one))))
    assert [r["note_id"] for r in rows] == [a, b]
    assert rows[0]["comment"] == "'=HYPERLINK(\"http://x\")"  # not a spreadsheet formula
    assert (rows[1]["mark"], rows[1]["reviewer"], rows[1]["verdict"]) == ("disagree", "bo", "blocked_output")
    assert rows[1]["failed_checks"] == "output:toxicity" and rows[1]["seq"].isdigit()
    every = list(csv.DictReader(io.StringIO(export_reviews(database))))
    assert len(every) == 5 and {r["sample"] for r in every} == {one, two}
    assert all(r["template"] == "helpdesk@2" for r in every if r["sample"] == two)
    with pytest.raises(ReviewNotFound):
        export_reviews(database, "NOSUCHSAMPLE")
    listed = {x["sample"]: x for x in samples(database)}
    assert listed[one] | {"drawn_at": None} == {"sample": one, "drawn_at": None, "size": 2, "marked": 2, "agree": 1,
                                                 "disagree": 1, "reviewers": ["ana", "bo"]}
    assert (listed[two]["size"], listed[two]["marked"], listed[two]["reviewers"]) == (3, 0, [])


def test_seeded_notes_match_the_schema_and_the_filters(database, audit, notes) -> None:
    """The seed itself: every verdict, both stages' checks, two template versions, feedback on some answers."""
    assert {n["verdict"] for n in notes} == {"answered", "blocked_input", "blocked_output", "error"}
    assert all(count(database, AuditFilter(template=t)) > 0 for t in ("helpdesk@1", "helpdesk@2"))
    assert count(database, AuditFilter(feedback="any")) > 0
    page = search(database, AuditFilter(check="toxicity", min_score=0.5), limit=50)
    assert page.records and all(n["verdict"] in ("blocked_input", "blocked_output", "answered") for n in page.records)
    assert audit.verify().ok
