"""Groundedness of an answer: do the names and numbers it states occur in the sources it was given?

A surface check for the request path, run after generation, CPU-only and dependency-free (``re`` and the
standard library; no model). It exists because the small generator sometimes states invented facts with
confidence ("Office phone addresses are held by Theilke America"; "Backup your files once a month in the
'Unlock Dissappearies' folder").

``extract_claims(text)`` finds the checkable claims of a text, each a ``Claim`` of one of ``KINDS``:

- ``number``: digits, with an attached unit (``32 GB``, ``70%``, ``24-inch``), digit ordinals (``4th``);
- ``amount``: money (``€15``, ``EUR 1,200``, ``45 euros``, ``$3``, ``£210``, ``23 cents``);
- ``date``: weekdays, month names, day-month dates (``31 March``), ISO and d/m/y dates, ``the 24th``;
- ``time``: ``07:30``, ``7.30am``, ``9am``, ``5 pm``, ``noon``;
- ``duration``: a number (digits or a number word) and a unit, ``25 minutes``, ``3 working days``,
  ``12-month``; compared by length, so ``2 weeks`` is supported by ``14 days``;
- ``extension``: ``ext. 4357``, ``extension 4357``, ``x4357``; ``phone``: ``+31 10 740 9911``,
  ``0800 022 4455``; ``email``; ``url``: URLs and bare host names (``qf-west.tunnelgate.net``);
- ``name``: proper nouns and product names: runs of capitalised words (``Theilke America``), quoted names
  (``'Unlock Me'``), CamelCase and letter-digit tokens (``ThinkPad``, ``T14``), Slack channels (``#it-help``).
  A capitalised word that starts a sentence counts only when it is clearly a name (CamelCase, an acronym,
  letters with digits, or written capitalised elsewhere mid-sentence in the same text); a stop list of
  ordinary capitalised words (``I``, ``Slack``, ``OK``, ``First``, ``Then``, ``Note``, ``Please`` ...) never
  counts. The company name is not special: it must be supported like any other name.

Numbered list markers (``1.``, ``2)``, ``Step 3``) are not claims.

``check(answer, sources, question=...)`` calls a claim supported when its normalised value occurs in the
normalised sources or in the question the user asked (a user who writes "my laptop X1" licenses "X1").
Normalising case-folds, unifies dashes and quotes, reads ``ext 4357``/``extension 4357``/``x4357`` as one
extension, ``7:30``/``07:30``/``7.30`` and ``9am``/``09:00`` as one time, drops thousands separators, and
matches a duration against any source duration of the same length (``25 min`` supports ``25 minutes``). A
bare number is supported by the same number anywhere in the sources (an extension, a time, a duration);
a number with a unit needs the same unit. A name is supported when each of its significant words occurs
as a word of the sources, case-insensitively: "the Pelican Portal" is supported by "the Pelican portal";
"Theilke America" is not; "'Unlock Dissappearies'" is not ("Unlock" is, "Dissappearies" is not).

What it cannot do. It is a surface check of names and numbers, not of meaning, and it only says "this
name or number is not in the sources", never "this answer is true":

- a wrong claim with no number or name passes ("the VPN needs no password"), so do a negation, a swapped
  pair, and a right number attached to the wrong thing ("ext. 4911" for the Service Desk when the sources
  name both 4357 and 4911);
- a name that starts a sentence and looks like an ordinary word is not checked ("Keyhold is ..."), so that
  "Restart your laptop" is not flagged; nor is a name written in lower case;
- a duration is matched by length only (``3 weeks`` is supported by ``21 days`` anywhere in the sources), a
  bare number by any occurrence of it, a name word by word (each word may come from another place);
- number words count only in durations ("two weeks"), not alone ("two monitors");
- it reads English in Latin script.

Results hold kinds and counts. ``Grounding.claims`` keeps the claims for tests and debugging; callers must
never log claim values (they are answer text); ``Grounding.as_note`` carries counts only.

Example::

    from decorum.guardrails.grounding import check

    fact = "Reset your password on the 'Unlock Me' page of the Pelican portal; passwords expire every 180 days."
    good = check("Use the Unlock Me page in the Pelican Portal. Passwords expire after 180 days.", [fact])
    good.ok                         # True
    bad = check("Backup your files in the 'Unlock Dissappearies' folder every 30 days.", [fact])
    bad.ok                          # False
    bad.unsupported["name"], bad.unsupported["duration"]    # (1, 1)
    bad.as_note([{"id": "it-password-reset"}])
    # {"supported": {...}, "unsupported": {...}, "sources": [{"id": "it-password-reset"}], "method": "claims-v1"}

Run ``python -m decorum.guardrails.grounding`` to measure it on the helpdesk test set (2026-12-07: the 78
reference answers are ok against their own fact in 78/78 and so are mechanical paraphrases of them; against a
random other fact 78/78 are flagged, against the most similar other fact 77/78; one number made wrong is
flagged in 67/70, one name swapped in 64/64; under 1 ms per answer).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

KINDS = ("number", "amount", "date", "time", "duration", "extension", "phone", "email", "url", "name")
METHOD = "claims-v1"

_Key = tuple[str, ...]
_Needs = tuple[tuple[_Key, ...], ...]  # alternatives; a claim is supported when all keys of one are present


@dataclass(frozen=True)
class Claim:
    """One checkable claim: its kind (one of ``KINDS``), its normalised value and its span in the text."""

    kind: str
    value: str
    start: int
    end: int


@dataclass(frozen=True)
class Grounding:
    """The outcome of ``check``: per kind, how many claims the sources support and how many they do not.

    ``claims`` is for tests and debugging only: claim values are answer text and must never be logged.
    """

    supported: dict[str, int]
    unsupported: dict[str, int]
    claims: tuple[Claim, ...]

    @property
    def ok(self) -> bool:
        """True when no claim is unsupported (also when there is no claim at all)."""
        return not any(self.unsupported.values())

    def as_note(self, sources: list[dict[str, Any]]) -> dict[str, Any]:
        """The transparency-note entry: kinds and counts, the caller's source references, the method.

        ``sources`` are references (ids, titles) chosen by the caller; no claim text is ever included.
        """
        return {
            "supported": dict(self.supported),
            "unsupported": dict(self.unsupported),
            "sources": sources,
            "method": METHOD,
        }


# ---------------------------------------------------------------------------------------------------------
# Normalising. The table maps one character to one, so spans found in the unified text hold in the original.

_UNIFY = str.maketrans(
    {
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032`", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033", '"'),
        **dict.fromkeys("\u00a0\u2007\u202f\u2009", " "),
    }
)


def _unify(text: str) -> str:
    return text.translate(_UNIFY)


def _canon(num: str) -> str:
    """``"1,200"`` -> ``"1200"``, ``"07"`` -> ``"7"``, ``"1.50"`` -> ``"1.5"``."""
    whole, _, frac = num.replace(",", "").partition(".")
    whole = whole.lstrip("0") or "0"
    frac = frac.rstrip("0")
    return f"{whole}.{frac}" if frac else whole


def _fmt(value: Fraction) -> str:
    """A fraction as a canonical decimal (``Fraction(23, 100)`` -> ``"0.23"``), else as ``p/q``."""
    if value.denominator == 1:
        return str(value.numerator)
    for places in range(1, 7):
        scaled = value * 10**places
        if scaled.denominator == 1:
            sign = "-" if scaled < 0 else ""
            digits = str(abs(scaled.numerator)).rjust(places + 1, "0")
            return _canon(f"{sign}{digits[:-places]}.{digits[-places:]}")
    return f"{value.numerator}/{value.denominator}"


_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
          "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_ORDINAL_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
                  "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12}
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_WORDNUM = (
    r"(?:" + "|".join(_TENS) + r")(?:[- ](?:" + "|".join(_UNITS[1:10]) + r"))?"
    r"|a\s+hundred|hundred|" + "|".join(sorted(_UNITS[1:], key=len, reverse=True))
)


def _number(text: str) -> Fraction:
    """Digits or an English number word as a fraction: ``"1,200"``, ``"twenty-four"``, ``"a hundred"``."""
    text = text.lower().strip()
    if text[0].isdigit():
        return Fraction(text.replace(",", ""))
    words = re.split(r"[\s-]+", text)
    if words[-1] == "hundred":
        return Fraction(100)
    total = 0
    for word in words:
        total += _TENS[word] if word in _TENS else _UNITS.index(word)
    return Fraction(total)


# Duration units: (family, size). Months and years are kept apart from the exact units.
_DURATION_UNITS: dict[str, tuple[str, int, str]] = {}
for _spellings, _family, _size, _label in [
    (("seconds", "second", "secs", "sec"), "s", 1, "second"),
    (("minutes", "minute", "mins", "min"), "s", 60, "minute"),
    (("hours", "hour", "hrs", "hr", "h"), "s", 3600, "hour"),
    (("days", "day"), "s", 86400, "day"),
    (("weeks", "week", "wks", "wk"), "s", 604800, "week"),
    (("fortnights", "fortnight"), "s", 1209600, "fortnight"),
    (("months", "month"), "mo", 1, "month"),
    (("years", "year", "yrs", "yr"), "mo", 12, "year"),
]:
    for _spelling in _spellings:
        _DURATION_UNITS[_spelling] = (_family, _size, _label)
_DUR_UNIT = "|".join(sorted(_DURATION_UNITS, key=len, reverse=True))
_QUALIFIER = (
    r"(?:(?:working|business|calendar|full|whole|consecutive|extra|paid|unpaid|fully\s+paid|more|further|additional)"
    r"[\s-]+)?"
)

_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"]
_MONTH_ABBR = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
               "oct": 10, "nov": 11, "dec": 12}
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _cased(word: str) -> str:
    """A word as a pattern that matches it lower case or capitalised."""
    return f"[{word[0].upper()}{word[0]}]{word[1:]}"


# "may" and "march" are also verbs: only their capitalised forms are months.
_MONTH_FULL = "|".join(m.capitalize() if m in ("may", "march") else _cased(m) for m in _MONTHS)
_MONTH_ANY = _MONTH_FULL + "|" + "|".join(a.capitalize() + r"\.?" for a in _MONTH_ABBR)


def _month_number(name: str) -> int:
    name = name.lower().rstrip(".")
    return _MONTHS.index(name) + 1 if name in _MONTHS else _MONTH_ABBR[name]


def _date_keys(day: int, month: int, year: str | None) -> tuple[_Key, ...]:
    keys: tuple[_Key, ...] = (("date", f"{day} {_MONTHS[month - 1]}"),)
    return keys + ((("num", _canon(year)),) if year else ())


def _time_value(hour: int, minute: int, meridiem: str | None) -> str:
    if meridiem:
        hour = hour % 12 + (12 if meridiem.lower().startswith("p") else 0)
    return f"{hour:02d}:{minute:02d}"


def _time_needs(hour: int, minute: int, meridiem: str | None) -> _Needs:
    """A time without am/pm that could be either half of the day is supported by either."""
    value = _time_value(hour, minute, meridiem)
    alternatives = [value]
    if not meridiem and 1 <= hour <= 11:
        alternatives.append(_time_value(hour + 12, minute, None))
    return tuple((("time", v),) for v in alternatives)


# ---------------------------------------------------------------------------------------------------------
# Patterns. Order in _EXTRACTORS is priority: a span taken by one is not seen by the next.

_I = re.IGNORECASE
# list markers ("1.", "2)", "(3)", "- ", "Step 4"), Slack mentions (<@U123>, <!here>) and emoji (:+1:): no claims
_NOT_CLAIMS = re.compile(
    r"(?m)^[ \t]*(?:\d{1,2}[.)]|\(\d{1,2}\)|[-*•])(?=[ \t])|(?<!\S)\(\d{1,2}\)(?=\s)|(?<![\w.])[Ss]tep\s+\d{1,2}\b"
    r"|<[@!][^<>\s]*>|(?<![\w:]):[a-z0-9_+-]+:(?![\w:])"
)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_TLD = r"com|net|org|io|nl|uk|eu|de|pl|fr|be|co|info|biz|app|dev|int|gov|edu|local|internal|corp|lan|cloud|ai"
_URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"'|)\]]+"
    r"|(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:" + _TLD + r")(?![\w-])(?:/[^\s<>\"'|)\]]*)?",
    _I,
)
_CHANNEL = re.compile(r"(?<![\w#&])#([a-z0-9][a-z0-9._-]*[a-z0-9])", _I)
_ISO_DATE = re.compile(r"(?<![\w-])(\d{4})-(\d{2})-(\d{2})(?![\w-])")
_SLASH_DATE = re.compile(r"(?<![\w/.])(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?![\w/])")
_CURRENCY = {"€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR", "£": "GBP", "gbp": "GBP", "pound": "GBP",
             "pounds": "GBP", "$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "chf": "CHF",
             "pln": "PLN", "zloty": "PLN", "cent": "", "cents": "", "pence": ""}
_SCALE = {"k": 1000, "thousand": 1000, "m": 1_000_000, "mn": 1_000_000, "million": 1_000_000}
_AMOUNT = re.compile(
    r"(?P<c1>€|£|\$|\b(?:eur|gbp|usd|chf|pln)\b)\s?(?P<n1>" + _NUM + r")(?:\s?(?P<k1>k|mn|m|million|thousand)\b)?"
    r"|(?<![\w.,/:])(?P<n2>" + _NUM + r")(?:\s?(?P<k2>k|million|thousand))?\s?"
    r"(?P<c2>€|£|\$|(?:eur|euros?|gbp|pounds?|usd|dollars?|chf|pln|zloty|cents?|pence)(?!\w))",
    _I,
)
_PHONE = re.compile(
    r"(?<![\w+.,/:])(?:\+\s?\d{1,3}|\(0\)|\(?\d{1,4}\)?)(?:[ .\-/]?(?:\(0\))?\(?\d{1,4}\)?){1,6}(?![\w])"
)
_TIME_COLON = re.compile(r"(?<![\w.:])([01]?\d|2[0-3]):([0-5]\d)(?:\s?([ap])\.?m\.?(?![a-z]))?(?!\d|:\d)", _I)
_TIME_DOT = re.compile(r"(?<![\w.:,])([01]?\d|2[0-3])\.([0-5]\d)(?:\s?([ap])\.?m\.?(?![a-z]))?(?![\d.]\d)", _I)
_TIME_CONTEXT_BEFORE = re.compile(r"(?:\b(?:at|from|until|till|til|before|after|by|to|between|and)|-)\s*$", _I)
_TIME_CONTEXT_AFTER = re.compile(r"^\s*(?:-|to|until|till)\s*\d{1,2}[.:]\d{2}", _I)
_TIME_MERIDIEM = re.compile(r"(?<![\w.:])(1[0-2]|0?[1-9])\s?(?:([ap])\.?m\.?(?![a-z])|(o'clock)\b)", _I)
_TIME_WORD = re.compile(r"\b(noon|midday|midnight)\b", _I)
_EXTENSION = re.compile(
    r"\b(?:ext|extn|extension)\.?\s*(?:no\.?\s*|number\s*)?[#:]?\s*(\d{2,6})\b|(?<![\w])x(\d{3,6})\b", _I
)
_DURATION = re.compile(
    r"(?:(?<![\w.,/:])(" + _NUM + r")|\b(" + _WORDNUM + r"))(?:\s*-\s*|\s+|)" + _QUALIFIER
    + r"(" + _DUR_UNIT + r")(?![\w])",
    _I,
)
_DAY_MONTH = re.compile(
    r"(?<![\w.,/:])(\d{1,2})(?:st|nd|rd|th)?(?:\s+of)?\s+(" + _MONTH_ANY + r")(?![\w])(?:,?\s+(\d{4})(?!\d))?"
)
_MONTH_DAY = re.compile(r"\b(" + _MONTH_ANY + r")\s+(\d{1,2})(?:st|nd|rd|th)?(?![\w])(?:,?\s+(\d{4})(?!\d))?")
_ORDINAL = re.compile(r"(?<![\w.,/:])(\d{1,3})(?:st|nd|rd|th)\b", _I)
_ORDINAL_DATE_NEXT = frozenset(
    "of and or to if at before after each every until till through falls is was will when this that the in "
    "on by".split()
)
_WEEKDAY = re.compile(r"\b(" + "|".join(_cased(d) for d in _WEEKDAYS) + r")s?\b")
_MONTH = re.compile(r"\b(" + _MONTH_FULL + r")\b")
_MAY_QUESTION = re.compile(r"\s+(?:I|we|you)\b")
_UNIT = r"%|percent\b|per\s?cent\b|gbps|mbps|kbps|gb|mb|kb|tb|km|kg|cm|mm|inches|inch|ghz|mhz|x(?![\w])"
_NUMBER = re.compile(
    r"(?<![\w.,/:#+])(?<![A-Za-z]-)(" + _NUM + r")(?:/(\d+))?(?:\s?-?\s?(" + _UNIT + r"))?(?![\w])", _I
)
_QUOTED = re.compile(r"(?<![\w'])'([A-Z0-9][^'\n]{0,60}?)'(?![\w])|\"([^\"\n]{1,60}?)\"")
_TOKEN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9'&-]*[A-Za-z0-9])?")

# Ordinary capitalised words: never a name (compared lower case).
_STOP = frozenset(
    """i i'm i'll i've i'd ok okay slack yes no hi hello hey dear please thanks thank you your you're we our us
    it its it's this that these those there here first second third then next finally lastly also note tip
    step steps answer question sure sorry unfortunately however otherwise alternatively additionally
    important warning the a an if to for in on at and or but so of with by from as after before once when
    while go regards best cheers good great welcome mr mrs ms dr am pm cet cest utc gmt bst etc eg ie faq
    asap fyi re q hr it email e-mail internet wi-fi wifi online hope just simply remember make sure
    """.split()
) | frozenset(_WEEKDAYS) | frozenset(_MONTHS)
_GREETINGS = frozenset({"hi", "hello", "hey", "dear", "thanks", "you", "morning", "afternoon", "evening"})
_LEAD_INS = _STOP | _GREETINGS
_CONNECTORS = frozenset({"of", "de", "van", "von", "der", "&"})
_FUNCTION_WORDS = frozenset({"a", "an", "the", "of", "and", "or", "for", "to", "in", "on", "at", "by", "with", "&"})


def _stem(word: str) -> str:
    """Lower case without a possessive or a plural ``s``, so "Tidewater's" and "Tidewater" are one word."""
    word = word.lower()
    if word.endswith("'s"):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word


def _word_needs(words: Iterable[str], *, quoted: bool = False) -> tuple[_Key, ...]:
    """The significant words of a name; inside quotes an ordinary word counts too ('Unlock Me', 'Time Off')."""
    return tuple(
        ("word", _stem(w))
        for w in words
        if w.lower() not in _FUNCTION_WORDS and (quoted or (w.lower() not in _STOP and len(w) > 1))
    )


# ---------------------------------------------------------------------------------------------------------
# Extraction


@dataclass(frozen=True, slots=True)
class _Found:
    kind: str
    value: str
    start: int
    end: int
    needs: _Needs


_Extractor = Callable[[str], Iterator[_Found]]


def _emails(text: str) -> Iterator[_Found]:
    for m in _EMAIL.finditer(text):
        value = m.group().rstrip(".").lower()
        yield _Found("email", value, m.start(), m.start() + len(value), ((("email", value),),))


def _urls(text: str) -> Iterator[_Found]:
    for m in _URL.finditer(text):
        raw = m.group().rstrip(".,;:!?")
        value = re.sub(r"^(?:https?://)?(?:www\.)?", "", raw.lower()).rstrip("/")
        if value:
            yield _Found("url", value, m.start(), m.start() + len(raw), ((("url", value),),))


def _channels(text: str) -> Iterator[_Found]:
    for m in _CHANNEL.finditer(text):
        if re.search(r"[a-z]", m.group(1), _I):
            value = "#" + m.group(1).lower()
            yield _Found("name", value, m.start(), m.end(), ((("chan", value),),))


def _iso_dates(text: str) -> Iterator[_Found]:
    for m in _ISO_DATE.finditer(text):
        year, month, day = (int(g) for g in m.groups())
        if 1 <= month <= 12 and 1 <= day <= 31:
            yield _Found("date", m.group(), m.start(), m.end(), (_date_keys(day, month, str(year)),))


def _slash_dates(text: str) -> Iterator[_Found]:
    for m in _SLASH_DATE.finditer(text):
        a, b = int(m.group(1)), int(m.group(2))
        year = m.group(3) if len(m.group(3)) == 4 else "20" + m.group(3)
        # d/m/y first (the company is European), m/d/y as well where it is a valid reading
        readings = [(d, mo) for d, mo in ((a, b), (b, a)) if 1 <= d <= 31 and 1 <= mo <= 12]
        if readings:
            needs = tuple(_date_keys(d, mo, year) for d, mo in readings)
            yield _Found("date", f"{a}/{b}/{year}", m.start(), m.end(), needs)


def _amounts(text: str) -> Iterator[_Found]:
    for m in _AMOUNT.finditer(text):
        number = m.group("n1") or m.group("n2")
        currency = _CURRENCY[(m.group("c1") or m.group("c2")).lower()]
        scale = (m.group("k1") or m.group("k2") or "").lower()
        value = Fraction(number.replace(",", "")) * _SCALE.get(scale, 1)
        if currency:
            v = _fmt(value)
            yield _Found("amount", f"{currency} {v}", m.start(), m.end(), ((("amt", currency, v),),))
        else:  # cents or pence: the currency is whatever the sources use
            v = _fmt(value / 100)
            yield _Found("amount", v, m.start(), m.end(), ((("amtv", v),),))


def _phone_digits(raw: str) -> str:
    return re.sub(r"\D", "", raw.replace("(0)", ""))


def _phones(text: str) -> Iterator[_Found]:
    for m in _PHONE.finditer(text):
        raw = m.group().rstrip(" .-/")
        digits = _phone_digits(raw)
        international = raw.startswith("+")
        if not 7 <= len(digits) <= 15 or not (international or digits[0] == "0" or len(digits) >= 9):
            continue
        needs: _Needs = ((("phone", digits),),)
        if not international and digits[0] == "0":  # 010 740 9911 is +31 10 740 9911 without the country
            needs += ((("phone", digits[1:]),),)
        yield _Found("phone", ("+" if international else "") + digits, m.start(), m.start() + len(raw), needs)


def _times(text: str) -> Iterator[_Found]:
    for m in _TIME_COLON.finditer(text):
        hour, minute = int(m.group(1)), int(m.group(2))
        yield _Found("time", _time_value(hour, minute, m.group(3)), m.start(), m.end(),
                     _time_needs(hour, minute, m.group(3)))
    for m in _TIME_DOT.finditer(text):
        hour, minute = int(m.group(1)), int(m.group(2))
        # "room 2.14" is not a time: a dot needs am/pm or a word that introduces a time
        if m.group(3) or _TIME_CONTEXT_BEFORE.search(text, max(0, m.start() - 12), m.start()) or (
            _TIME_CONTEXT_AFTER.match(text[m.end() : m.end() + 16])
        ):
            yield _Found("time", _time_value(hour, minute, m.group(3)), m.start(), m.end(),
                         _time_needs(hour, minute, m.group(3)))
    for m in _TIME_MERIDIEM.finditer(text):
        hour = int(m.group(1))
        yield _Found("time", _time_value(hour, 0, m.group(2)), m.start(), m.end(), _time_needs(hour, 0, m.group(2)))
    for m in _TIME_WORD.finditer(text):
        value = "00:00" if m.group(1).lower() == "midnight" else "12:00"
        yield _Found("time", value, m.start(), m.end(), ((("time", value),),))


def _extensions(text: str) -> Iterator[_Found]:
    for m in _EXTENSION.finditer(text):
        number = _canon(m.group(1) or m.group(2))
        yield _Found("extension", f"ext {number}", m.start(), m.end(), ((("num", number),),))


def _duration_key(number: Fraction, unit: str) -> tuple[_Key, str]:
    family, size, label = _DURATION_UNITS[unit.lower()]
    shown = _fmt(number)
    return ("dur", family, _fmt(number * size)), f"{shown} {label}{'' if number == 1 else 's'}"


def _durations(text: str) -> Iterator[_Found]:
    for m in _DURATION.finditer(text):
        key, value = _duration_key(_number(m.group(1) or m.group(2)), m.group(3))
        yield _Found("duration", value, m.start(), m.end(), ((key,),))


def _dates(text: str) -> Iterator[_Found]:
    for m in _DAY_MONTH.finditer(text):
        day, month = int(m.group(1)), _month_number(m.group(2))
        if 1 <= day <= 31:
            value = f"{day} {_MONTHS[month - 1]}" + (f" {m.group(3)}" if m.group(3) else "")
            yield _Found("date", value, m.start(), m.end(), (_date_keys(day, month, m.group(3)),))
    for m in _MONTH_DAY.finditer(text):
        day, month = int(m.group(2)), _month_number(m.group(1))
        if 1 <= day <= 31:
            value = f"{day} {_MONTHS[month - 1]}" + (f" {m.group(3)}" if m.group(3) else "")
            yield _Found("date", value, m.start(), m.end(), (_date_keys(day, month, m.group(3)),))
    for m in _ORDINAL.finditer(text):
        after = re.match(r"\s*([A-Za-z]+)", text[m.end() : m.end() + 24])
        # "the 4th day", "2nd floor": an ordinal number; "the 24th", "the 15th of each month": a date
        kind = "number" if after and after.group(1).islower() and after.group(1) not in _ORDINAL_DATE_NEXT else "date"
        number = _canon(m.group(1))
        yield _Found(kind, number + _ordinal_suffix(int(number)), m.start(), m.end(), ((("ord", number),),))
    for m in _WEEKDAY.finditer(text):
        value = m.group(1).lower()
        yield _Found("date", value, m.start(), m.end(), ((("wday", value),),))
    for m in _MONTH.finditer(text):
        value = m.group(1).lower()
        if value == "may" and _MAY_QUESTION.match(text, m.end()) and _is_sentence_start(text, m.start()):
            continue  # "May I ...", not the month
        yield _Found("date", value, m.start(), m.end(), ((("month", value),),))


def _ordinal_suffix(n: int) -> str:
    return "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _numbers(text: str) -> Iterator[_Found]:
    for m in _NUMBER.finditer(text):
        number, over, unit = m.group(1), m.group(2), m.group(3)
        if over:
            value = f"{_canon(number)}/{over}"
            needs: _Needs = ((("num", value),),)
        elif unit:
            u = _canon_unit(unit)
            value = f"{_canon(number)} {u}" if u != "%" else f"{_canon(number)}%"
            needs = ((("numu", _canon(number), u),),)
        else:
            value = _canon(number)
            needs = ((("num", value),),)
            hhmm = re.fullmatch(r"([01]?\d|2[0-3])\.([0-5]\d)", number)
            if hhmm:  # "7.30" with no word around it: a time if the sources say so
                needs += _time_needs(int(hhmm.group(1)), int(hhmm.group(2)), None)
        yield _Found("number", value, m.start(), m.end(), needs)


def _canon_unit(unit: str) -> str:
    unit = re.sub(r"\s+", "", unit.lower())
    if unit == "%" or unit.startswith("per"):
        return "%"
    return "inch" if unit.startswith("inch") else unit


_EXTRACTORS: tuple[_Extractor, ...] = (
    _emails, _urls, _channels, _iso_dates, _slash_dates, _amounts, _phones, _times, _extensions, _durations,
    _dates, _numbers,
)


def _is_sentence_start(masked: str, pos: int) -> bool:
    """Nothing but spaces, opening quotes or brackets between ``pos`` and a sentence end, a line start or
    the start of the text (list markers were blanked to spaces before)."""
    i = pos - 1
    while i >= 0:
        c = masked[i]
        if c == "\n":
            return True
        if c in " \t\r\"'([*_>•":
            i -= 1
            continue
        return c in ".!?:"
    return True


_NAMEY = re.compile(r"\d.*[A-Za-z]|[A-Za-z].*\d|[A-Z].*[A-Z]|^[a-z].*[A-Z]")
_WORD_PARTS = re.compile(r"[-'&]")


def _is_namey(token: str) -> bool:
    """Clearly a name wherever it stands: CamelCase (ThinkPad, iPhone), an acronym (CISO), letters with digits (T14)."""
    return _NAMEY.search(token) is not None


def _is_capitalised(token: str) -> bool:
    """Starts with a capital letter, or is clearly a name (ThinkPad, iPhone, 2FA); lower-case "t14" is not."""
    return token[0].isupper() or (not token.islower() and _is_namey(token))


def _quoted_names(masked: str) -> Iterator[_Found]:
    for m in _QUOTED.finditer(masked):
        group = 1 if m.group(1) is not None else 2
        content = m.group(group)
        words = _TOKEN.findall(content)
        # a quoted name: 1-6 words, the first capitalised, no sentence inside
        if not words or len(words) > 6 or not _is_capitalised(words[0]) or re.search(r"[.!?;:]\s", content):
            continue
        needs = _word_needs(words, quoted=True)
        if needs:
            yield _Found("name", " ".join(content.split()), m.start(group), m.end(group), (needs,))


def _names(masked: str) -> Iterator[_Found]:
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(masked)]
    starts = [_is_sentence_start(masked, s) for s, _, _ in tokens]
    # a capitalised word also written capitalised mid-sentence is a name at a sentence start too (mid-sentence:
    # not at a start and not after a stop word or greeting: "Hi Anna", "Then Open")
    mid_caps = {
        _stem(t)
        for i, ((_, _, t), st) in enumerate(zip(tokens, starts, strict=True))
        if not st and _is_capitalised(t) and not (i and tokens[i - 1][2].lower() in _LEAD_INS)
    }
    run: list[tuple[int, int, str]] = []
    effective_start = False  # the run so far stands at a sentence start (only stop words before it)

    def flush() -> Iterator[_Found]:
        while run and run[-1][2].lower() in _CONNECTORS:
            run.pop()
        needs = _word_needs(t for _, _, t in run)
        if run and needs:
            value = " ".join(masked[run[0][0] : run[-1][1]].split())
            yield _Found("name", value, run[0][0], run[-1][1], (needs,))
        run.clear()

    previous_end, previous_lower = -1, ""
    for (start, end, token), at_start in zip(tokens, starts, strict=True):
        gap = masked[previous_end:start] if previous_end >= 0 else ""
        adjacent = previous_end >= 0 and bool(gap) and not gap.strip(" \t")
        lower = token.lower()
        if not adjacent:
            yield from flush()
            # "Hi Anna," "Thanks, Anna!": whom the answer greets is no claim
            greeted = previous_lower in _GREETINGS and not gap.strip(" \t,")
            effective_start = at_start or greeted
        elif not run and not _is_capitalised(token):
            effective_start = False
        previous_end, previous_lower = end, lower
        if lower in _CONNECTORS and run:
            run.append((start, end, token))
            continue
        if not _is_capitalised(token) or lower in _STOP or len(token) == 1:
            yield from flush()
            # a stop word at a sentence start hands the start on: "Please Open Tidewater"
            effective_start = effective_start and _is_capitalised(token) and lower in _STOP
            continue
        if not run and effective_start and not _is_namey(token) and _stem(token) not in mid_caps:
            effective_start = False  # the sentence's first word, and an ordinary-looking one
            continue
        effective_start = False
        run.append((start, end, token))
    yield from flush()


def _scan(text: str, *, names: bool = True) -> list[_Found]:
    text = _unify(text)
    taken = bytearray(len(text))
    found: list[_Found] = []

    def free(start: int, end: int) -> bool:
        return taken.count(0, start, end) == end - start

    for m in _NOT_CLAIMS.finditer(text):
        taken[m.start() : m.end()] = b"\x02" * (m.end() - m.start())
    for extractor in _EXTRACTORS:
        for item in extractor(text):
            if item.end > item.start and free(item.start, item.end):
                taken[item.start : item.end] = b"\x01" * (item.end - item.start)
                found.append(item)
    if not names:
        return found
    # names read a copy with taken spans blanked: list markers become spaces, claims break word runs
    masked = "".join(
        c if t == 0 else (" " if t == 2 or c == "\n" else "\x00") for c, t in zip(text, taken, strict=True)
    )
    quoted = [item for item in _quoted_names(masked) if free(item.start, item.end)]
    if quoted:  # blank them too, in one pass, so that their words are not read again as names
        pieces, at = [], 0
        for item in quoted:
            pieces += [masked[at : item.start], "\x00" * (item.end - item.start)]
            at = item.end
        masked = "".join([*pieces, masked[at:]])
    found += quoted
    found.extend(_names(masked))
    found.sort(key=lambda f: f.start)
    return found


def extract_claims(text: str) -> list[Claim]:
    """The checkable claims of ``text``, in order of position.

    Example::

        [(c.kind, c.value) for c in extract_claims("Call ext. 4357 before 5 pm about the Tunnelgate client.")]
        # [("extension", "ext 4357"), ("time", "17:00"), ("name", "Tunnelgate")]
    """
    return [Claim(f.kind, f.value, f.start, f.end) for f in _scan(text)]


# ---------------------------------------------------------------------------------------------------------
# What the sources provide: every key a claim could need, read liberally (a missed key is a false alarm).

_DIGIT_RUN = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
_PHONE_RUN = re.compile(r"\+?\d[\d \-.()/]*\d")
_LOOSE_DURATION = re.compile(
    r"(?:(?<![\w.,/:])(" + _NUM + r")|\b(" + _WORDNUM + r"|an?))(?:\s*-\s*|\s+|)(?:[a-z'-]+\s+){0,3}?("
    + _DUR_UNIT + r")(?![\w])",
    _I,
)
_RANGE_DURATION = re.compile(
    r"(?<![\w.,/:])(" + _NUM + r")\s*(?:-|to|or)\s*(?:" + _NUM + r")\s*(" + _DUR_UNIT + r")\b", _I
)
_HALF = re.compile(r"\bhalf\s+(?:an?\s+)?(" + _DUR_UNIT + r")\b", _I)
_DAY_RANGE = re.compile(
    r"(?<![\w.,/:])(\d{1,2})(?:st|nd|rd|th)?\s*(?:-|to|until|and|through)\s*(\d{1,2})(?:st|nd|rd|th)?\s+("
    + _MONTH_ANY
    + r")"
)
_WORD_NUMBER = re.compile(r"\b(" + _WORDNUM + r")\b", _I)
_WORD_ORDINAL = re.compile(r"\b(" + "|".join(_ORDINAL_WORDS) + r")\b", _I)
_TIME_ANY_DOT = re.compile(r"(?<![\w.:])([01]?\d|2[0-3])[.:]([0-5]\d)(?![\d])")


@lru_cache(maxsize=512)
def _provides(text: str) -> frozenset[_Key]:
    text = _unify(text)
    keys: set[_Key] = set()
    for item in _scan(text, names=False):  # a source's words are all taken below, capitalised or not
        for alternative in item.needs:
            keys.update(alternative)
        if item.kind == "amount":
            keys.add(("amtv", item.needs[0][0][-1]))
        elif item.kind == "date" and item.needs[0][0][0] == "date":
            day_text, month_name = item.needs[0][0][1].split()
            keys.update({("month", month_name), ("ord", day_text), ("num", day_text)})
        elif item.kind == "email":
            domain = item.value.partition("@")[2]
            keys.update(("url", d) for d in _parent_domains(domain))
        elif item.kind == "url":
            host, _, path = item.value.partition("/")
            keys.update(("url", d) for d in _parent_domains(host))
            parts = path.split("/") if path else []
            keys.update(("url", "/".join([host, *parts[:i]])) for i in range(1, len(parts) + 1))
        elif item.kind == "number" and item.needs[0][0][0] == "numu":
            keys.add(("num", item.needs[0][0][1]))
    folded = text.casefold()
    for token in _TOKEN.findall(folded):
        keys.add(("word", _stem(token)))
        if not token.isalnum():
            keys.update(("word", _stem(part)) for part in _WORD_PARTS.split(token) if part)
    for m in _DIGIT_RUN.finditer(folded):
        keys.add(("num", _canon(m.group())))
        keys.update(("num", _canon(part)) for part in re.split(r"[.,]", m.group()) if part)
    for m in _WORD_NUMBER.finditer(folded):
        keys.add(("num", _fmt(_number(m.group(1)))))
    for m in _WORD_ORDINAL.finditer(folded):
        keys.add(("ord", str(_ORDINAL_WORDS[m.group(1)])))
    for m in _LOOSE_DURATION.finditer(folded):
        word = m.group(2) or ""
        number = Fraction(1) if word in ("a", "an") else _number(m.group(1) or word)
        keys.add(_duration_key(number, m.group(3))[0])
    for m in _RANGE_DURATION.finditer(folded):
        keys.add(_duration_key(_number(m.group(1)), m.group(2))[0])
    for m in _HALF.finditer(folded):
        keys.add(_duration_key(Fraction(1, 2), m.group(1))[0])
    for m in _DAY_RANGE.finditer(text):
        month = _month_number(m.group(3))
        for day in (int(m.group(1)), int(m.group(2))):
            if 1 <= day <= 31:
                keys.update(_date_keys(day, month, None))
    if re.search(r"\bweekdays?\b", folded):  # "on weekdays" supports "Monday to Friday"
        keys.update(("wday", d) for d in _WEEKDAYS[:5])
    if re.search(r"\bweekends?\b", folded):
        keys.update(("wday", d) for d in _WEEKDAYS[5:])
    for m in _TIME_ANY_DOT.finditer(folded):
        hour, minute = int(m.group(1)), int(m.group(2))
        keys.add(("time", _time_value(hour, minute, None)))
    for m in _PHONE_RUN.finditer(folded):
        digits = _phone_digits(m.group())[:20]
        for size in range(7, len(digits) + 1):
            keys.update(("phone", digits[i : i + size]) for i in range(len(digits) - size + 1))
    return frozenset(keys)


def _parent_domains(host: str) -> list[str]:
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def check(answer: str, sources: Sequence[str], *, question: str = "") -> Grounding:
    """Which claims of ``answer`` the ``sources`` (or the user's ``question``) support, counted per kind.

    Example::

        fact = "Reset your password on the 'Unlock Me' page of the Pelican portal."
        check("Office phone addresses are held by Theilke America.", [fact]).unsupported["name"]  # 1
        check("Open 'Unlock Me' in the Pelican Portal.", [fact]).ok  # True
    """
    available: set[_Key] = set()
    for text in (*sources, question):
        if text:
            available |= _provides(text)
    supported = dict.fromkeys(KINDS, 0)
    unsupported = dict.fromkeys(KINDS, 0)
    claims: list[Claim] = []
    for item in _scan(answer):
        if any(all(key in available for key in alternative) for alternative in item.needs):
            supported[item.kind] += 1
        else:
            unsupported[item.kind] += 1
        claims.append(Claim(item.kind, item.value, item.start, item.end))
    return Grounding(supported=supported, unsupported=unsupported, claims=tuple(claims))


# ---------------------------------------------------------------------------------------------------------
# Measurement on the helpdesk data set: ``python -m decorum.guardrails.grounding``

if __name__ == "__main__":
    import json
    import random
    import time
    from pathlib import Path

    def _paraphrase(text: str) -> str:
        """A mechanical paraphrase a grounded answer might use: other spellings, reordered clauses, chatter."""
        text = re.sub(r"\bext\. (\d+)", r"extension \1", text)
        text = re.sub(
            r"\b(\d{2}):(\d{2})\b",
            lambda m: f"{int(m.group(1)) % 12 or 12}{'' if m.group(2) == '00' else '.' + m.group(2)}"
            f"{'pm' if int(m.group(1)) >= 12 else 'am'}",
            text,
        )
        text = re.sub(r"\b(\d+) minutes\b", r"\1 mins", text)
        text = re.sub(r"\b(\d+) hours\b", r"\1 hrs", text)
        text = re.sub(r"€(\d+(?:,\d{3})*)\b(?!\.)", r"\1 euros", text)
        text = re.sub(r"\b(?:2|two) weeks\b", "14 days", text)
        text = re.sub(r"\bportal\b", "Portal", text)
        clauses = [c.strip() for c in text.rstrip(".").split("; ")]
        if len(clauses) > 1:
            clauses = [*clauses[1:], clauses[0]]
        body = ". ".join(c[:1].upper() + c[1:] for c in clauses)
        return f"Hi! Sure, here is what you need: {body}. Hope this helps!"

    def _words(text: str) -> set[str]:
        return set(re.findall(r"[a-z]{4,}", text.lower()))

    def _measure() -> None:
        folder = Path(__file__).resolve().parents[1] / "adapters" / "finetune" / "domains" / "helpdesk"
        facts = {row["id"]: row["fact"] for row in map(json.loads, (folder / "facts.jsonl").open())}
        rows = [json.loads(line) for line in (folder / "test.jsonl").open()]
        rng = random.Random(20261207)
        ids = sorted(facts)
        names = sorted({c.value for f in facts.values() for c in extract_claims(f) if c.kind == "name"})
        own_ok = para_ok = stating = flagged = near_flagged = 0
        number_rows = number_flagged = name_rows = name_flagged = 0
        timings: list[float] = []
        for row in rows:
            answer, fact, question = row["answer"], facts[row["fact"]], row["question"]
            began = time.perf_counter()
            own_ok += check(answer, [fact], question=question).ok
            timings.append(time.perf_counter() - began)
            para_ok += check(_paraphrase(answer), [fact], question=question).ok
            crossed = check(answer, [facts[rng.choice([i for i in ids if i != row["fact"]])]])
            if crossed.claims:  # the answer states a number or a name
                stating += 1
                flagged += not crossed.ok
                # the other fact a retriever would most likely confuse it with: most words in common
                near = max((i for i in ids if i != row["fact"]), key=lambda i: len(_words(facts[i]) & _words(fact)))
                near_flagged += not check(answer, [facts[near]]).ok
            # one fact made wrong: the first number off by one, or one name swapped for another fact's name
            digits = re.search(r"(?<![\d.])\d+(?![\d.:])", answer)
            if digits:
                number_rows += 1
                wrong = answer[: digits.start()] + str(int(digits.group()) + 1) + answer[digits.end() :]
                number_flagged += not check(wrong, [fact], question=question).ok
            own_names = [c for c in extract_claims(answer) if c.kind == "name" and not c.value.startswith("#")]
            if own_names:
                name_rows += 1
                target = rng.choice(own_names)
                swap = rng.choice([n for n in names if n.lower() not in fact.lower() and not n.startswith("#")])
                wrong = answer[: target.start] + swap + answer[target.end :]
                name_flagged += not check(wrong, [fact], question=question).ok
        n = len(rows)
        print(f"reference answer vs its own fact:       ok in {own_ok}/{n} = {own_ok / n:.1%}")
        print(f"paraphrased answer vs its own fact:     ok in {para_ok}/{n} = {para_ok / n:.1%}")
        print(f"reference answer vs another fact:       flagged in {flagged}/{stating} = {flagged / stating:.1%}"
              f" (answers with a claim: {stating})")
        print(f"reference answer vs the nearest fact:   flagged in {near_flagged}/{stating}"
              f" = {near_flagged / stating:.1%}")
        print(f"one number off by one, vs its own fact: flagged in {number_flagged}/{number_rows}"
              f" = {number_flagged / number_rows:.1%}")
        print(f"one name swapped, vs its own fact:      flagged in {name_flagged}/{name_rows}"
              f" = {name_flagged / name_rows:.1%}")
        timings.sort()
        print(f"check time (cold cache): median {timings[n // 2] * 1e3:.2f} ms, max {timings[-1] * 1e3:.2f} ms")

    _measure()
