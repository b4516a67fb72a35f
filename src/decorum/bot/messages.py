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
