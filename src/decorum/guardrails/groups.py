"""Group detection: which identity groups a text names or implies, by fixed names (never the text's words).

A stereotyping or demeaning generalisation needs a group. The bias check therefore asks this module first and
scores only the parts of a text that name one (``Check`` results carry the names in ``groups``); a sentence
about a dice roll or a laptop that will not boot gets no bias verdict at all. Toxicity is not gated: a threat
needs no group.

Three kinds of mention count:

* a group noun or adjective that is about people on its own ("Muslims", "immigrants", "gay", "autistic");
* a word that is about people only before a person noun ("black people", "old men", "poor families"; "a black
  screen" and "old laptops" are not mentions);
* a phrase that points at a group without naming it ("people like you", "their kind", "those people"): the
  group is then ``an unnamed group`` (category ``implied``).

Example::

    [m.name for m in find_groups("Why are muslim women like that?")]   # ['Muslims', 'women']
    group_names("My laptop won't boot")                                # ()
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# category -> fixed group name -> the terms that name it (lower case; matched as whole words, plural "s" added
# where a term has none). Categories follow the unintended-bias literature's identity attributes.
LEXICON: dict[str, dict[str, tuple[str, ...]]] = {
    "gender": {
        "women": ("women", "woman", "girls", "girl", "females", "female", "wives", "mothers", "ladies", "lady",
                  "moms", "mums", "daughters", "sisters", "grandmothers", "feminists", "wife", "mother", "mom",
                  "mum", "sister", "daughter", "aunt", "aunts", "grandma", "grandmother", "girlfriend", "niece",
                  "nieces", "businesswoman", "businesswomen"),
        "men": ("men", "man", "males", "male", "husbands", "fathers", "boys", "boy", "dads", "sons", "brothers",
                "grandfathers", "husband", "father", "dad", "brother", "son", "uncle", "uncles", "grandpa",
                "grandfather", "boyfriend", "nephew", "nephews", "businessman", "businessmen"),
    },
    "gender identity": {
        "trans people": ("trans", "transgender", "transgenders", "transsexual", "transsexuals", "trans women",
                         "trans men", "transwomen", "transmen"),
        "non-binary people": ("nonbinary", "non-binary", "enby", "enbies", "genderqueer"),
    },
    "race/ethnicity": {
        "Black people": ("blacks", "african american", "african americans", "african-american",
                         "african-americans"),
        "white people": ("whites", "caucasian", "caucasians"),
        "Asian people": ("asian", "asians", "east asian", "east asians", "south asian", "south asians"),
        "Latino people": ("latino", "latinos", "latina", "latinas", "latinx", "hispanic", "hispanics"),
        "Arabs": ("arab", "arabs", "middle eastern", "middle easterners"),
        "Africans": ("african", "africans"),
        "Europeans": ("european", "europeans"),
        "Roma": ("roma", "romani", "gypsy", "gypsies", "gipsies"),
        "Indigenous people": ("indigenous", "native american", "native americans", "aboriginal", "aboriginals",
                              "aborigines", "first nations", "inuit", "natives"),
        "people of colour": ("people of colour", "people of color", "poc", "bipoc", "non-white", "nonwhite",
                             "non-whites"),
    },
    "religion": {
        "Jews": ("jew", "jews", "jewish", "judaism"),
        "Muslims": ("muslim", "muslims", "islam", "islamic", "moslem", "moslems"),
        "Christians": ("christian", "christians", "evangelical", "evangelicals", "protestant", "protestants",
                       "methodist", "methodists", "lutheran", "lutherans", "anglican", "anglicans", "presbyterian",
                       "presbyterians", "baptist", "baptists", "quaker", "quakers", "mennonite", "mennonites",
                       "amish", "orthodox christians", "jehovah's witnesses"),
        "Catholics": ("catholic", "catholics"),
        "Hindus": ("hindu", "hindus"),
        "Sikhs": ("sikh", "sikhs"),
        "Buddhists": ("buddhist", "buddhists"),
        "atheists": ("atheist", "atheists"),
        "Mormons": ("mormon", "mormons"),
        "Jains": ("jain", "jains"),
        "Taoists": ("taoist", "taoists"),
        "Pagans": ("pagan", "pagans", "wiccan", "wiccans"),
    },
    "nationality": {
        "immigrants": ("immigrant", "immigrants", "migrant", "migrants", "illegals", "illegal aliens",
                       "emigrants"),
        "refugees": ("refugee", "refugees", "asylum seeker", "asylum seekers"),
        "foreigners": ("foreigner", "foreigners", "expats"),
    },
    "disability": {
        "disabled people": ("disabled", "disability", "disabilities", "handicapped", "cripple", "cripples",
                            "wheelchair-using", "wheelchair-bound", "wheelchair", "wheelchair users", "paraplegic",
                            "paraplegics", "down syndrome", "paralyzed", "paralysed"),
        "autistic people": ("autistic", "autism", "autists", "asperger", "aspergers"),
        "blind people": ("blind people", "the blind"),
        "deaf people": ("deaf",),
        "people with mental illness": ("mentally ill", "mental illness", "schizophrenic", "schizophrenics",
                                       "bipolar people", "psychotics"),
        "dyslexic people": ("dyslexic", "dyslexics"),
        "people with a health condition": ("schizophrenia", "adhd", "depression", "bipolar", "stutter", "amputee",
                                           "anxiety", "amputees", "dementia", "epilepsy", "epileptic", "hiv"),
        "able-bodied people": ("able-bodied", "sighted", "neurotypical", "neurodivergent"),
    },
    "age": {
        "older people": ("elderly", "seniors", "pensioners", "retirees", "retiree", "old folks", "oaps",
                         "middle-aged", "middle aged", "grandparents"),
        "boomers": ("boomer", "boomers", "baby boomers"),
        "millennials": ("millennial", "millennials", "millenial", "millenials"),
        "Gen Z": ("gen z", "zoomers", "zoomer"),
        "Gen X": ("gen x",),
        "young people": ("teenagers", "teens", "teenager", "youngsters", "youths"),
    },
    "sexual orientation": {
        "gay people": ("gay", "gays", "homosexual", "homosexuals", "homo", "homos"),
        "lesbians": ("lesbian", "lesbians"),
        "bisexual people": ("bisexual", "bisexuals", "bi people"),
        "LGBTQ people": ("queer", "queers", "lgbt", "lgbtq", "lgbtq+", "lgbtqia", "asexual", "asexuals",
                         "pansexual"),
        "straight people": ("heterosexual", "heterosexuals", "straights"),
        "same-sex couples": ("same-sex", "same sex"),
    },
    "physical appearance": {
        "people judged by their looks": ("overweight", "obese", "blondes", "redheads", "fat people",
                                         "ugly people", "short people"),
    },
    "socioeconomic status": {
        "poor people": ("the poor", "benefits claimants", "people on benefits", "people on welfare",
                        "chavs", "rednecks", "hillbillies", "trailer trash"),
        "homeless people": ("homeless", "the homeless", "rough sleepers"),
        "working-class people": ("working class", "working-class", "blue collar", "blue-collar", "low-income",
                                 "low income", "unemployed", "council estate", "council estates", "trailer park",
                                 "trailer-park", "the projects", "poor homes"),
        "rich people": ("the rich", "billionaires", "millionaires", "the wealthy"),
    },
}

# Words that are about people only before a person noun ("black people", "old men"), with the group they name.
QUALIFIERS: dict[str, tuple[str, str]] = {
    "black": ("race/ethnicity", "Black people"), "white": ("race/ethnicity", "white people"),
    "brown": ("race/ethnicity", "people of colour"), "native": ("race/ethnicity", "Indigenous people"),
    "old": ("age", "older people"), "older": ("age", "older people"), "elder": ("age", "older people"),
    "young": ("age", "young people"), "younger": ("age", "young people"),
    "poor": ("socioeconomic status", "poor people"), "rich": ("socioeconomic status", "rich people"),
    "wealthy": ("socioeconomic status", "rich people"), "straight": ("sexual orientation", "straight people"),
    "blind": ("disability", "blind people"), "bi": ("sexual orientation", "bisexual people"),
    "teenage": ("age", "young people"), "fat": ("physical appearance", "people judged by their looks"),
    "skinny": ("physical appearance", "people judged by their looks"),
    "ugly": ("physical appearance", "people judged by their looks"),
    "beautiful": ("physical appearance", "people judged by their looks"),
}
PERSON_NOUNS: tuple[str, ...] = (
    "people", "persons", "person", "folks", "folk", "men", "man", "women", "woman", "guys", "guy", "girls", "girl",
    "boys", "boy", "kids", "kid", "children", "families", "family", "students", "student", "workers", "worker",
    "employees", "employee", "colleagues", "colleague", "coworkers", "coworker", "neighbours", "neighbors",
    "neighbour", "neighbor", "community", "communities", "americans", "voters", "drivers", "driver", "parents",
    "mothers", "fathers", "ladies", "lady", "gentlemen", "gentleman", "population", "populations", "citizens",
    "residents", "applicants", "candidates", "customers", "patients", "users", "ones", "one", "teenager",
    "teenagers", "couple", "couples", "friend", "friends", "cousin", "cousins", "neighbourhoods", "neighborhoods",
    "areas", "households", "shopkeeper", "shopkeepers", "builder", "builders", "waiter", "waiters", "tourists",
    "tourist", "nurse", "nurses", "doctor", "doctors", "engineer", "engineers", "teacher", "teachers",
    "manager", "managers", "boss", "bosses", "staff", "tradespeople", "tradesman", "tradesmen", "passenger",
    "passengers", "landlord", "landlords", "tenant", "tenants", "lawyer", "lawyers", "cop", "cops", "officer",
    "officers", "athletes", "athlete", "actor", "actors", "guests", "guest", "hire", "hires", "interns", "intern",
    "candidate", "applicant", "resident", "citizen", "voter", "customer", "patient", "user", "parent",
    "receptionist", "receptionists", "homes",
)

# Nationalities: demonym -> country; the group is named "<Demonym>s" or "<Demonym> people".
NATIONALITIES: dict[str, str] = {
    "afghan": "afghanistan", "albanian": "albania", "algerian": "algeria", "american": "america",
    "argentinian": "argentina", "armenian": "armenia", "australian": "australia", "austrian": "austria",
    "bangladeshi": "bangladesh", "belgian": "belgium", "bolivian": "bolivia", "bosnian": "bosnia",
    "brazilian": "brazil", "british": "britain", "brit": "britain", "bulgarian": "bulgaria",
    "cambodian": "cambodia", "canadian": "canada", "chilean": "chile", "chinese": "china",
    "colombian": "colombia", "congolese": "congo", "croatian": "croatia", "cuban": "cuba", "czech": "czechia",
    "danish": "denmark", "dominican": "dominican republic", "dutch": "netherlands", "ecuadorian": "ecuador",
    "egyptian": "egypt", "english": "england", "eritrean": "eritrea", "ethiopian": "ethiopia",
    "filipino": "philippines", "filipina": "philippines", "finnish": "finland", "french": "france",
    "german": "germany", "ghanaian": "ghana", "greek": "greece", "guatemalan": "guatemala", "haitian": "haiti",
    "honduran": "honduras", "hungarian": "hungary", "indian": "india", "indonesian": "indonesia",
    "iranian": "iran", "iraqi": "iraq", "irish": "ireland", "israeli": "israel", "italian": "italy",
    "jamaican": "jamaica", "japanese": "japan", "jordanian": "jordan", "kenyan": "kenya", "korean": "korea",
    "kurdish": "kurdistan", "kurd": "kurdistan", "lebanese": "lebanon", "libyan": "libya",
    "lithuanian": "lithuania", "malaysian": "malaysia", "mexican": "mexico", "moroccan": "morocco",
    "nepali": "nepal", "nigerian": "nigeria", "norwegian": "norway", "pakistani": "pakistan",
    "palestinian": "palestine", "peruvian": "peru", "polish": "poland", "pole": "poland",
    "portuguese": "portugal", "romanian": "romania", "russian": "russia", "rwandan": "rwanda",
    "salvadoran": "el salvador", "saudi": "saudi arabia", "scottish": "scotland", "scot": "scotland",
    "serbian": "serbia", "somali": "somalia", "spanish": "spain", "sri lankan": "sri lanka",
    "sudanese": "sudan", "swedish": "sweden", "swiss": "switzerland", "syrian": "syria",
    "taiwanese": "taiwan", "thai": "thailand", "turkish": "turkey", "turk": "turkey", "ukrainian": "ukraine",
    "venezuelan": "venezuela", "vietnamese": "vietnam", "welsh": "wales", "yemeni": "yemen",
    "zimbabwean": "zimbabwe", "dane": "denmark", "icelandic": "iceland", "swede": "sweden", "finn": "finland",
    "latvian": "latvia", "estonian": "estonia", "slovak": "slovakia", "slovenian": "slovenia",
    "tunisian": "tunisia", "senegalese": "senegal", "malian": "mali", "ugandan": "uganda",
    "tanzanian": "tanzania", "south african": "south africa", "new zealander": "new zealand",
    "cameroonian": "cameroon", "cape verdean": "cape verde", "sierra leonean": "sierra leone",
    "guinean": "guinea", "crimean": "crimea", "chechen": "chechnya", "bengali": "bangladesh",
}
# Demonyms that are also languages ("in French", "translate to German"): they name a group only in the plural
# ("Germans"), before a person noun ("French people") or as "the French are ...".
LANGUAGES = frozenset("""english french spanish german chinese japanese italian portuguese russian korean dutch
polish turkish greek thai vietnamese swedish danish finnish norwegian hungarian czech romanian ukrainian
""".split())
_AS_GROUP_AFTER = re.compile(r"\s+(?:are|were|is|was|have|had|always|never|all|can|cannot|can't|don't|do|will|"
                             r"won't|should|shouldn't|seem|just|really|think|love|hate|need)\b", re.IGNORECASE)
_THE_BEFORE = re.compile(r"\bthe\s+$", re.IGNORECASE)
# Countries whose people are named as a group: "people from Mexico", "those from Nigeria".
_FROM = r"(?:people|folks|those|anyone|everyone|immigrants|migrants|workers|men|women|guys)\s+from\s+"

# Phrases that point at a group without naming it.
IMPLIED: tuple[str, ...] = (
    r"(?:people|folks|ones)\s+like\s+(?:you|them|that|those|him|her|these)",
    r"(?:your|their|his|her|that|this)\s+(?:kind|sort|type|lot)(?!\s+(?:of|regards|words|offer|help))",
    r"(?:those|these|you|them|such)\s+people", r"the\s+likes\s+of\s+(?:you|them|those)",
    r"that\s+lot", r"you\s+lot",
)
IMPLIED_NAME = "an unnamed group"
IMPLIED_CATEGORY = "implied"


@dataclass(frozen=True, slots=True)
class GroupMention:
    """One group a text names: its fixed name, its category and where (character offsets; never the words)."""

    name: str
    category: str
    start: int
    end: int


_NATIONALITY_NAMES = {"brit": "British people", "pole": "Poles", "scot": "Scottish people", "kurd": "Kurds",
                      "turk": "Turkish people", "thai": "Thai people", "swiss": "Swiss people"}


def _nationality_name(demonym: str) -> str:
    """The fixed name of a nationality's people: "Nigerians", "Chinese people", "Sri Lankans"."""
    if demonym in _NATIONALITY_NAMES:
        return _NATIONALITY_NAMES[demonym]
    title = " ".join(word.title() for word in demonym.split())
    return f"{title} people" if demonym.endswith(("ese", "ish", "ch", "sh")) else f"{title}s"


