"""Names the protected groups a text mentions, for explanations (the decision's gate is :mod:`.groups`).

Only the group names leave this module: explanations go into the audit log, the text's words must not.
"""

from __future__ import annotations

from decorum.guardrails.groups import IMPLIED_CATEGORY, LEXICON, find_groups

# category -> terms: the named groups' terms by category (nationalities by demonym are in groups.NATIONALITIES).
GROUP_TERMS: dict[str, tuple[str, ...]] = {
    category: tuple(term for terms in groups.values() for term in terms) for category, groups in LEXICON.items()
}
# canonical group name -> the GROUP_TERMS terms that name it: what a bias explanation calls the group (one fixed
# name per group, never the spelling the message used).
GROUP_NAMES: dict[str, tuple[str, ...]] = {
    name: terms for groups in LEXICON.values() for name, terms in groups.items()
}


def describe_groups(text: str) -> str:
    """``"religion; nationality"``: the categories of the groups mentioned, or ``""``. Never the words."""
    found = {g.category for g in find_groups(text) if g.category != IMPLIED_CATEGORY}
    return "; ".join(category for category in LEXICON if category in found)


def describe_targets(text: str) -> str:
    """``"immigrants (nationality); Muslims (religion)"``: each group a text names, by its fixed name (groups.py)
    with its category, in order of first mention; ``""`` when none. Never the message's own words."""
    found: dict[str, str] = {}
    for g in find_groups(text):
        found.setdefault(g.name, g.category)
    return "; ".join(f"{name} ({category})" for name, category in found.items())
