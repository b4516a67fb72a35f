"""Every text Decorum shows to a person about itself (refusals, apologies, notices). No tracebacks."""

from __future__ import annotations

# What kind of check stopped a message, in plain words, and how to rephrase around it. Checks not named here
# (guardrails-ai validators, a site's own checks) get a sentence naming the check. Never the message itself.
READS_AS = {
    "toxicity": "toxic or insulting",
    "bias": "a stereotype about a group of people",
    "answer_bias": "a stereotype about a group of people (it picked out a person by their group)",
}
OTHER_KIND = {"empty_output": "came out empty"}
HOW_TO_REPHRASE = {
    "toxicity": "say it without insults, swearing or attacks on a person",
    "bias": "ask about the specific situation or person rather than what a whole group is like",
}


def refusal_kind(checks: list[str]) -> str:
    """``read as toxic or insulting``: what the failed checks screen for (the report step repeats it)."""
    names = list(dict.fromkeys(checks))
    read = list(dict.fromkeys(READS_AS[c] for c in names if c in READS_AS))
    parts = ["read as " + " and as ".join(read)] if read else []
    parts += [OTHER_KIND.get(c, f"did not pass our \u201c{c}\u201d check") for c in names if c not in READS_AS]
    return " and ".join(parts) if parts else "did not pass our checks"


def _how(checks: list[str]) -> str:
    hows = [HOW_TO_REPHRASE[c] for c in dict.fromkeys(checks) if c in HOW_TO_REPHRASE]
    others = [c for c in dict.fromkeys(checks) if c not in HOW_TO_REPHRASE]
    if others:
        hows.append("leave out what the " + ", ".join(f"\u201c{c}\u201d" for c in others)
                    + (" checks screen" if len(others) > 1 else " check screens") + " for")
    return "; ".join(hows) if hows else "ask in other words"


def refusal_input(checks: list[str], ref: str) -> str:
    return (f"I can't help with this request: it {refusal_kind(checks)}, so I didn't send it to the model. "
            f"To rephrase: {_how(checks)}. If this was a mistake, press \u201cThis was wrong\u201d to send it to "
            f"the reviewers, or give your workspace admin reference {ref}.")


def refusal_output(checks: list[str], ref: str) -> str:
    return (f"I drafted an answer, but the draft {refusal_kind(checks)}, so I won't show it. Try asking in other "
            "words, or more narrowly. If this was a mistake, press \u201cThis was wrong\u201d to send it to the "
            f"reviewers; reference {ref}.")


def not_sure(title: str, body: str) -> str:
    """A domain answer whose facts the knowledge base did not support: the closest entry, quoted whole."""
    return f"I'm not sure. The closest article says: \u201c{body}\u201d ({title})"


def not_sure_no_source() -> str:
    """A domain answer whose facts nothing supports, and no entry close enough to quote."""
    return ("I'm not sure, and no article of the knowledge base covers this question closely enough to quote. "
            "Please ask the helpdesk directly.")


def slack_sources(sources: list[tuple[str, str]]) -> str:
    """The context line under a cited answer: ``Source: Annual leave (hr-annual-leave v3)``; ``(label, ref)``
    pairs, the label already a Slack link where the entry has an address."""
    shown = " \u00b7 ".join(f"{label} ({ref})" for label, ref in sources)
    return ("Source: " if len(sources) == 1 else "Sources: ") + shown


def apology(ref: str) -> str:
    return (f"Sorry, something went wrong on my side and I couldn't answer. Please try again in a moment; "
            f"reference {ref}.")


def empty_question() -> str:
    return "The question is empty: type a question after the command."


def busy(ref: str | None = None) -> str:
    """A request refused before any work because Decorum is at capacity."""
    return ("Decorum is at capacity, please try again in a minute." + (f" Reference {ref}." if ref else ""))


