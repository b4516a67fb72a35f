"""Names the protected groups a text mentions, for explanations (never for the decision itself).

Only the group names leave this module: explanations go into the audit log, the text's words must not.
"""

from __future__ import annotations

import re

# attribute -> terms (singular and plural stems); used only to say *which* group a flagged text is about.
GROUP_TERMS: dict[str, tuple[str, ...]] = {
    "gender": ("women", "woman", "men", "man", "girls", "girl", "females", "female", "males", "male", "wives",
               "wife", "husbands", "mothers", "fathers", "ladies", "lady"),
    "gender identity": ("trans", "transgender", "nonbinary", "non-binary"),
    "race/ethnicity": ("black", "blacks", "white", "whites", "asian", "asians", "latino", "latinos", "latina",
                       "hispanic", "hispanics", "arab", "arabs", "african", "africans", "roma", "indigenous",
                       "native american", "native americans", "chinese", "mexican", "mexicans"),
    "religion": ("muslim", "muslims", "islam", "jew", "jews", "jewish", "christian", "christians", "hindu",
                 "hindus", "sikh", "sikhs", "buddhist", "buddhists", "atheist", "atheists", "catholic", "catholics"),
    "nationality": ("immigrant", "immigrants", "refugee", "refugees", "migrant", "migrants", "foreigner",
                    "foreigners", "indian", "indians", "polish", "russian", "russians", "americans", "germans",
                    "french", "irish", "nigerian", "nigerians"),
    "disability": ("disabled", "disability", "autistic", "blind", "deaf", "wheelchair", "mentally ill",
                   "dyslexic"),
    "age": ("old people", "elderly", "boomers", "boomer", "millennials", "teenagers", "young people", "seniors"),
    "sexual orientation": ("gay", "gays", "lesbian", "lesbians", "bisexual", "homosexual", "homosexuals",
                           "queer", "lgbt", "lgbtq"),
    "socioeconomic status": ("poor people", "the poor", "homeless", "working class", "welfare", "rich people"),
}

_PATTERNS = {attr: re.compile(r"\b(" + "|".join(re.escape(t) for t in terms) + r")\b", re.IGNORECASE)
             for attr, terms in GROUP_TERMS.items()}


def describe_groups(text: str) -> str:
    """``"religion; nationality"``: the groups mentioned, or ``""``. Never the words: explanations are stored."""
    return "; ".join(attr for attr, pattern in _PATTERNS.items() if pattern.search(text))


# canonical group name -> the GROUP_TERMS terms that name it: what a bias explanation calls the group (one fixed
# name per group, never the spelling the message used).
GROUP_NAMES: dict[str, tuple[str, ...]] = {
    "women": ("women", "woman", "girls", "girl", "females", "female", "wives", "wife", "mothers", "ladies", "lady"),
    "men": ("men", "man", "males", "male", "husbands", "fathers"),
    "trans people": ("trans", "transgender"), "non-binary people": ("nonbinary", "non-binary"),
    "Black people": ("black", "blacks"), "white people": ("white", "whites"), "Asian people": ("asian", "asians"),
    "Latino people": ("latino", "latinos", "latina"), "Hispanic people": ("hispanic", "hispanics"),
    "Arabs": ("arab", "arabs"), "Africans": ("african", "africans"), "Roma": ("roma",),
    "Indigenous people": ("indigenous", "native american", "native americans"), "Chinese people": ("chinese",),
    "Mexicans": ("mexican", "mexicans"),
    "Muslims": ("muslim", "muslims", "islam"), "Jews": ("jew", "jews", "jewish"), "Christians": ("christian",
                                                                                                 "christians"),
    "Catholics": ("catholic", "catholics"), "Hindus": ("hindu", "hindus"), "Sikhs": ("sikh", "sikhs"),
    "Buddhists": ("buddhist", "buddhists"), "atheists": ("atheist", "atheists"),
    "immigrants": ("immigrant", "immigrants", "migrant", "migrants"), "refugees": ("refugee", "refugees"),
    "foreigners": ("foreigner", "foreigners"), "Indians": ("indian", "indians"), "Polish people": ("polish",),
    "Russians": ("russian", "russians"), "Americans": ("americans",), "Germans": ("germans",),
    "French people": ("french",), "Irish people": ("irish",), "Nigerians": ("nigerian", "nigerians"),
    "disabled people": ("disabled", "disability", "wheelchair"), "autistic people": ("autistic",),
    "blind people": ("blind",), "deaf people": ("deaf",), "people with mental illness": ("mentally ill",),
    "dyslexic people": ("dyslexic",),
    "older people": ("old people", "elderly", "seniors"), "boomers": ("boomers", "boomer"),
    "millennials": ("millennials",), "young people": ("teenagers", "young people"),
    "gay people": ("gay", "gays", "homosexual", "homosexuals"), "lesbians": ("lesbian", "lesbians"),
    "bisexual people": ("bisexual",), "LGBTQ people": ("queer", "lgbt", "lgbtq"),
    "poor people": ("poor people", "the poor", "welfare"), "homeless people": ("homeless",),
    "working-class people": ("working class",), "rich people": ("rich people",),
}
_NAME_OF = {term: name for name, terms in GROUP_NAMES.items() for term in terms}
_ATTRIBUTE_OF = {term: attr for attr, terms in GROUP_TERMS.items() for term in terms}


def describe_targets(text: str) -> str:
    """``"immigrants (nationality); Muslims (religion)"``: each group a text names, by its fixed name (GROUP_NAMES)
    with its category, in order of first mention; ``""`` when none. Never the message's own words."""
    found: dict[str, str] = {}
    hits = sorted((m.start(), m.group(1).lower()) for p in _PATTERNS.values() for m in p.finditer(text))
    for _, term in hits:
        name = _NAME_OF.get(term)
        if name and name not in found:
            found[name] = _ATTRIBUTE_OF[term]
    return "; ".join(f"{name} ({attr})" for name, attr in found.items())
