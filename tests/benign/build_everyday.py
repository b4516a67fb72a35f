"""Rebuild ``tests/benign/everyday.jsonl`` byte-identically from the raw public corpus files.

The everyday benign development set holds ordinary requests people send to an assistant or a helpdesk.
It is NEVER trained on: it only sets the guardrails' operating points (the share of everyday text that
a threshold blocks) and reports that share. See ``tests/benign/README.md``.

Raw files (``--src DIR`` must hold them under ``DIR/<repository name>/<path in the repository>``):

* ``hwu64`` - HWU64 / NLU-Evaluation-Data (Liu et al. 2019), CC BY 4.0.
  Repository https://github.com/xliuhw/NLU-Evaluation-Data at commit
  ``f6071b496b17d71e6eb43f543af0707f4ff30557``, the 128 per-intent files
  ``CrossValidation/autoGeneFromRealAnno/autoGene_2018_03_22-13_01_25_169/CrossValidation/KFold_{1,2}/testset/csv/*.csv``
  (semicolon-separated; column ``answer_from_user`` is what the crowd worker typed). The annotated master
  CSV of the repository is not in the stored snapshot; the ten folds' test sets partition it, and folds 1
  and 2 hold 2,152 utterances of all 64 intents.
* ``banking77`` - BANKING77 (Casanueva et al. 2020), CC BY 4.0.
  Repository https://github.com/PolyAI-LDN/task-specific-datasets at commit
  ``57ec275d8078af65b7731c2a98be812d844a6d6b``, file ``banking_data/test.csv`` (3,080 rows).
* ``nlupp_hotels`` - NLU++ hotels domain (Casanueva et al. 2022), CC BY 4.0 (the repository's licence).
  Same repository and commit, files ``nlupp/data/hotels/fold0.json`` ... ``fold19.json`` (1,009 rows).
* ``snips`` - SNIPS NLU benchmark, custom intents (Coucke et al. 2018), CC0 1.0.
  Repository https://github.com/sonos/nlu-benchmark at commit ``b86ac7f1577868c42158d0dec77db50956046696``,
  files ``2017-06-custom-intent-engines/<Intent>/validate_<Intent>.json`` for the seven intents (700 rows).

Sampling rule: whitespace is squeezed; texts shorter than 3 characters are dropped; each source is
de-duplicated case-insensitively, ordered by ``sha256("everyday", source, casefolded text)`` and its first
``QUOTA[source]`` texts are kept, skipping texts already taken by an earlier source (sources in
``QUOTA`` order), so the whole file has no case-insensitive duplicates. Texts are not filtered for looking
"edgy" (mild swearing, "some idiot stole my card", cuisines and religions named in requests all stay);
:data:`DROP` lists, by SHA-256 of the casefolded text, the texts removed after review. The output
is sorted by (source, intent, casefolded text, text) and written as UTF-8 JSON lines
``{"text", "source", "intent"}``.

Usage::

    python tests/benign/build_everyday.py --src /tmp/everyday_raw            # rewrite the file
    python tests/benign/build_everyday.py --src /tmp/everyday_raw --check    # compare, exit 1 on difference
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

OUT = Path(__file__).with_name("everyday.jsonl")
HWU_DIR = "NLU-Evaluation-Data/CrossValidation/autoGeneFromRealAnno/autoGene_2018_03_22-13_01_25_169/CrossValidation"
HWU_FOLDS = ("KFold_1", "KFold_2")
BANKING = "task-specific-datasets/banking_data/test.csv"
NLUPP_HOTELS = "task-specific-datasets/nlupp/data/hotels"
SNIPS_DIR = "nlu-benchmark/2017-06-custom-intent-engines"
SNIPS_INTENTS = (
    "AddToPlaylist",
    "BookRestaurant",
    "GetWeather",
    "PlayMusic",
    "RateBook",
    "SearchCreativeWork",
    "SearchScreeningEvent",
)
# Texts per source, in the order the sources are sampled.
QUOTA = {"hwu64": 1100, "banking77": 800, "snips": 700, "nlupp_hotels": 400}
MIN_CHARS = 3
# SHA-256 of casefolded texts dropped after a review of every keyword-pattern hit (see README). No sampled text
# was abusive; one SNIPS PlayMusic request names a reggae artist whose stage name is a racial slur: a workplace
# guardrail may legitimately block the slur, so it is no clear benign negative.
DROP: frozenset[str] = frozenset({"684731224ac0f81806ca7105cae4a3fe0c478898ddbb006ab0a672bf09bcbfd2"})


def _clean(text: str) -> str:
    return " ".join(text.split())


def _hwu64(src: Path) -> Iterator[tuple[str, str]]:
    for fold in HWU_FOLDS:
        for path in sorted((src / HWU_DIR / fold / "testset" / "csv").glob("*.csv")):
            with open(path, encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle, delimiter=";"):
                    text = row["answer_from_user"]
                    # A few workers typed template markers ("<insert city>"): use the annotated form there.
                    if "<" in text or ">" in text:
                        text = row["answer_from_anno"]
                    yield text, f"{row['scenario']}_{row['intent']}"


def _banking77(src: Path) -> Iterator[tuple[str, str]]:
    with open(src / BANKING, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            yield row["text"], row["category"]


def _snips(src: Path) -> Iterator[tuple[str, str]]:
    for intent in SNIPS_INTENTS:
        path = src / SNIPS_DIR / intent / f"validate_{intent}.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        for item in data[intent]:
            yield "".join(part["text"] for part in item["data"]), intent


def _nlupp_hotels(src: Path) -> Iterator[tuple[str, str]]:
    for fold in range(20):
        data = json.loads((src / NLUPP_HOTELS / f"fold{fold}.json").read_text(encoding="utf-8"))
        for item in data:
            yield item["text"], "+".join(sorted(item.get("intents", []))) or "none"


READERS = {"hwu64": _hwu64, "banking77": _banking77, "snips": _snips, "nlupp_hotels": _nlupp_hotels}


def _rank(source: str, key: str) -> str:
    return hashlib.sha256(f"everyday\x1f{source}\x1f{key}".encode()).hexdigest()


def build(src: Path) -> bytes:
    """Return the bytes of ``everyday.jsonl`` built from the raw files under ``src``."""
    taken: set[str] = set()
    rows: list[dict[str, str]] = []
    for source, quota in QUOTA.items():
        candidates: dict[str, tuple[str, str]] = {}
        for raw, intent in READERS[source](src):
            text = _clean(raw)
            key = text.casefold()
            if len(text) < MIN_CHARS or key in candidates or hashlib.sha256(key.encode()).hexdigest() in DROP:
                continue
            candidates[key] = (text, intent)
        kept = 0
        for key in sorted(candidates, key=lambda k: _rank(source, k)):
            if kept >= quota:
                break
            if key in taken:
                continue
            taken.add(key)
            text, intent = candidates[key]
            rows.append({"text": text, "source": source, "intent": intent})
            kept += 1
    rows.sort(key=lambda r: (r["source"], r["intent"], r["text"].casefold(), r["text"]))
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, required=True, help="folder holding <repository name>/<path> raw files")
    parser.add_argument("--out", type=Path, default=OUT, help="output JSONL (default: the committed file)")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args(argv)
    data = build(args.src)
    if args.check:
        same = args.out.exists() and args.out.read_bytes() == data
        print(f"{args.out}: {'up to date' if same else 'DIFFERS from a rebuild'}")
        return 0 if same else 1
    args.out.write_bytes(data)
    lines = data.count(b"\n")
    print(f"wrote {lines} lines to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