def rate_limited(retry_after_s: float, ref: str | None = None) -> str:
    wait = max(1, round(retry_after_s))
    return (f"You're asking faster than I can answer: please wait about {wait} s and ask again."
            + (f" Reference {ref}." if ref else ""))


def busy_unfinished(ref: str) -> str:
    """A request that started but ran out of time (its deadline) or queue room before it was answered."""
    return (f"Sorry, Decorum is at capacity and couldn't finish your answer in time. Please try again in a minute; "
            f"reference {ref}.")


# --- Slack ------------------------------------------------------------------------------------------------

SLACK_SUGGESTED_PROMPTS = (
    ("Reset a password", "How do I reset my VPN password?"),
    ("What is logged?", "What do you log about my questions, and why?"),
    ("Share a file safely", "How do I share a large file with a colleague securely?"),
)


def slack_ai_notice() -> str:
    return ":robot_face: *AI-generated* answer: it can be wrong, so check anything important."


def slack_truncated(limit: int) -> str:
    return f"Your question was longer than {limit:,} characters; I only read the first {limit:,}."


def slack_continued(part: int, parts: int) -> str:
    return f"_Answer continues below (part {part} of {parts})._"


def slack_first_contact(home_url: str | None) -> str:
    where = f"<{home_url}|my App Home>" if home_url else "my App Home (click my name, then *Home*)"
    return (":wave: Hi! I'm *Decorum*, an AI assistant, not a person. Automated checks screen your questions and "
            "my answers, and each answer's transparency note is logged for audit (your Slack id only as a "
            f"pseudonym). The policy is in {where}. You'll see this note once.")


def slack_help(command: str = "/decorum") -> str:
    return ("*Decorum* answers questions, with a transparency note under every answer.\n"
            "• Mention me in a channel (`@Decorum how do I ...?`): I answer in the thread, and I follow that "
            "thread's replies without a new mention.\n"
            "• Send me a direct message, or open me from the AI assistant panel.\n"
            f"• `{command} ask <question>`: a private answer, only you see it.\n"
            f"• `{command} role`: the Decorum role you have here (auditors, editors and admins get one from "
            "the team's admin).\n"
            f"• `{command} prompts list|show|history|diff|publish|rollback|test|edit`: prompt templates "
            "(editors and publishers; also on this app's Home tab).\n"
            f"• `{command} policy show|history|set|test|publish|rollback`: guardrail thresholds and routing "
            "rules (admins change them; everyone with a role can read them).\n"
            f"• `{command} audit <reference>`: one audit record, by the reference under an answer or in a refusal "
            "(auditors and above).\n"
            f"• `{command} help`: this help.\n"
            "Under each answer: 👍 / 👎 tell the team how it did, and *Why this answer?* shows the whole note.")


def slack_role(role: str | None, permissions: list[str]) -> str:
    if role is None:
        return ("You have no Decorum role in this workspace: you can ask questions, and that is all. "
                "An admin gives roles by Slack user id (`access.slack_roles`).")
    return f"Your Decorum role here: *{role}*. It allows: {', '.join(f'`{p}`' for p in permissions)}."


def slack_refused(permission: str, role: str | None, reason: str) -> str:
    if role is None:
        return f"Only people with a Decorum role can do that (`{permission}`); yours: none. Ask an admin."
    return f"Not allowed: {reason}."


def slack_empty_mention() -> str:
    return "You mentioned me without a question. " + slack_help()


def slack_working() -> str:
    return "is thinking…"


def slack_streaming() -> str:
    return ":writing_hand: _Still writing… each sentence appears only after it has passed the guardrail checks._"


def slack_withdrawn() -> str:
    return (":shield: _I withdrew what I had written so far: part of the answer did not pass our checks. "
            "One moment…_")


def slack_command_working() -> str:
    return ":hourglass_flowing_sand: Working on your question…"


def slack_feedback_thanks(value: int) -> str:
    return f"Thanks, your {'👍' if value > 0 else '👎'} is recorded with this answer's transparency note."