_TERMS: dict[str, tuple[str, str]] = {}  # term -> (category, name)
for _category, _groups in LEXICON.items():
    for _name, _terms in _groups.items():
        for _term in _terms:
            _TERMS.setdefault(_term, (_category, _name))
for _demonym in NATIONALITIES:
    _TERMS.setdefault(_demonym, ("nationality", _nationality_name(_demonym)))
_COUNTRIES = {country: _nationality_name(demonym) for demonym, country in NATIONALITIES.items()}


def _alternation(words: list[str]) -> str:
    return "|".join(re.escape(w).replace(r"\ ", r"[\s-]+") for w in sorted(words, key=len, reverse=True))


_TERM_RE = re.compile(r"(?<![\w-])(" + _alternation(list(_TERMS)) + r")(?:e?s)?(?![\w-])", re.IGNORECASE)
_QUALIFYING = {**QUALIFIERS, **{lang: ("nationality", _nationality_name(lang)) for lang in LANGUAGES}}
_QUALIFIED_RE = re.compile(
    r"(?<![\w-])(" + _alternation(list(_QUALIFYING)) + r")[\s-]+(?:(?:and|or|&)\s+\w+\s+)?(?:"
    + _alternation(list(PERSON_NOUNS)) + r")(?![\w-])", re.IGNORECASE)
