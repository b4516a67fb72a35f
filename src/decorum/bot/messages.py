"""Every text Decorum shows to a person about itself (refusals, apologies, notices). No tracebacks."""

from __future__ import annotations

CATEGORY = {
    "toxicity": "abusive or toxic language",
    "bias": "a demeaning generalisation about a group of people",
    "empty_output": "an empty answer",
}


def _categories(checks: list[str]) -> str:
    names = [CATEGORY.get(c, c) for c in dict.fromkeys(checks)]
    return " and ".join(names) if names else "content our policy does not allow"


def refusal_input(checks: list[str], ref: str) -> str:
    return (f"I can't help with this request because it appears to contain {_categories(checks)}. "
            f"If you think this is a mistake, rephrase your question or contact your workspace admin "
            f"with reference {ref}.")


def refusal_output(checks: list[str], ref: str) -> str:
    return (f"I drafted an answer, but it did not pass our checks for {_categories(checks)}, so I won't show "
            f"it. Try rephrasing your question; reference {ref}.")


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
