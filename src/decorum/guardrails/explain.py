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
