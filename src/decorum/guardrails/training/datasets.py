"""Loaders that turn the public labeled data sets in ``shared/data`` into multi-label examples.

Each source keeps its own labelling scheme; this module maps every row onto the
classifier's :data:`~decorum.guardrails.classifier.LABELS`:

* ``toxicity`` - the source's offensive / toxic / hateful flag.
* ``identity_attack`` - hateful or demeaning content aimed at a protected group
  (ToxiGen toxic statements, Davidson ``hate``, OLID offensive+targeted at a group
  that names a protected identity, Jigsaw madlibs ``BAD``).
* ``bias`` - stereotyping / demeaning generalisation about people by protected
  attribute: ToxiGen toxic statements and seed ``hate`` statements, madlibs ``BAD``,
  ToxiGen statements annotated as positive stereotyping, and StereoSet
  *stereotype* sentences (race, gender, religion). StereoSet anti-stereotype and
  unrelated sentences, profession items, ToxiGen benign statements and madlibs
  ``NOT_BAD`` rows are the negatives that keep benign group mentions low.
* ``obscene``, ``threat``, ``insult``, ``severe_toxicity`` - no source labels
  these directly, so they are derived from the toxic flag combined with small,
  transparent keyword patterns (see :data:`OBSCENE_RE`, :data:`THREAT_RE`,
  :data:`INSULT_RE`) and, for ``insult``, OLID's "targeted at an individual".
  They are weak labels: read the model card before relying on them.

Splits are deterministic functions of a seed and a stable per-row key (SHA-256),
so the same seed gives the same train/dev partition on every machine. The
identity-swap sets (``bias_madlibs_77k.csv`` / ``en_sentence_templates.csv``) are
split by their sentiment word (the adjective or verb that decides the label), so
held-out sentences never share a frame with a training sentence under another
identity term; they stay usable for a counterfactual-consistency report. The
identity-swapped Wikipedia test set (``toxicity_fuzzed_testset.csv``) is never
trained on, and its rows whose ``rev_id`` is in the training split are excluded
from evaluation.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import os
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from decorum.guardrails.classifier import LABELS, sha256_file

DATA_ENV = "DECORUM_SHARED_DATA"
DEV_FRACTION = 0.15
MADLIB_HOLDOUT_FRACTION = 0.35
WIKI_TRAIN_FRACTION = 0.6

_L = {name: i for i, name in enumerate(LABELS)}

OBSCENE_RE = re.compile(
    r"\b(f+u+c+k\w*|f[\*@#]+k\w*|fck\w*|motherf\w*|sh[i1\*]t\w*|bullshit|b[i1\*]tch\w*|cunt\w*|d[i1]ck\w*|"
    r"pussy|pussies|cock\w*|asshole\w*|arsehole\w*|ass|arse|dumbass|jackass|bastard\w*|whore\w*|slut\w*|"
    r"hoe|hoes|twat\w*|wank\w*|piss\w*|tits?|titties|boob\w*|porn\w*|jizz|cum|blowjob|dildo\w*|nigg\w*)\b",
    re.IGNORECASE,
)
THREAT_RE = re.compile(
    r"\b(kill\w*|murder\w*|shoot\w*|shot|stab\w*|lynch\w*|hang(ed|ing)? (them|him|her|you)|exterminat\w*|"
    r"gas (them|the)|burn (them|him|her|you|down)|slaughter\w*|genocide|wipe (them|you) out|"
    r"(should|must|deserve to|ought to|will|gonna|going to) die|beat (you|him|her|them) up|"
    r"(rape|raped) (you|her|him|them)|bomb (them|you)|put (a bullet|down)|eliminate (them|all))\b",
    re.IGNORECASE,
)
INSULT_RE = re.compile(
    r"\b(idiot\w*|stupid\w*|moron\w*|dumb\w*|retard\w*|loser\w*|worthless|pathetic|ugly|trash|scum\w*|pig|pigs|"
    r"clown\w*|imbecile\w*|fool\w*|b[i1\*]tch\w*|cunt\w*|asshole\w*|bastard\w*|whore\w*|slut\w*|hoe|hoes|"
    r"jerk\w*|dipshit|dick|dickhead|twat|freak\w*|disgusting|lowlife|garbage|vermin|animals|subhuman|"
    r"filthy|filth|coward\w*|hypocrite\w*|liar\w*|incompetent|ignorant|fag\w*|nigg\w*|rat|rats)\b",
    re.IGNORECASE,
)
IDENTITY_RE = re.compile(
    r"\b(muslim\w*|islam\w*|jew\w*|christian\w*|catholic\w*|hindu\w*|sikh\w*|buddhist\w*|atheist\w*|"
    r"black\w*|white (people|folks|man|men|woman|women|trash)|whites|asian\w*|chinese|mexican\w*|latin[oax]\w*|"
    r"hispanic\w*|arab\w*|african\w*|immigrant\w*|illegals|refugee\w*|indian\w*|native\w*|"
    r"gay\w*|lesbian\w*|homosexual\w*|queer\w*|trans\w*|lgbt\w*|bisexual\w*|dyke\w*|fag\w*|"
    r"wom[ae]n|girls|female\w*|feminist\w*|disab\w*|retard\w*|autis\w*|nigg\w*|spic\w*|wetback\w*|"
    r"chink\w*|kike\w*|raghead\w*|tranny\w*)\b",
    re.IGNORECASE,
)
_URL_RE = re.compile(r"https?://\S+|www\.\S+")
_MENTION_RE = re.compile(r"@\w+")
_SPACE_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class Example:
    """One labeled text.

    Attributes:
        text: Normalised text.
        target: One probability per label in :data:`LABELS` order.
        source: Short source name (e.g. ``"toxigen"``).
        key: Stable per-row key used for splitting.
        group: Optional target group or template family.
    """

    text: str
    target: tuple[float, ...]
    source: str
    key: str
    group: str = ""


@dataclass
class Corpus:
    """Train and dev examples plus provenance.

    Attributes:
        train: Training examples.
        dev: Held-out examples, per source.
        file_hashes: ``relative path -> SHA-256`` of every data file read.
        counterfactual: Held-out identity-swap rows (not trained on), per file.
    """

    train: list[Example] = field(default_factory=list)
    dev: list[Example] = field(default_factory=list)
    file_hashes: dict[str, str] = field(default_factory=dict)
    counterfactual: list[Example] = field(default_factory=list)


def shared_data_dir() -> Path:
    """Return ``$DECORUM_SHARED_DATA`` or ``<repo>/../shared/data``."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[4]
    return repo.parent / "shared" / "data"


