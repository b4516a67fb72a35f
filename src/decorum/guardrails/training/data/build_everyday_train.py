"""Rebuild ``everyday_train.jsonl`` byte-identically from the raw public corpus files.

Everyday benign TRAINING text: ordinary requests people send to an assistant or a helpdesk, written by
people, from the training parts of the same public intent-detection corpora as the development set
``tests/benign/everyday.jsonl``. It is DISJOINT from that set (which sets the guardrails' operating points and
is never trained on): other files of the corpora are read, and every text that also occurs in it or in a
functional hate suite is removed. See ``README.md`` in this folder.

Raw files (``--src DIR`` must hold them under ``DIR/<repository name>/<path in the repository>``):

* ``hwu64`` - HWU64 / NLU-Evaluation-Data (Liu et al. 2019), CC BY 4.0.
  Repository https://github.com/xliuhw/NLU-Evaluation-Data at commit
  ``f6071b496b17d71e6eb43f543af0707f4ff30557``, the 512 per-intent files
  ``CrossValidation/autoGeneFromRealAnno/autoGene_2018_03_22-13_01_25_169/CrossValidation/KFold_{3..10}/testset/csv/*.csv``
  (semicolon-separated; column ``answer_from_user`` is what the crowd worker typed). The ten folds' test sets
  partition the corpus; the development set uses folds 1 and 2, so folds 3 to 10 are the rest of it.
* ``banking77`` - BANKING77 (Casanueva et al. 2020), CC BY 4.0.
  Repository https://github.com/PolyAI-LDN/task-specific-datasets at commit
  ``57ec275d8078af65b7731c2a98be812d844a6d6b``, file ``banking_data/train.csv`` (10,003 rows; the
  development set uses ``test.csv``).
* ``nlupp_banking`` - NLU++ banking domain (Casanueva et al. 2022), CC BY 4.0 (the repository's licence).
  Same repository and commit, files ``nlupp/data/banking/fold0.json`` ... ``fold19.json`` (the development set
  uses the hotels domain).
* ``snips`` - SNIPS NLU benchmark, custom intents (Coucke et al. 2018), CC0 1.0.
  Repository https://github.com/sonos/nlu-benchmark at commit ``b86ac7f1577868c42158d0dec77db50956046696``,
  files ``2017-06-custom-intent-engines/<Intent>/train_<Intent>_full.json`` for the seven intents (the
  development set uses ``validate_<Intent>.json``). ``train_PlayMusic_full.json`` is not valid UTF-8 and is
  decoded as Windows-1252.

Sampling rule: whitespace is squeezed; texts shorter than 3 characters are dropped; every text whose
case-insensitive, whitespace-normalised form occurs in ``tests/benign/everyday.jsonl``,
``tests/functional/hate_suite.jsonl`` or ``tests/functional_independent/hate_suite.jsonl`` is dropped, and so
are the texts listed in :data:`DROP` (SHA-256 of the casefolded text) after review. Each source is de-duplicated
case-insensitively, grouped by intent, each intent ordered by ``sha256("everyday_train", source, casefolded
text)``, and texts are taken round-robin over the intents (sorted by name) until ``QUOTA[source]`` are kept,
skipping texts already taken by an earlier source (sources in ``QUOTA`` order), so the sample is spread over
the intents and the file has no case-insensitive duplicates. The output is sorted by (source, intent,
casefolded text, text) and written as UTF-8 JSON lines ``{"text", "source", "intent"}``.

Usage::

    python src/decorum/guardrails/training/data/build_everyday_train.py --src /tmp/everyday_raw
    python src/decorum/guardrails/training/data/build_everyday_train.py --src /tmp/everyday_raw --check
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

OUT = Path(__file__).with_name("everyday_train.jsonl")
REPO = Path(__file__).resolve().parents[5]
# Held-out sets: no text of these may be trained on.
HELD_OUT = (
    REPO / "tests" / "benign" / "everyday.jsonl",
    REPO / "tests" / "functional" / "hate_suite.jsonl",
    REPO / "tests" / "functional_independent" / "hate_suite.jsonl",
)
HWU_DIR = "NLU-Evaluation-Data/CrossValidation/autoGeneFromRealAnno/autoGene_2018_03_22-13_01_25_169/CrossValidation"
HWU_FOLDS = tuple(f"KFold_{i}" for i in range(3, 11))
BANKING = "task-specific-datasets/banking_data/train.csv"
NLUPP_BANKING = "task-specific-datasets/nlupp/data/banking"
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
QUOTA = {"hwu64": 2000, "banking77": 1800, "snips": 1400, "nlupp_banking": 800}
MIN_CHARS = 3
# SHA-256 of casefolded texts dropped after a review of every keyword-pattern hit (see README): an insult aimed at
# a named person (2), a SNIPS request naming an artist whose name is a slur, a work titled with a slur-like
# insult, and "Nazi hunting" as a game. A workplace guardrail may legitimately block those, so they are no clear
# benign negatives. Mild swearing at things ("this damn virtual card", "shit, it isn't what i was searching for")
# stays, as in the development set.
DROP: frozenset[str] = frozenset({
    "ffafc4c6c9b417831efcd651fb81a1293bc52903ad26446b8d6d2bc452f00a93",
    "4d2a16fa069e4ba08326ff2986b63c75a94c33d1da6e103d4e3a627e0fe4e496",
    "568e56838cffb1bc6018eee1c21cdfffe0d4f4b149d16c0427f764c2e3529a79",
    "37caae3278a1875e7ed90ff274318157439153095a916903741a0917f07d2ce3",
    "45056e6a6fe245012cfe0d51d8eecc930b2914baae5ddce4e2b93717242e013c",
})


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
        raw = (src / SNIPS_DIR / intent / f"train_{intent}_full.json").read_bytes()
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            data = json.loads(raw.decode("cp1252", errors="replace"))
        for item in data[intent]:
            yield "".join(part["text"] for part in item["data"]), intent


def _nlupp_banking(src: Path) -> Iterator[tuple[str, str]]:
    for fold in range(20):
        data = json.loads((src / NLUPP_BANKING / f"fold{fold}.json").read_text(encoding="utf-8"))
        for item in data:
            yield item["text"], "+".join(sorted(item.get("intents", []))) or "none"


READERS = {"hwu64": _hwu64, "banking77": _banking77, "snips": _snips, "nlupp_banking": _nlupp_banking}


def _rank(source: str, key: str) -> str:
    return hashlib.sha256(f"everyday_train\x1f{source}\x1f{key}".encode()).hexdigest()


def held_out_keys(paths: tuple[Path, ...] = HELD_OUT) -> set[str]:
    """Casefolded, whitespace-normalised texts of the held-out sets."""
    keys: set[str] = set()
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                keys.add(_clean(json.loads(line)["text"]).casefold())
    return keys


def build(src: Path) -> bytes:
    """Return the bytes of ``everyday_train.jsonl`` built from the raw files under ``src``."""
    held_out = held_out_keys()
    taken: set[str] = set()
    rows: list[dict[str, str]] = []
    for source, quota in QUOTA.items():
        candidates: dict[str, tuple[str, str]] = {}
        for raw, intent in READERS[source](src):
            text = _clean(raw)
            key = text.casefold()
            if (
                len(text) < MIN_CHARS
                or key in candidates
                or key in held_out
                or hashlib.sha256(key.encode()).hexdigest() in DROP
            ):
                continue
            candidates[key] = (text, intent)
        by_intent: dict[str, list[str]] = {}
        for key, (_, intent) in candidates.items():
            by_intent.setdefault(intent, []).append(key)
        queues = [sorted(keys, key=lambda k: _rank(source, k)) for _, keys in sorted(by_intent.items())]
        kept = 0
        depth = 0
        while kept < quota and any(depth < len(q) for q in queues):
            for queue in queues:
                if kept >= quota:
                    break
                if depth >= len(queue) or queue[depth] in taken:
                    continue
                key = queue[depth]
                taken.add(key)
                text, intent = candidates[key]
                rows.append({"text": text, "source": source, "intent": intent})
                kept += 1
            depth += 1
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