_COUNTRY_RE = re.compile(_FROM + r"(?:the\s+)?(" + _alternation(list(_COUNTRIES)) + r")(?![\w-])", re.IGNORECASE)
_AGE_RE = re.compile(r"(?<![\w-])(?:\d{1,3}|(?:[a-z]+ty|ten|eleven|twelve|[a-z]+teen)(?:-[a-z]+)?)[- ]years?[- ]olds?"
                     r"(?![\w-])", re.IGNORECASE)
# Slurs name the group they demean (a part holding one is a group part, like one that says "gay people"). Only
# words with no everyday sense ("chink in the armour", "coon" and "fag" for a cigarette are left out); a vowel may
# be masked or swapped for a digit ("f*ggot", "n1gg3r").
SLURS: dict[str, tuple[str, str]] = {
    "faggot": ("sexual orientation", "gay people"), "dyke": ("sexual orientation", "lesbians"),
    "tranny": ("gender identity", "trans people"), "trannie": ("gender identity", "trans people"),
    "retard": ("disability", "disabled people"), "spastic": ("disability", "disabled people"),
    "kike": ("religion", "Jews"), "spic": ("race/ethnicity", "Latino people"),
    "wetback": ("race/ethnicity", "Latino people"), "gook": ("race/ethnicity", "Asian people"),
    "paki": ("nationality", "Pakistanis"), "raghead": ("religion", "Muslims"),
    "nigger": ("race/ethnicity", "Black people"), "nigga": ("race/ethnicity", "Black people"),
    "gyppo": ("race/ethnicity", "Roma"),
}
_MASKED = {"a": "[a@4*]", "e": "[e3*]", "i": "[i1!*]", "o": "[o0*]", "u": "[u*]"}
_SLUR_RE = re.compile(r"(?<![\w*@!-])(" + "|".join(
    "".join(_MASKED.get(c, c) for c in slur) for slur in sorted(SLURS, key=len, reverse=True))
    + r")(?:e?s|z)?(?![\w*@!-])", re.IGNORECASE)