def normalise(text: str) -> str:
    """Unescape HTML, replace URLs and @-mentions with placeholders, squeeze whitespace."""
    text = html.unescape(text)
    text = text.replace("\\n", " ")
    text = _URL_RE.sub("URL", text)
    text = _MENTION_RE.sub("@USER", text)
    text = re.sub(r"^(RT\s+)?(@USER:?\s*)+", "", text.strip())
    return _SPACE_RE.sub(" ", text).strip()


def _fraction(seed: int, *parts: str) -> float:
    digest = hashlib.sha256("\x1f".join((str(seed), *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_dev(seed: int, source: str, key: str, fraction: float = DEV_FRACTION) -> bool:
    """Deterministic split: True when the row belongs to the dev split."""
    return _fraction(seed, source, key) < fraction


def make_target(toxic: float, **extra: float) -> tuple[float, ...]:
    """Build a target vector.

    Args:
        toxic: Toxicity label (0-1).
        **extra: Other labels by name.

    Returns:
        A tuple in :data:`LABELS` order.
    """
    target = [0.0] * len(LABELS)
    target[_L["toxicity"]] = float(toxic)
    for name, value in extra.items():
        target[_L[name]] = float(value)
    return tuple(target)


def lexical_target(
    text: str,
    toxic: float,
    *,
    identity: float = 0.0,
    bias: float = 0.0,
    insult: float | None = None,
    severe: float | None = None,
) -> tuple[float, ...]:
    """Derive sub-labels for a toxic text from keyword patterns.

    Args:
        text: The text.
        toxic: Toxicity label; sub-labels stay 0 when it is 0.
        identity: identity_attack label.
        bias: bias label.
        insult: Explicit insult label, else derived from :data:`INSULT_RE`.
        severe: Explicit severe label, else threat-and-identity / strong threat.

    Returns:
        Target vector.
    """
    if toxic < 0.5:
        return make_target(toxic, bias=bias)
    obscene = 1.0 if OBSCENE_RE.search(text) else 0.0
    threat = 1.0 if THREAT_RE.search(text) else 0.0
    ins = insult if insult is not None else (1.0 if INSULT_RE.search(text) else 0.0)
    sev = severe if severe is not None else (1.0 if threat and (identity >= 0.5 or obscene) else 0.0)
    return make_target(
        toxic, severe_toxicity=sev, obscene=obscene, threat=threat, insult=ins, identity_attack=identity, bias=bias
    )


class _Reader:
    def __init__(self, root: Path, hashes: dict[str, str]) -> None:
        self.root = root
        self.hashes = hashes

    def path(self, rel: str) -> Path:
        path = self.root / rel
        if rel not in self.hashes:
            self.hashes[rel] = sha256_file(path)
        return path

    def csv_rows(self, rel: str, **kwargs: object) -> Iterator[dict[str, str]]:
        with open(self.path(rel), encoding="utf-8", newline="") as handle:
            yield from csv.DictReader(handle, **kwargs)  # type: ignore[arg-type]

    def jsonl(self, rel: str) -> Iterator[dict[str, object]]:
        with open(self.path(rel), encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)


def _davidson(r: _Reader) -> Iterator[Example]:
    for row in r.csv_rows("davidson/labeled_data.csv"):
        text = normalise(row["tweet"])
        if not text:
            continue
        cls = int(row["class"])
        count = max(1, int(row["count"]))
        hate_share = int(row["hate_speech"]) / count
        key = row[""] or text
        if cls == 2:
            target = make_target(0.0)
        elif cls == 1:
            target = lexical_target(text, 1.0)
        else:
            target = lexical_target(text, 1.0, identity=1.0, severe=1.0 if hate_share >= 0.99 and count >= 3 else None)
        yield Example(text, target, "davidson", key, f"class{cls}")


def _olid_row(row: dict[str, str], source: str) -> Example | None:
    text = normalise(row["tweet"])
    if not text:
        return None
    off = row["subtask_a"] == "OFF"
    tin = row.get("subtask_b") == "TIN"
    tgt = row.get("subtask_c", "NULL")
    identity = 1.0 if off and tgt == "GRP" and IDENTITY_RE.search(text) else 0.0
    insult = 1.0 if off and tin and tgt == "IND" else None
    target = lexical_target(text, 1.0 if off else 0.0, identity=identity, insult=insult)
    return Example(text, target, source, row["id"], row["subtask_a"])


def _olid_train(r: _Reader) -> Iterator[Example]:
    for row in r.csv_rows("olid/olid-training-v1.0.tsv", delimiter="\t", quoting=csv.QUOTE_NONE):
        ex = _olid_row(row, "olid")
        if ex:
            yield ex


def _olid_test(r: _Reader) -> Iterator[Example]:
    for row in r.csv_rows("olid/olid_test_levela_with_labels.tsv", delimiter="\t", quoting=csv.QUOTE_NONE):
        ex = _olid_row(row, "olid_test")
        if ex:
            yield ex


def toxigen_is_toxic(human: float, ai: float) -> bool:
    """ToxiGen rule from the data README: toxic if human + ai > 5.5 or human > 3."""
    return human + ai > 5.5 or human > 3


def _toxigen(r: _Reader) -> Iterator[Example]:
    for row in r.jsonl("toxigen/toxigen_annotated_normalized.jsonl"):
        text = normalise(str(row["text"]))
        if not text:
            continue
        human = float(row["toxicity_human"])  # type: ignore[arg-type]
        ai = float(row["toxicity_ai"])  # type: ignore[arg-type]
        group = str(row.get("target_group", ""))
        if toxigen_is_toxic(human, ai):
            target = lexical_target(
                text, 1.0, identity=1.0, bias=1.0, severe=1.0 if human >= 5.0 and THREAT_RE.search(text) else None
            )
        else:
            stereo = str(row.get("stereotyping", ""))
            bias = 0.7 if stereo == "uses positive stereotyping" else 0.3 if stereo.startswith("maybe") else 0.0
            target = make_target(0.0, bias=bias)
        yield Example(text, target, "toxigen", text.lower(), group)


def _toxigen_demos(r: _Reader) -> Iterator[Example]:
    for row in r.csv_rows("toxigen/toxigen_demonstrations.csv"):
        text = normalise(row["text"])
        if not text:
            continue
        if row["label"] == "hate":
            target = lexical_target(text, 1.0, identity=1.0, bias=1.0)
        else:
            target = make_target(0.0)
        yield Example(text, target, "toxigen_demos", text.lower(), row.get("group", ""))


def _stereoset(r: _Reader) -> Iterator[Example]:
    for row in r.jsonl("stereoset/stereoset_dev_normalized.jsonl"):
        task = str(row["task"])
        btype = str(row["bias_type"])
        context = str(row["context"])
        item_key = f"{task}|{context}|{row['target']}"
        for kind in ("stereotype", "anti_stereotype", "unrelated"):
            sentence = str(row[kind])
            text = normalise(sentence if task == "intrasentence" else f"{context} {sentence}")
            # Soft positive: the stereotype/anti-stereotype contrast is often a single, mild word.
            bias = 0.8 if kind == "stereotype" and btype in ("race", "gender", "religion") else 0.0
            # Examples of one item share a key, so they land in the same split.
            yield Example(text, make_target(0.0, bias=bias), "stereoset", item_key, f"{btype}:{kind}")


_MADLIB_PATTERNS = (
    re.compile(r"^\S+ is an? (\S+) ", re.IGNORECASE),
    re.compile(r"^being .+ is (\S+?)\.?$", re.IGNORECASE),
    re.compile(r"^you are an? (\S+) ", re.IGNORECASE),
    re.compile(r"^i (am|hate) ", re.IGNORECASE),
    re.compile(r"^(\S+) ", re.IGNORECASE),
)


def madlib_key(text: str) -> str:
    """Return the sentiment word (adjective or verb) that decides a madlib's label."""
    for pattern in _MADLIB_PATTERNS:
        match = pattern.search(text.strip())
        if match:
            return match.group(1).lower()
    return text.lower()


def madlib_held_out(seed: int, text: str) -> bool:
    """True when a madlib/template sentence is held out from training (by sentiment word)."""
    return _fraction(seed, "madlib", madlib_key(text)) < MADLIB_HOLDOUT_FRACTION


def _identity_sets(r: _Reader, rel: str, text_col: str, toxic_col: str, toxic_value: str, frame_col: str,
                   source: str) -> Iterator[Example]:
    """Jigsaw's identity-term sets (madlibs, sentence templates): one labelled phrase per row."""
    for row in r.csv_rows(f"jigsaw_unintended_bias/{rel}"):
        text = normalise(row[text_col])
        if row[toxic_col] == toxic_value:
            target = lexical_target(text, 1.0, identity=1.0, bias=1.0)
        else:
            target = make_target(0.0)
        yield Example(text, target, source, text.lower(), row[frame_col])


def _madlibs(r: _Reader) -> Iterator[Example]:
    return _identity_sets(r, "bias_madlibs_77k.csv", "Text", "Label", "BAD", "Template", "madlibs")


def _templates(r: _Reader) -> Iterator[Example]:
    return _identity_sets(r, "en_sentence_templates.csv", "phrase", "toxicity", "toxic", "template", "templates")


def _wiki(r: _Reader, fuzzed: bool) -> Iterator[Example]:
    name = "toxicity_fuzzed_testset.csv" if fuzzed else "toxicity_nonfuzzed_testset.csv"
    for row in r.csv_rows(f"jigsaw_unintended_bias/{name}"):
        text = normalise(row["comment"].replace("NEWLINE_TOKEN", " ").replace("TAB_TOKEN", " "))
        if not text:
            continue
        toxic = 1.0 if row["toxic"] == "True" else 0.0
        yield Example(text, lexical_target(text, toxic), "wiki_fuzzed" if fuzzed else "wiki", row["rev_id"])


def wiki_in_train(seed: int, rev_id: str) -> bool:
    """True when a Wikipedia test comment (by ``rev_id``) is in the training split."""
    return _fraction(seed, "wiki", rev_id) < WIKI_TRAIN_FRACTION


def _bitext(r: _Reader) -> Iterator[Example]:
    for row in r.jsonl("bitext_customer_support/bitext_sft.jsonl"):
        text = normalise(str(row["instruction"]))
        if not text or OBSCENE_RE.search(text) or THREAT_RE.search(text):
            continue
        yield Example(text, make_target(0.0), "bitext", text.lower(), str(row.get("intent", "")))


# Identity adjectives for counterfactual logit pairing (``train --clp``), by attribute. A training row's
# first match is swapped for another term of the same attribute, so the sentence stays grammatical.
SWAP_TERMS: dict[str, tuple[str, ...]] = {
    "race": ("black", "white", "asian", "african", "african american", "hispanic", "latino", "latina",
             "native american", "middle eastern", "arab", "indigenous", "european", "caucasian"),
    "nationality": ("mexican", "chinese", "indian", "japanese", "canadian", "american", "nigerian", "russian",
                    "polish", "irish", "pakistani", "korean", "brazilian", "german", "somali", "filipino"),
    "religion": ("christian", "muslim", "jewish", "buddhist", "catholic", "protestant", "sikh", "hindu",
                 "atheist", "mormon", "taoist"),
    "sexuality": ("gay", "lesbian", "bisexual", "straight", "heterosexual", "homosexual", "queer", "asexual"),
    "gender": ("transgender", "trans", "nonbinary", "cisgender", "male", "female"),
    "age": ("old", "older", "young", "younger", "elderly", "teenage", "middle aged", "millennial"),
    "disability": ("blind", "deaf", "disabled", "paralyzed", "autistic", "wheelchair-using", "dyslexic"),
}
_SWAP_RE = re.compile(
    r"\b(" + "|".join(re.escape(t) for t in sorted({t for ts in SWAP_TERMS.values() for t in ts}, key=len,
                                                    reverse=True)) + r")\b",
    re.IGNORECASE,
)
_SWAP_GROUP = {t: group for group, ts in SWAP_TERMS.items() for t in ts}
_ALL_SWAP_TERMS = tuple(t for ts in SWAP_TERMS.values() for t in ts)


def has_identity_term(text: str) -> bool:
    """True when ``text`` names an identity term that :func:`swap_identity` can replace."""
    return _SWAP_RE.search(text) is not None


def swap_identity(text: str, rng: random.Random, *, any_attribute: bool = False) -> str | None:
    """Replace the first identity term in ``text`` with another of the same attribute (case kept).

    Args:
        text: A sentence.
        rng: Chooses the replacement.
        any_attribute: Choose the replacement among the terms of every attribute ("a paralyzed colleague" ->
            "a Jewish colleague"), not only the term's own.

    Returns:
        The counterfactual sentence, or None when ``text`` names no identity term.
    """
    match = _SWAP_RE.search(text)
    if match is None:
        return None
    found = match.group(1)
    pool = _ALL_SWAP_TERMS if any_attribute else SWAP_TERMS[_SWAP_GROUP[found.lower()]]
    options = [t for t in pool if t != found.lower()]
    new = rng.choice(options)
    if found.isupper() and len(found) > 1:
        new = new.upper()
    elif found.istitle():
        new = new.title()
    elif found[0].isupper():
        new = new[0].upper() + new[1:]
    return text[: match.start()] + new + text[match.end() :]


def stereotype_pairs(examples: Sequence[Example]) -> list[tuple[int, int]]:
    """Index pairs (stereotype, anti-stereotype) of the StereoSet items among ``examples``."""
    by_item: dict[str, dict[str, int]] = {}
    for i, ex in enumerate(examples):
        if ex.source == "stereoset" and ex.group:
            by_item.setdefault(ex.key, {})[ex.group.rsplit(":", 1)[-1]] = i
    return [(v["stereotype"], v["anti_stereotype"]) for _, v in sorted(by_item.items())
            if "stereotype" in v and "anti_stereotype" in v]


# Group-swapped twins of StereoSet stereotypes (CrowS-Pairs style: same sentence, a contrasting group). StereoSet's
# own pairs change the attribute word for a fixed group; these change the group for a fixed attribute, so the ranking
# loss has to learn which group a stereotype is attached to, not only which words are stereotypical.
_GENDER_TWINS = {
    "she": "he", "he": "she", "his": "her", "him": "her", "hers": "his", "herself": "himself", "himself": "herself",
    "woman": "man", "man": "woman", "women": "men", "men": "women", "girl": "boy", "boy": "girl", "girls": "boys",
    "boys": "girls", "mother": "father", "father": "mother", "mothers": "fathers", "fathers": "mothers",
    "mom": "dad", "dad": "mom", "moms": "dads", "dads": "moms", "mommy": "daddy", "daddy": "mommy",
    "sister": "brother", "brother": "sister", "sisters": "brothers", "brothers": "sisters",
    "schoolgirl": "schoolboy", "schoolboy": "schoolgirl", "schoolgirls": "schoolboys", "schoolboys": "schoolgirls",
    "lady": "gentleman", "gentleman": "lady", "ladies": "gentlemen", "gentlemen": "ladies", "male": "female",
    "female": "male", "males": "females", "females": "males", "grandfather": "grandmother",
    "grandmother": "grandfather", "grandpa": "grandma", "grandma": "grandpa", "wife": "husband", "husband": "wife",
    "daughter": "son", "son": "daughter", "aunt": "uncle", "uncle": "aunt", "mr": "mrs", "mrs": "mr",
}
_GENDER_TWIN_RE = re.compile(
    r"\b(" + "|".join(sorted(_GENDER_TWINS, key=len, reverse=True)) + r"|her)\b", re.IGNORECASE
)
# "her" is "his" before a noun phrase and "him" at the end of a clause.
_HER_AS_OBJECT_RE = re.compile(r"\s*(?:[.,;:!?)]|$|\b(?:and|or|to|for|with|at|in|on|about|because|but|so|that|"
                               r"when|if|as|again|too|up|out|back|off|down|away)\b)", re.IGNORECASE)
_STEREOSET_COUNTRIES = {
    "Ethiopia": "Ethiopian", "Afghanistan": "Afghan", "Iraq": "Iraqi", "Yemen": "Yemeni", "Somalia": "Somali",
    "Syria": "Syrian", "Vietnam": "Vietnamese", "Jordan": "Jordanian", "Sierra Leon": "Sierra Leonean",
    "Lebanon": "Lebanese", "Morocco": "Moroccan", "Ecuador": "Ecuadorian", "Bangladesh": "Bangladeshi",
    "Cameroon": "Cameroonian", "Cape Verde": "Cape Verdean", "Eriteria": "Eritrean", "Ghana": "Ghanaian",
    "Saudi Arabia": "Saudi Arabian", "Iran": "Iranian", "Japan": "Japanese", "Colombia": "Columbian",
    "Persia": "Persian", "Africa": "African", "Arabia": "Arab", "Bengal": "Bengali", "Eritrea": "Eritrean",
}
_STEREOSET_FORMS = {form: (c, d) for c, d in _STEREOSET_COUNTRIES.items() for form in (c, d)}
"""A StereoSet race target (country or nationality) -> both forms of its country."""
_STEREOSET_RACE_WORDS = ("Hispanic", "Arab", "African")
_CONTRAST_COUNTRIES = (("Canada", "Canadian"), ("Australia", "Australian"), ("Austria", "Austrian"),
                       ("Belgium", "Belgian"), ("Germany", "German"), ("Norway", "Norwegian"))
_RELIGION_TWINS = {"muslim": "christian", "muslims": "christians", "islam": "christianity", "islamic": "christian",
                   "mosque": "church", "mosques": "churches", "quran": "bible", "koran": "bible", "imam": "priest"}
_RELIGION_TWIN_RE = re.compile(r"\b(" + "|".join(_RELIGION_TWINS) + r")\b", re.IGNORECASE)


def _same_case(found: str, new: str) -> str:
    if found.isupper() and len(found) > 1:
        return new.upper()
    if found[0].isupper():
        return new[0].upper() + new[1:]
    return new.lower()


def _gender_twin(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        word = m.group(1)
        if word.lower() == "her":
            new = "him" if _HER_AS_OBJECT_RE.match(text, m.end()) else "his"
        else:
            new = _GENDER_TWINS[word.lower()]
        return _same_case(word, new)

    return _GENDER_TWIN_RE.sub(repl, text)


def _race_twin(text: str, target: str, rng: random.Random) -> str | None:
    country, demonym = rng.choice(_CONTRAST_COUNTRIES)
    if target in _STEREOSET_RACE_WORDS:
        forms = {target: demonym}
    elif target in _STEREOSET_FORMS:
        c, d = _STEREOSET_FORMS[target]
        forms = {c: country, d: demonym}
    else:
        return None
    alternatives = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    pattern = re.compile(r"\b(" + alternatives + r")", re.IGNORECASE)
    lookup = {f.lower(): v for f, v in forms.items()}
    twin = pattern.sub(lambda m: _same_case(m.group(1), lookup[m.group(1).lower()]), text)
    return twin if twin != text else None


def group_swapped_pairs(examples: Sequence[Example], seed: int) -> list[tuple[int, str]]:
    """Group-swapped twins of the StereoSet stereotype sentences among ``examples``.

    Gender items swap every gendered word (pronouns included); race items name a contrasting country or
    nationality (:data:`_CONTRAST_COUNTRIES`) instead of the target; religion items about Muslims name Christians.
    Targets with no clear contrast (professions, European nationalities, "Bible", "Brahmin") are left out.

    Returns:
        ``[(index of the stereotype sentence, its twin), ...]``: the twin should score lower on ``bias``.
    """
    rng = random.Random(f"{seed}|group-swap")
    out: list[tuple[int, str]] = []
    for i, ex in enumerate(examples):
        if ex.source != "stereoset" or not ex.group.endswith(":stereotype"):
            continue
        btype = ex.group.split(":", 1)[0]
        target = ex.key.rsplit("|", 1)[-1]
        if btype == "gender":
            twin: str | None = _gender_twin(ex.text)
        elif btype == "race":
            twin = _race_twin(ex.text, target, rng)
        elif btype == "religion" and target.lower() == "muslim":
            twin = _RELIGION_TWIN_RE.sub(lambda m: _same_case(m.group(1), _RELIGION_TWINS[m.group(1).lower()]), ex.text)
        else:
            twin = None
        if twin and twin.lower() != ex.text.lower():
            out.append((i, twin))
    return out


TRAINING_PAIRS = Path(__file__).parent / "data" / "stereotype_pairs_train.jsonl"
"""Minimal stereotype pairs written for training (CrowS-Pairs style), by a different author from both suites."""
NEAR_DUPLICATE = 0.6
"""Word-set Jaccard similarity from which a written training pair counts as a copy of a held-out text."""


def training_pairs(hashes: dict[str, str], path: Path | None = None
                   ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The written training pairs as (train, dev) lists of (stereotype, anti-stereotype) texts.

    Well-known stereotypes recur in every collection, so a pair is dropped when either sentence is a near
    duplicate of a text in a held-out suite (:data:`HELD_OUT_SUITES`): the same words, or a word-set Jaccard
    similarity of at least :data:`NEAR_DUPLICATE` ("Female CEOs are too emotional to run a company" against
    "Women are too emotional to run a company").
    """
    path = path or TRAINING_PAIRS
    raw = path.read_bytes()
    hashes[f"decorum/{path.name}"] = hashlib.sha256(raw).hexdigest()
    held_out = [set(key.split()) for key in held_out_keys()]

    def near_duplicate(text: str) -> bool:
        words = set(_decontam_key(text).split())
        return any(len(words & h) >= NEAR_DUPLICATE * len(words | h) for h in held_out)

    train: list[tuple[str, str]] = []
    dev: list[tuple[str, str]] = []
    for line in raw.decode("utf-8").splitlines():
        row = json.loads(line)
        pair = (normalise(row["stereotype"]), normalise(row["anti_stereotype"]))
        if near_duplicate(pair[0]) or near_duplicate(pair[1]):
            continue
        (dev if row.get("split") == "dev" else train).append(pair)
    return train, dev


def _cap(examples: list[Example], cap: int | None, rng: random.Random) -> list[Example]:
    if cap is None or len(examples) <= cap:
        return examples
    return rng.sample(examples, cap)


def _by_toxic(examples: Iterable[Example]) -> tuple[list[Example], list[Example]]:
    pos: list[Example] = []
    neg: list[Example] = []
    for ex in examples:
        (pos if ex.target[_L["toxicity"]] >= 0.5 or ex.target[_L["bias"]] >= 0.5 else neg).append(ex)
    return pos, neg


# Per-source caps on training rows: (positives, negatives). None = all.
TRAIN_CAPS: dict[str, tuple[int | None, int | None]] = {
    "davidson": (5500, None),
    "olid": (None, 5000),
    "toxigen": (None, None),
    "toxigen_demos": (None, None),
    "stereoset": (None, None),
    "madlibs": (1500, 1500),
    "wiki": (None, None),
    "bitext": (None, 2000),
}
DEV_CAPS: dict[str, int] = {
    "davidson": 1500,
    "olid_test": 860,
    "toxigen": 1400,
    "toxigen_demos": 200,
    "stereoset": 1500,
    "templates_heldout": 1500,
    "wiki": 700,
    "bitext": 400,
}


_LEET = {"a": "@", "e": "3", "i": "1", "o": "0", "s": "$", "t": "7"}


def obfuscate(text: str, rng: random.Random) -> str:
    """Spell offensive words the way people dodge filters.

    Applies one of: leetspeak on keyword hits, an inserted asterisk or space in
    keyword hits, or dropping a vowel, to each word matched by the obscene /
    insult / identity patterns (or to two random words when none match).

    Args:
        text: Source text.
        rng: Random source.

    Returns:
        The obfuscated text.
    """

    def mangle(word: str) -> str:
        if len(word) < 3:
            return word
        style = rng.randrange(4)
        if style == 0:
            chars = [(_LEET.get(c.lower(), c) if rng.random() < 0.6 else c) for c in word]
            return "".join(chars)
        pos = rng.randrange(1, len(word) - 1)
        if style == 1:
            return word[:pos] + "*" + word[pos + 1 :]
        if style == 2:
            return word[:pos] + " " + word[pos:]
        return "".join(c for i, c in enumerate(word) if not (i and c.lower() in "aeiou" and rng.random() < 0.7))

    hits = False

    def repl(match: re.Match[str]) -> str:
        nonlocal hits
        hits = True
        return mangle(match.group(0))

    out = OBSCENE_RE.sub(repl, text)
    out = INSULT_RE.sub(repl, out) if not hits else out
    out = IDENTITY_RE.sub(repl, out) if not hits else out
    if not hits:
        words = out.split()
        for _ in range(min(2, len(words))):
            k = rng.randrange(len(words))
            words[k] = mangle(words[k])
        out = " ".join(words)
    return out


_COUNTER_TEMPLATES = (
    '"{x}" is a hateful thing to say, and it is simply not true.',
    'Someone in the thread wrote "{x}". That is bigotry and we should call it out.',
    'Saying "{x}" is not okay. Please stop spreading hate.',
    'I keep hearing people say "{x}" and it makes me sad, because it is wrong.',
    'Statements like "{x}" hurt real people. We do not tolerate that here.',
    "It is ignorant to claim that {x}",
    "My uncle thinks {x} I told him that is a racist stereotype.",
)
_NEGATIONS = (
    (re.compile(r"^(being .+?) is (\S+)", re.IGNORECASE), r"\1 is not \2"),
    (re.compile(r"^i hate (.+)$", re.IGNORECASE), r"I don't hate \1"),
    (re.compile(r"^(\S+) is an? (\S+) (.+)$", re.IGNORECASE), r"\1 is not a \2 \3"),
    (re.compile(r"^you are an? (\S+) (.+)$", re.IGNORECASE), r"nobody should call you a \1 \2"),
)


def augment(
    train: list[Example],
    seed: int,
    *,
    obfuscated: int = 1500,
    counter: int = 900,
    negated: int = 600,
    neutral_count: int = 600,
    idiom_count: int = 150,
    threat_count: int = 150,
) -> list[Example]:
    """Make extra training rows for known hard cases (training split only).

    * obfuscated spellings of toxic rows keep their labels;
    * counter-speech that quotes or denounces a hateful ToxiGen statement is clean;
    * negated madlibs ("Being gay is not disgusting", "I don't hate Muslims") and
      negated short ToxiGen statements ("X are not Y") are clean;
    * neutral workplace mentions of identity groups and kind remarks about individual
      people of a group are clean;
    * direct personal threats ("I'm going to hurt you tonight") are toxic threats;
    * violent-sounding technical idioms ("kill the staging server") are clean.

    Args:
        train: Training rows (never dev rows).
        seed: Sampling seed.
        obfuscated: Number of obfuscated copies.
        counter: Number of counter-speech rows.
        negated: Number of negated rows.

    Returns:
        The new rows (sources ``aug_obfuscated``, ``aug_counter``, ``aug_negated``,
        ``aug_neutral``, ``aug_threat``, ``aug_idiom``).
    """
    rng = random.Random(seed * 7919 + 1)
    extra: list[Example] = []
    toxic = [ex for ex in train if ex.target[_L["toxicity"]] >= 0.5 and len(ex.text) < 400]
    for ex in rng.sample(toxic, min(obfuscated, len(toxic))):
        text = obfuscate(ex.text, rng)
        if text != ex.text:
            extra.append(Example(text, ex.target, "aug_obfuscated", "obf:" + ex.key, ex.group))
    hateful = [
        ex
        for ex in train
        if ex.source in ("toxigen", "toxigen_demos")
        and ex.target[_L["identity_attack"]] >= 0.5
        and 15 < len(ex.text) < 160
    ]
    for ex in rng.sample(hateful, min(counter, len(hateful))):
        body = ex.text.rstrip(" .!")
        tmpl = rng.choice(_COUNTER_TEMPLATES)
        text = tmpl.format(x=body + ("." if "{x} " in tmpl else ""))
        extra.append(Example(text, make_target(0.0), "aug_counter", "ctr:" + ex.key, ex.group))
    bad = [ex for ex in train if ex.source == "madlibs" and ex.target[_L["toxicity"]] >= 0.5]
    rng.shuffle(bad)
    made = 0
    for ex in bad:
        if made >= negated:
            break
        for pattern, repl in _NEGATIONS:
            if pattern.search(ex.text):
                text = pattern.sub(repl, ex.text, count=1)
                extra.append(Example(text, make_target(0.0), "aug_negated", "neg:" + ex.key, ex.group))
                made += 1
                break
    simple = re.compile(
        r"^(?!(?:they|we|you|there|these|those|people|some)\b)((?:all |most )?[a-z]+(?: [a-z]+)?) (are) "
        r"(?!not )([^,;]{3,50})$",
        re.IGNORECASE,
    )
    made = 0
    for ex in rng.sample(hateful, len(hateful)):
        if made >= negated // 2:
            break
        match = simple.match(ex.text.rstrip(" .!"))
        if match and not OBSCENE_RE.search(ex.text) and not INSULT_RE.search(ex.text):
            text = f"{match.group(1)} {match.group(2)} not {match.group(3)}"
            extra.append(Example(text, make_target(0.0), "aug_negated", "negtg:" + ex.key, ex.group))
            made += 1
    groups = [
        ("Muslim", "Muslims"),
        ("Jewish", "Jewish people"),
        ("Christian", "Christians"),
        ("Hindu", "Hindus"),
        ("Sikh", "Sikhs"),
        ("Black", "Black people"),
        ("Asian", "Asian people"),
        ("Chinese", "Chinese people"),
        ("Mexican", "Mexicans"),
        ("Latino", "Latinos"),
        ("Arab", "Arabs"),
        ("Native American", "Native Americans"),
        ("gay", "gay people"),
        ("lesbian", "lesbians"),
        ("trans", "trans people"),
        ("bisexual", "bisexual people"),
        ("deaf", "deaf people"),
        ("blind", "blind people"),
        ("disabled", "disabled people"),
        ("autistic", "autistic people"),
        ("immigrant", "immigrants"),
        ("refugee", "refugees"),
        ("female", "women"),
        ("older", "older people"),
        ("Indian", "Indians"),
        ("African", "Africans"),
    ]
    frames_sg = (
        "Our new product manager is {a} {sg} woman who moved here last year.",
        "I had lunch with {a} {sg} colleague from the Berlin office today.",
        "The keynote speaker is {a} {sg} engineer who built the payments system.",
        "My sister married {a} {sg} man and the wedding was in June.",
        "Is there {a} {sg} employee resource group I can point a new hire to?",
        "As {a} {sg} developer, I found the onboarding docs very clear.",
    )
    frames_pl = (
        "The report covers how {pl} are represented in tech leadership.",
        "We should make the event accessible for {pl} too.",
        "The museum has a new exhibit about the history of {pl} in this city.",
        "Several {pl} joined the volunteering day on Saturday.",
        "The survey asked {pl} about their commute.",
        "There is a documentary about {pl} in the 1950s on tonight.",
    )
    neutral = []
    for sg, pl in groups:
        art = "an" if sg[0].lower() in "aeiou" else "a"
        neutral += [f.format(a=art, sg=sg, pl=pl) for f in frames_sg]
        neutral += [f.format(pl=pl) for f in frames_pl]
    people = (
        "coworker",
        "manager",
        "dentist",
        "landlord",
        "teammate",
        "roommate",
        "doctor",
        "teacher",
        "friend",
        "cousin",
        "neighbour",
        "mentor",
    )
    positives = (
        "really kind",
        "great at explaining things",
        "always on time",
        "very generous",
        "funny",
        "a brilliant cook",
        "so helpful",
        "a good listener",
    )
    frames_person = (
        "My {p} is {sg} and {she} is {good}.",
        "Our {p} is {a} {sg} guy who is {good}.",
        "Had coffee with my {sg} {p} today, {she} is {good}.",
        "The {sg} family next door is {good2}.",
        "My {p} and her {sg} partner are {good2}.",
        "I really appreciate my {sg} {p}, {she} is {good}.",
        "My {sg} in-laws are {good2}.",
        "The {sg} couple who run the bakery are {good2}.",
        "Our {sg} hosts in Lisbon were {good2}.",
        "The {sg} students in my evening class are {good2}.",
    )
    good2 = ("wonderful", "very welcoming", "so friendly", "great people", "kind to everyone")
    for sg, _pl in groups:
        art = "an" if sg[0].lower() in "aeiou" else "a"
        for frame in frames_person:
            neutral.append(
                frame.format(
                    p=rng.choice(people),
                    sg=sg,
                    a=art,
                    she=rng.choice(("she", "he", "they")),
                    good=rng.choice(positives),
                    good2=rng.choice(good2),
                ).replace("they is", "they are")
            )
    for text in rng.sample(neutral, min(len(neutral), neutral_count)):
        extra.append(Example(text, make_target(0.0), "aug_neutral", "neu:" + text.lower()))
    threats = (
        "I'm going to {v} you{tail}",
        "I will {v} you{tail}",
        "I'll {v} you and your family{tail}",
        "Watch your back, I'm going to {v} you{tail}",
        "Keep talking and I will {v} you{tail}",
        "Someone should {v} you{tail}",
    )
    verbs = ("kill", "hurt", "stab", "shoot", "beat up", "strangle", "break your legs and then kill")
    tails = ("", ".", " tonight.", " when you leave the office.", " if you say that again.", ", I know where you live.")
    for _ in range(threat_count):
        text = rng.choice(threats).format(v=rng.choice(verbs), tail=rng.choice(tails))
        target = make_target(1.0, threat=1.0, insult=0.0)
        extra.append(Example(text, target, "aug_threat", "thr:" + text.lower()))
    idioms = (
        "Can you kill the {x} before you leave?",
        "Let's shoot for {when} to finish the {x}.",
        "The {x} keeps dying {when}, any ideas?",
        "I'm going to nuke the {x} and start over.",
        "This {x} is killing me, it has been slow all day.",
        "We need to execute the {x} migration {when}.",
        "Please terminate the {x} when you're done.",
        "Hang on, the {x} is still running.",
        "The demo totally bombed {when}, but the {x} works now.",
        "Shoot me a message when the {x} is back up.",
    )
    objects = (
        "staging server",
        "build",
        "old branch",
        "cron job",
        "database",
        "deploy",
        "test suite",
        "process",
        "container",
        "pipeline",
    )
    whens = ("tomorrow", "this weekend", "on Friday", "after lunch", "yesterday", "next sprint")
    for _ in range(idiom_count):
        text = rng.choice(idioms).format(x=rng.choice(objects), when=rng.choice(whens))
        extra.append(Example(text, make_target(0.0), "aug_idiom", "idiom:" + text.lower()))
    return extra


def load_corpus(
    root: Path | None = None,
    *,
    seed: int = 13,
    max_examples: int | None = None,
    max_dev_per_source: int | None = None,
    with_augmentation: bool = False,
    with_contrastive: bool = False,
    with_context: bool = False,
    with_everyday: bool = False,
) -> Corpus:
    """Load every source, split deterministically, and cap sizes.

    Args:
        root: The ``shared/data`` folder (default :func:`shared_data_dir`).
        seed: Split and sampling seed.
        max_examples: Down-sample training rows to at most this many
            (proportionally per source).
        max_dev_per_source: Optional extra cap on dev rows per source.
        with_augmentation: Add :func:`augment` rows (built from training rows only,
            after the cap) for obfuscation, counter-speech and negation.
        with_contrastive: Add the team's contrastive families (``data/contrastive.jsonl``): its
            ``train`` split to training, its ``dev`` split to dev; texts that also occur in the
            functional test suite (``tests/functional``) are dropped.
        with_context: Add the round-2 context families (``data/context.jsonl``: negation, homonyms, anger at
            things, counter-speech by reference and by quote, implicit derogation, questions, pronouns) the
            same way.
        with_everyday: Add the everyday benign requests of ``data/everyday_train.jsonl`` (public intent
            corpora, disjoint from ``tests/benign``), all clean, split by :func:`everyday_examples`.

    Returns:
        The corpus with SHA-256 digests of every file read.

    Raises:
        FileNotFoundError: If the data folder is absent.
    """
    root = Path(root) if root is not None else shared_data_dir()
    if not root.is_dir():
        raise FileNotFoundError(f"shared data folder not found: {root} (set {DATA_ENV})")
    corpus = Corpus()
    reader = _Reader(root, corpus.file_hashes)
    rng = random.Random(seed)
    train_by_source: dict[str, list[Example]] = {}
    dev_by_source: dict[str, list[Example]] = {}

    def add(source: str, rows: Iterable[Example], dev_rule: object = None) -> None:
        seen: set[str] = set()
        train: list[Example] = []
        dev: list[Example] = []
        for ex in rows:
            norm = ex.text.lower()
            if norm in seen:
                continue
            seen.add(norm)
            in_dev = dev_rule(ex) if callable(dev_rule) else is_dev(seed, source, ex.key)
            (dev if in_dev else train).append(ex)
        train_by_source.setdefault(source, []).extend(train)
        dev_by_source.setdefault(source, []).extend(dev)

    add("davidson", _davidson(reader))
    add("olid", _olid_train(reader), dev_rule=lambda ex: False)
    add("olid_test", _olid_test(reader), dev_rule=lambda ex: True)
    add("toxigen", _toxigen(reader))
    add("toxigen_demos", _toxigen_demos(reader))
    add("stereoset", _stereoset(reader))
    add("madlibs", (ex for ex in _madlibs(reader) if not madlib_held_out(seed, ex.text)), dev_rule=lambda ex: False)
    held = [ex for ex in _templates(reader) if madlib_held_out(seed, ex.text)]
    add("templates_heldout", held, dev_rule=lambda ex: True)
    add("wiki", _wiki(reader, fuzzed=False), dev_rule=lambda ex: not wiki_in_train(seed, ex.key))
    add("bitext", _bitext(reader))
    corpus.counterfactual = [ex for ex in _wiki(reader, fuzzed=True) if not wiki_in_train(seed, ex.key)]

    # Drop dev texts that also occur in training (cross-source duplicates).
    train_texts = {ex.text.lower() for rows in train_by_source.values() for ex in rows}
    for source, rows in train_by_source.items():
        pos, neg = _by_toxic(rows)
        pos_cap, neg_cap = TRAIN_CAPS.get(source, (None, None))
        corpus.train.extend(_cap(pos, pos_cap, rng) + _cap(neg, neg_cap, rng))
    for source, rows in dev_by_source.items():
        rows = [ex for ex in rows if ex.text.lower() not in train_texts]
        cap = DEV_CAPS.get(source)
        if max_dev_per_source is not None:
            cap = min(cap or max_dev_per_source, max_dev_per_source)
        corpus.dev.extend(_cap(rows, cap, rng))
    if max_examples is not None and len(corpus.train) > max_examples:
        corpus.train = rng.sample(corpus.train, max_examples)
    if with_augmentation:
        scale = 1.0 if max_examples is None else min(1.0, max_examples / 40000)
        corpus.train.extend(
            augment(
                corpus.train, seed, obfuscated=int(1500 * scale), counter=int(900 * scale), negated=int(600 * scale)
            )
        )
    if with_contrastive:
        train_rows, dev_rows = contrastive_examples(corpus.file_hashes)
        corpus.train.extend(train_rows)
        corpus.dev.extend(dev_rows)
    if with_context:
        train_rows, dev_rows = contrastive_examples(corpus.file_hashes, CONTEXT, source="context")
        corpus.train.extend(train_rows)
        corpus.dev.extend(dev_rows)
    if with_everyday:
        train_rows, dev_rows = everyday_examples(corpus.file_hashes, seed=seed)
        corpus.train.extend(train_rows)
        corpus.dev.extend(dev_rows)
    corpus.train.sort(key=lambda ex: (ex.source, ex.key, ex.text))
    rng.shuffle(corpus.train)
    return corpus


CONTRASTIVE = Path(__file__).parent / "data" / "contrastive.jsonl"
CONTEXT = Path(__file__).parent / "data" / "context.jsonl"
EVERYDAY_TRAIN = Path(__file__).parent / "data" / "everyday_train.jsonl"
FUNCTIONAL_SUITE = Path(__file__).resolve().parents[4] / "tests" / "functional"
# Suites never trained on: the team's, and one written independently of both it and the training families.
HELD_OUT_SUITES = (FUNCTIONAL_SUITE, FUNCTIONAL_SUITE.parent / "functional_independent")


def contrastive_examples(hashes: dict[str, str], families: Path = CONTRASTIVE, *, source: str = "contrastive"
                         ) -> tuple[list[Example], list[Example]]:
    """Generated contrastive families (the JSONL file ``families``) as (train, dev) examples of ``source``,
    decontaminated against the held-out suites (:data:`HELD_OUT_SUITES`)."""
    held_out = held_out_keys()
    raw = families.read_bytes()
    hashes[f"decorum/{families.name}"] = hashlib.sha256(raw).hexdigest()
    train: list[Example] = []
    dev: list[Example] = []
    for line in raw.decode("utf-8").splitlines():
        row = json.loads(line)
        if _decontam_key(row["text"]) in held_out:
            continue
        target = tuple(float(row["labels"][label]) for label in LABELS)
        ex = Example(normalise(row["text"]), target, source, row["family"] + ":" + row["text"], row["family"])
        (dev if row.get("split") == "dev" else train).append(ex)
    return train, dev


def everyday_examples(hashes: dict[str, str], path: Path = EVERYDAY_TRAIN, *, seed: int = 13
                      ) -> tuple[list[Example], list[Example]]:
    """Everyday benign requests (the JSONL file ``path``: HWU64, BANKING77, SNIPS and NLU++ banking training
    texts, disjoint from ``tests/benign/everyday.jsonl``) as (train, dev) examples of source ``everyday``,
    every one clean, split by :func:`is_dev` on the casefolded text."""
    raw = path.read_bytes()
    hashes[f"decorum/{path.name}"] = hashlib.sha256(raw).hexdigest()
    train: list[Example] = []
    dev: list[Example] = []
    for line in raw.decode("utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        text = normalise(row["text"])
        if not text:
            continue
        key = " ".join(row["text"].split()).casefold()
        ex = Example(text, make_target(0.0), "everyday", key, f"{row['source']}:{row['intent']}")
        (dev if is_dev(seed, "everyday", key) else train).append(ex)
    return train, dev


def held_out_keys() -> set[str]:
    """Decontamination keys of every text in the held-out suites (:data:`HELD_OUT_SUITES`)."""
    held_out: set[str] = set()
    for path in (suite / name for suite in HELD_OUT_SUITES for name in ("hate_suite.jsonl", "stereotype_pairs.jsonl")):
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                for key in ("text", "stereotype", "anti_stereotype"):
                    if key in row:
                        held_out.add(_decontam_key(row[key]))
    return held_out


def _decontam_key(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def label_stats(examples: Iterable[Example]) -> dict[str, dict[str, int]]:
    """Count positives per label per source (targets >= 0.5)."""
    stats: dict[str, dict[str, int]] = {}
    for ex in examples:
        row = stats.setdefault(ex.source, {"n": 0, **{label: 0 for label in LABELS}})
        row["n"] += 1
        for label, value in zip(LABELS, ex.target, strict=True):
            if value >= 0.5:
                row[label] += 1
    return stats