def report_explainer(kind: str, retention_days: int) -> str:
    """The "This was wrong" step: what happens when the person sends the report (Slack modal, console)."""
    return (f"This message was stopped because it {kind}. If that was a mistake, send this report: it goes to the "
            "auditors' review queue with the check that stopped it and its score, under your pseudonym (never "
            "your name). An auditor decides whether the check was wrong, and reviewed reports help tune the "
            "checks.\n\nYour message text is *not* sent unless you tick the box below; if you do, it is kept "
            f"only for the reviewers and deleted after {retention_days} days.")


def report_keep_text(retention_days: int) -> str:
    """The opt-in checkbox's wording."""
    return f"Keep my message text for the reviewers (deleted after {retention_days} days)"


def report_filed(ref: str, *, text_kept: bool, text_wanted: bool, again: bool = False) -> str:
    if again:
        return (f"You already reported this refusal (reference {ref}); it is in the reviewers' queue. Nothing "
                "was changed.")
    if text_kept:
        kept = "Your message text is kept for the reviewers until the retention period ends."
    elif text_wanted:
        kept = ("Your message text was no longer available here, so only the check's result was sent; "
                "nothing of your text was kept.")
    else:
        kept = "Your message text was not kept: the reviewers see only which check stopped it and its score."
    return f"Thanks: your report on reference {ref} is in the reviewers' queue. {kept}"


def report_not_yours() -> str:
    return "Only the person this refusal was for can report it as wrong."


def report_not_refusal(ref: str) -> str:
    return f"Reference {ref} is not a refusal, so there is nothing to report as wrong."


def report_failed(ref: str) -> str:
    return f"Sorry, I couldn't file your report on reference {ref} just now. Please try again in a moment."


def report_stale() -> str:
    return "This form is out of date: press \u201cThis was wrong\u201d under the refusal again."


def slack_note_missing(ref: str) -> str:
    return f"I can't find a transparency note with reference {ref} in this workspace."


def slack_restarted_apology(ref: str) -> str:
    return (f"Sorry, I was restarted before I could answer your message, so it went unanswered. Please ask "
            f"again; reference {ref}.")


def slack_usage_problem(problem: str) -> str:
    return f"I can't answer that as sent: {problem}."


def slack_assistant_greeting() -> str:
    return ("Hi, I'm *Decorum*, an AI assistant. Ask me a question; every answer comes with a transparency note "
            "that says how it was produced. Pick a suggestion or type your own.")


def slack_policy_text() -> str:
    """The policy shown in App Home (the text the first-contact notice links to)."""
    return ("*You are talking to an AI system.* Decorum's answers are generated by a language model, not written "
            "by a person, and they can be wrong.\n\n"
            "*What is checked.* Each question and each answer passes automated toxicity and bias checks. A "
            "question that fails is refused without being sent to the model; an answer that fails is not shown.\n\n"
            "*What is logged.* For every request Decorum keeps a transparency note in a tamper-evident audit log: "
            "when, where (workspace, channel, thread), which strategy, prompt template version and model "
            "answered, the checks' scores and the outcome. Your Slack user id is stored only as a keyed "
            "pseudonym. The text of questions and answers is kept only where the retention policy allows it; "
            "the note keeps a fingerprint (hash and length) instead.\n\n"
            "*Feedback.* 👍 / 👎 under an answer is stored with its note, under your pseudonym.\n\n"
            "*Your choices.* You can stop using the assistant at any time. For questions about this policy, or "
            "to have a decision reviewed, contact your workspace admin with the answer's reference id.")


def slack_queued(ahead: int) -> str:
    """A question waiting for an answering slot (posted once it has waited a couple of seconds)."""
    place = ("you are next" if ahead <= 0 else "1 question ahead of yours" if ahead == 1
             else f"{ahead} questions ahead of yours")
    return (f":hourglass_flowing_sand: I'm busy right now, you are queued ({place}). "
            "I'll answer here as soon as it's your turn.")