_UNMASK = str.maketrans({"@": "a", "4": "a", "3": "e", "1": "i", "!": "i", "0": "o"})


def _slur_group(word: str) -> tuple[str, str] | None:
    """The (category, name) a matched slur names ("*" stands for any vowel)."""
    plain = word.lower().translate(_UNMASK)
    return next((group for slur, group in SLURS.items()
                 if len(slur) == len(plain) and all(c == "*" or c == d for c, d in zip(plain, slur, strict=True))),
                None)


_IMPLIED_RE = re.compile(r"(?<![\w-])(?:" + "|".join(IMPLIED) + r")(?![\w-])", re.IGNORECASE)
# A country named beside a word for its people ("Afghanistan ... the people who live there"): its people are the
# group. A country alone ("the weather in Spain") is no mention. Countries that are also common first names or
# words are left out.
_NOT_ALONE = frozenset({"jordan", "turkey", "guinea", "america"})
_COUNTRY_ALONE_RE = re.compile(r"(?<![\w-])(" + _alternation([c for c in _COUNTRIES if c not in _NOT_ALONE])
                               + r")(?![\w-])", re.IGNORECASE)
_PEOPLE_WORD = re.compile(r"(?<![\w-])(?:they|them|their|people|locals|everyone|citizens|inhabitants|natives|"
                          r"population|folks|residents)(?![\w-])", re.IGNORECASE)
