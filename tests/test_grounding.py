"""The groundedness check: claims extracted per kind, normalised, and looked up in the sources (no model)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import decorum
from decorum.guardrails.grounding import KINDS, Claim, check, extract_claims

HELPDESK = Path(decorum.__file__).parent / "adapters" / "finetune" / "domains" / "helpdesk"


def _jsonl(name: str) -> list[dict[str, str]]:
    with (HELPDESK / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


FACTS = {row["id"]: row["fact"] for row in _jsonl("facts.jsonl")}


def kinds_values(text: str) -> list[tuple[str, str]]:
    return [(c.kind, c.value) for c in extract_claims(text)]


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("The laptop has 32 GB of RAM.", "number", "32 gb"),
        ("It is paid at 70% of salary.", "number", "70%"),
        ("You need at least 14 characters.", "number", "14"),
        ("from the 4th day you need a note", "number", "4th"),
        ("Meals are capped at €45 per day.", "amount", "EUR 45"),
        ("The budget is EUR 1,200 a year.", "amount", "EUR 1200"),
        ("A bonus of 1,500 euros is paid.", "amount", "EUR 1500"),
        ("Rooms in London cost £210.", "amount", "GBP 210"),
        ("Reviews happen in October.", "date", "october"),
        ("The board meets every Tuesday.", "date", "tuesday"),
        ("Leave must be taken by 31 March.", "date", "31 march"),
        ("Changes start on January 1.", "date", "1 january"),
        ("Salaries are paid on the 25th.", "date", "25th"),
        ("The cut-off is 2026-03-31.", "date", "2026-03-31"),
        ("Phone your manager before 09:30.", "time", "09:30"),
        ("Core hours from 10:00: meetings only then.", "time", "10:00"),
        ("Phone your manager before 9.30am.", "time", "09:30"),
        ("The desk closes at 5 pm.", "time", "17:00"),
        ("It opens at 9am.", "time", "09:00"),
        ("Wait 25 minutes for the sync.", "duration", "25 minutes"),
        ("Passwords expire every 180 days.", "duration", "180 days"),
        ("Repairs take 3 working days.", "duration", "3 days"),
        ("Sign a 12-month payback agreement.", "duration", "12 months"),
        ("It lasts two weeks.", "duration", "2 weeks"),
        ("Call ext. 4357 for help.", "extension", "ext 4357"),
        ("Call extension 4357 for help.", "extension", "ext 4357"),
        ("Call x4357 for help.", "extension", "ext 4357"),
        ("Ring +31 10 740 9911 at night.", "phone", "+31107409911"),
        ("Ring 0800 022 4455 any time.", "phone", "08000224455"),
        ("Forward it to phish@quillfeather.com today.", "email", "phish@quillfeather.com"),
        ("Connect to qf-west.tunnelgate.net and approve.", "url", "qf-west.tunnelgate.net"),
        ("Open https://enrol.quillfeather.com/start.", "url", "enrol.quillfeather.com/start"),
        ("Office phone addresses are held by Theilke America.", "name", "Theilke America"),
        ("Open the 'Unlock Me' page.", "name", "Unlock Me"),
        ('Print to the "QF-FollowMe" queue.', "name", "QF-FollowMe"),
        ("The standard laptop is a ThinkPad T14.", "name", "ThinkPad T14"),
        ("ThinkPad laptops are standard.", "name", "ThinkPad"),
        ("Ask in #it-help on Slack.", "name", "#it-help"),
        ("Log a ticket in the Pelican portal.", "name", "Pelican"),
    ],
)
def test_each_kind_is_extracted(text: str, kind: str, value: str) -> None:
    assert kind in KINDS
    assert (kind, value) in kinds_values(text)


def test_claim_spans_point_into_the_answer() -> None:
    text = "Call ext. 4357 before 5 pm about the Tunnelgate client; it takes 25 minutes."
    claims = extract_claims(text)
    assert [c.kind for c in claims] == ["extension", "time", "name", "duration"]
    assert [text[c.start : c.end] for c in claims] == ["ext. 4357", "5 pm", "Tunnelgate", "25 minutes"]
    assert claims == sorted(claims, key=lambda c: c.start)
    assert all(isinstance(c, Claim) for c in claims)


@pytest.mark.parametrize(
    "text",
    [
        "First, open the portal. Then sign in. Note that it can take a while.",
        "Yes. Hi! Please restart your laptop. OK, thanks.",
        "I can help with that on Slack.",
        "Restart your laptop and try again.",  # an ordinary word at the start of a sentence
        "Hi Anna, thanks for asking! :wave:",  # whom the answer greets
        "Hi <@U0123ABC>, happy to help <!here>.",  # Slack mentions
    ],
)
def test_ordinary_capitalised_words_are_not_claims(text: str) -> None:
    assert extract_claims(text) == []


def test_a_name_at_a_sentence_start_counts_when_it_is_clearly_a_name() -> None:
    assert ("name", "ThinkPad") in kinds_values("ThinkPad laptops are standard.")
    assert ("name", "CISO") in kinds_values("CISO approval is needed.")
    # written capitalised mid-sentence elsewhere: a name at the start too
    assert kinds_values("Tidewater holds it. Open Tidewater.").count(("name", "Tidewater")) == 2


def test_list_markers_are_not_claims() -> None:
    answer = "1. Open the portal.\n2) Sign in.\n3. Wait.\n- Done.\nStep 4: relax. (5) Go home."
    assert extract_claims(answer) == []
    numbered = "1. Wait 25 minutes.\n2. Call ext. 4357."
    assert kinds_values(numbered) == [("duration", "25 minutes"), ("extension", "ext 4357")]


def test_empty_answer_is_ok_with_zero_counts() -> None:
    for answer in ("", "   \n"):
        result = check(answer, [FACTS["it-service-desk"]])
        assert result.ok
        assert result.claims == ()
        assert set(result.supported) == set(result.unsupported) == set(KINDS)
        assert sum(result.supported.values()) == sum(result.unsupported.values()) == 0


def test_no_sources_leaves_every_claim_unsupported() -> None:
    result = check("Call ext. 4357 in the Pelican portal.", [])
    assert not result.ok
    assert result.unsupported["extension"] == result.unsupported["name"] == 1


# The two wrong answers of the 135M model that motivated the check, against the real knowledge base.


def test_invented_company_is_unsupported_by_the_facts() -> None:
    result = check("Office phone addresses are held by Theilke America.", list(FACTS.values()))
    assert not result.ok
    assert result.unsupported["name"] == 1
    assert [c.value for c in result.claims] == ["Theilke America"]


def test_invented_folder_is_unsupported_by_the_facts() -> None:
    answer = "Backup your files once a month in the 'Unlock Dissappearies' folder"
    for sources in (list(FACTS.values()), [FACTS["it-password-reset"]], [FACTS["it-backup"]]):
        result = check(answer, sources)
        assert not result.ok
        assert result.unsupported["name"] == 1
        assert [(c.kind, c.value) for c in result.claims] == [("name", "Unlock Dissappearies")]


def test_a_name_is_supported_word_by_word_whatever_the_case() -> None:
    fact = FACTS["it-password-reset"]
    assert check("Open 'Unlock Me' in the Pelican Portal.", [fact]).ok
    assert check("Use the unlock me page of the Pelican portal.", [fact]).ok
    assert not check("Open 'Unlock You' in the Pelican Portal.", [fact]).ok


def test_the_company_name_is_not_special() -> None:
    assert check("Quillfeather pays 6% into the Anchorage Pension plan.", [FACTS["hr-pension"]]).ok
    result = check("Ask the Quillfeather Service Desk.", [FACTS["hr-bike-scheme"]])
    assert result.unsupported["name"] == 1


@pytest.mark.parametrize(
    ("answer", "source"),
    [
        ("Call ext. 4357.", "call extension 4357"),
        ("Call extension 4357.", "call ext 4357"),
        ("Call x4357.", "reach it on ext. 4357"),
        ("Call 4357.", "reach it on ext. 4357"),
        ("Ring +31 10 740 9911.", "ring +31 10 740 9911"),
        ("Ring +31-10-740-9911.", "ring +31 10 740 9911"),
        ("Ring 010 740 9911.", "ring +31 10 740 9911"),
        ("Ring +31 (0)10 740 9911.", "ring +31 10 740 9911"),
        ("Lines start with +31 10 740.", "ring +31 10 740 9911"),
        ("Open from 7:30.", "open 07:30 to 19:00"),
        ("Open from 7.30 to 19.00.", "open 07:30 to 19:00"),
        ("Open until 7pm.", "open 07:30 to 19:00"),
        ("Open until 7 p.m.", "open 07:30 to 19:00"),
        ("It opens at 9am.", "open 09:00 to 17:00"),
        ("It closes at 5 pm.", "open 09:00 to 17:00"),
        ("Phone before 9:30.", "phone your manager before 09:30"),
        ("It costs €1,200.", "a €1,200 yearly budget"),
        ("It costs 1200 euros.", "a €1,200 yearly budget"),
        ("Wait 25 minutes.", "wait 25 min for the sync"),
        ("Wait 25 mins.", "wait 25 minutes for the sync"),
        ("Borrow it for 14 days.", "lent for up to 2 weeks"),
        ("Repairs take 3 days.", "most repairs take 3 working days"),
        ("You can carry over 5 days.", "carry over up to 5 unused leave days"),
        ("Available Monday to Friday.", "open on weekdays"),
        ("Salaries arrive on the 24th.", "paid on the 24th of each month"),
        ("Enrolment ends on 21 November.", "runs from 1 to 21 November"),
        ("Enrolment starts on November 1st.", "runs from 1 to 21 November"),
    ],
)
def test_normalised_forms_are_supported(answer: str, source: str) -> None:
    result = check(answer, [source])
    assert result.ok, result.claims
    assert sum(result.supported.values()) >= 1


@pytest.mark.parametrize(
    ("answer", "source", "kind"),
    [
        ("Call ext. 4358.", "call ext. 4357", "extension"),
        ("Ring +31 10 740 9912.", "ring +31 10 740 9911", "phone"),
        ("Open from 08:30.", "open 07:30 to 19:00", "time"),
        ("Open until 6pm.", "open 07:30 to 19:00", "time"),
        ("It costs £1,200.", "a €1,200 yearly budget", "amount"),
        ("Wait 25 hours.", "wait 25 minutes for the sync", "duration"),
        ("Mailboxes hold 50 MB.", "mailboxes hold 50 GB", "number"),
        ("Salaries arrive on the 25th.", "paid on the 24th of each month", "date"),
        ("The board meets every Monday.", "the board meets every Tuesday", "date"),
        ("Connect to qf-east.tunnelgate.net.", "connect to qf-west.tunnelgate.net", "url"),
        ("Write to hr@quillfeather.com.", "forward it to phish@quillfeather.com", "email"),
        ("Ask in #help-desk.", "ask in #it-help", "name"),
    ],
)
def test_a_different_value_is_unsupported(answer: str, source: str, kind: str) -> None:
    result = check(answer, [source])
    assert not result.ok
    assert result.unsupported[kind] == 1


def test_the_question_licenses_what_the_user_said() -> None:
    answer = "Your X1 laptop can be repaired at the Tech Bar."
    source = FACTS["it-laptop-repair"]
    assert check(answer, [source]).unsupported["name"] == 1
    licensed = check(answer, [source], question="my laptop X1 is broken, where can I get it fixed?")
    assert licensed.ok
    assert licensed.supported["name"] == 2


@pytest.mark.parametrize(
    ("fact", "answer"),
    [
        ("it-service-desk", "You can reach the IT Service Desk from 7:30am until 7pm, Monday to Friday. Call "
                            "extension 4357, post in #it-help, or raise a ticket through the Pelican Portal."),
        ("it-out-of-hours", "For a P1 incident, call the on-call engineer: 010 740 9911."),
        ("it-vpn-setup", "1. Open the Pelican portal and go to the Toolshed catalogue.\n2. Install Tunnelgate.\n"
                         "3. Connect to qf-west.tunnelgate.net.\n4. Approve the prompt in Gatekeeper."),
        ("it-laptop-standard", "You get a ThinkPad T14 with 32GB of RAM, replaced every four years. Developers "
                               "can ask for the 64 GB version."),
        ("hr-hotels", "Hotels are capped at 160 euros a night (210 euros in London). Book via Skybridge Travel."),
        ("hr-benefits-window", "Benefits enrolment is open from 1 November to 21 November in Tidewater, and "
                               "changes start on January 1."),
        ("hr-overtime", "Overtime is compensated as time off in lieu: 1.5 hours for each extra hour, within "
                        "10 weeks."),
        ("hr-payslips", "Payslips are in Tidewater under My Pay on the 21st of the month. Annual tax statements "
                        "are posted by January 31."),
        ("hr-eap", "Use the Lighthouse line: 0800 022 4455, available 24/7, up to six sessions per issue."),
        ("hr-working-hours", "Core hours run from 10am to 3pm; a full-time week is 38 hours."),
        ("it-phishing-report", "Hi there! Report the phishing email with the Report Phish button in Outlook, or "
                               "forward it to phish@quillfeather.com. Security replies within half an hour."),
    ],
)
def test_grounded_paraphrases_are_ok(fact: str, answer: str) -> None:
    result = check(answer, [FACTS[fact]])
    assert result.ok, [c for c in result.claims]
    assert sum(result.supported.values()) >= 1


@pytest.mark.parametrize(
    ("fact", "answer"),
    [
        ("it-service-desk", "The IT Service Desk is open 08:00 to 18:00; call ext. 4358."),
        ("it-service-desk", "Ask in #help-desk on Slack or open a ticket in ServiceNow."),
        ("it-password-reset", "Reset your password at reset.quillfeather.com; passwords expire every 90 days."),
        ("it-laptop-standard", "The standard laptop is a Dell XPS 13 with 16 GB RAM."),
        ("hr-payday", "Salaries are paid on the 25th of each month."),
        ("hr-annual-leave", "Full-time staff get twenty-five days of annual leave."),
        ("it-updates", "Updates install on the first Tuesday of each month at 9pm."),
    ],
)
def test_wrong_answers_are_flagged(fact: str, answer: str) -> None:
    assert not check(answer, [FACTS[fact]]).ok


def test_reference_answers_pass_against_their_own_fact_and_fail_against_another() -> None:
    rows = _jsonl("test.jsonl")
    rng = random.Random(7)
    own = [check(row["answer"], [FACTS[row["fact"]]], question=row["question"]).ok for row in rows]
    other = [
        check(row["answer"], [FACTS[rng.choice([i for i in FACTS if i != row["fact"]])]]) for row in rows
    ]
    assert sum(own) >= 0.95 * len(rows)
    stating = [g for g in other if g.claims]
    assert sum(not g.ok for g in stating) >= 0.8 * len(stating)


def test_as_note_holds_kinds_and_counts_only() -> None:
    answer = (
        "Call ext. 4357 at 07:30 or +31 10 740 9911, mail phish@quillfeather.com, visit qf-west.tunnelgate.net, "
        "pay €45 on 31 March, wait 25 minutes, ask Theilke America for 32 GB in the 'Unlock Dissappearies' folder."
    )
    result = check(answer, [FACTS["it-service-desk"]])
    sources = [{"id": "it-service-desk"}]
    note = result.as_note(sources)
    assert set(note) == {"supported", "unsupported", "sources", "method"}
    assert note["method"] == "claims-v1"
    assert note["sources"] == sources
    assert note["supported"] == result.supported
    assert note["unsupported"] == result.unsupported
    assert {c.kind for c in result.claims} == set(KINDS)  # every kind, so every kind's text is looked for
    dumped = json.dumps(note, ensure_ascii=False).lower()
    for claim in result.claims:
        assert claim.value.lower() not in dumped
        assert answer[claim.start : claim.end].lower() not in dumped
    assert all(isinstance(v, int) for counts in (note["supported"], note["unsupported"]) for v in counts.values())


def test_a_huge_answer_completes() -> None:
    facts = list(FACTS.values())
    answer = " ".join(facts) * 60
    assert len(answer) > 200_000
    result = check(answer[:200_000], facts)
    assert len(result.claims) > 1000
    # every claim is either supported or not
    assert sum(result.supported.values()) + sum(result.unsupported.values()) == len(result.claims)
    # pathological inputs complete too
    quoted = check("Open the 'Unlock Me' page. " * 8_000, facts)
    assert quoted.supported["name"] == 8_000
    for text in ("1" * 200_000, "A " * 100_000, "'A" * 100_000, "a.b" * 70_000, "-1 " * 70_000, "\n" * 200_000):
        check(text, facts[:3])