_SPACES = re.compile(r"[\s-]+")
# A qualifier said of someone ("being old", "I am black", "she's blind") is about a person too.
_PREDICATIVE_RE = re.compile(
    r"(?<![\w-])(?:being|(?:i|you|he|she|they|we)\s+(?:am|are|is|was|were)|i'm|you're|he's|she's|they're|we're)"
    r"\s+(?:an?\s+)?(" + _alternation(list(_QUALIFYING)) + r")(?![\w-])", re.IGNORECASE)
# Singular demonyms and race adjectives that often qualify a thing: a mention only when no other noun follows.
_THING_ADJECTIVES = frozenset(NATIONALITIES) | frozenset({"asian", "african", "arab", "latino", "latina", "hispanic",
                                                          "indigenous", "native american", "middle eastern"})
_NEXT_WORD = re.compile(r"[\s-]+([A-Za-z][A-Za-z']*)")
_PERSON_OR_FUNCTION = frozenset(PERSON_NOUNS) | frozenset("""is are was were be been am and or but nor who whom whose
that which with without from in at on by to for of as if so than then because when while though although
guy guys man men woman women people person kid kids dude dudes lady ladies girl girls boy boys""".split())


def find_groups(text: str) -> list[GroupMention]:
    """Every group mention in ``text``, in order of position (overlapping mentions: the longer one)."""
    found: list[GroupMention] = []
    for m in _TERM_RE.finditer(text):
        key = _SPACES.sub(" ", m.group(1).lower())
        category, name = _TERMS.get(key) or _TERMS.get(m.group(1).lower(), ("", ""))
        if key in LANGUAGES and m.end() == m.end(1) and not (
                _THE_BEFORE.search(text, 0, m.start()) and _AS_GROUP_AFTER.match(text, m.end())):
            continue  # a language, or an adjective of a thing ("in French", "German cars")
        if key in _THING_ADJECTIVES and m.end() == m.end(1):
            after = _NEXT_WORD.match(text, m.end())
            if after and after.group(1).lower() not in _PERSON_OR_FUNCTION:
                continue  # an adjective of a thing: "Mexican restaurant", "Saudi Arabia", "Asian markets"
        if name:
            found.append(GroupMention(name, category, m.start(), m.end()))
    for m in _QUALIFIED_RE.finditer(text):
        category, name = _QUALIFYING[m.group(1).lower()]
        found.append(GroupMention(name, category, m.start(), m.end()))
    for m in _PREDICATIVE_RE.finditer(text):
        category, name = _QUALIFYING[m.group(1).lower()]
        found.append(GroupMention(name, category, m.start(1), m.end(1)))
    for m in _COUNTRY_RE.finditer(text):
        found.append(GroupMention(_COUNTRIES[_SPACES.sub(" ", m.group(1).lower())], "nationality",
                                  m.start(), m.end()))
    if _PEOPLE_WORD.search(text):
        for m in _COUNTRY_ALONE_RE.finditer(text):
            found.append(GroupMention(_COUNTRIES[_SPACES.sub(" ", m.group(1).lower())], "nationality",
                                      m.start(), m.end()))
    for m in _AGE_RE.finditer(text):
        found.append(GroupMention("people of an age", "age", m.start(), m.end()))
    for m in _IMPLIED_RE.finditer(text):
        found.append(GroupMention(IMPLIED_NAME, IMPLIED_CATEGORY, m.start(), m.end()))
    for m in _SLUR_RE.finditer(text):
        group = _slur_group(m.group(1))
        if group is not None:
            found.append(GroupMention(group[1], group[0], m.start(), m.end()))
    found.sort(key=lambda g: (g.start, -(g.end - g.start)))
    kept: list[GroupMention] = []
    for g in found:
        if kept and g.start < kept[-1].end:
            continue  # inside a longer mention ("trans women", not also "women")
        kept.append(g)
    return kept


def group_names(text: str) -> tuple[str, ...]:
    """The fixed names of the groups ``text`` mentions, each once, in order of first mention."""
    return tuple(dict.fromkeys(g.name for g in find_groups(text)))


def mentions_group(text: str) -> bool:
    """True when ``text`` names or implies at least one group."""
    return bool(find_groups(text))
