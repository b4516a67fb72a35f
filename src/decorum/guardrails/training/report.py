"""``decorum guardrails report``: the quality figures of a classifier artifact, for its model card.

    decorum guardrails report [--artifact DIR] [--stereotype-artifact DIR | --no-stereotype] [--groups 100] [--write]

Scores the artifact under the default policy (the thresholds every deployment starts from) on:

* the team's functional suite (``tests/functional/hate_suite.jsonl``): balanced accuracy and per-slice
  accuracy, as :func:`decorum.guardrails.training.evaluate.functional_report` computes them;
* the team's stereotype pairs (``tests/functional/stereotype_pairs.jsonl``) and the held-out StereoSet
  items of the training split (``shared/data``): how often the stereotypical sentence gets the higher
  ``bias`` score;
* base rates (:func:`base_rates`): the blocked share of everyday benign text (at most 0.5%) and of benign text
  naming a group (at most 2%), and each check's operating point; per-group unintended-bias metrics
  (:func:`subgroup_report`); human-labelled held-out test sets (:func:`held_out_sets`); the independent suite;
* counterfactual consistency over benign Jigsaw identity-template groups
  (:mod:`decorum.guardrails.training.counterfactual`): mean and max score spread when only the identity term changes.

Prints one JSON object. With ``--write`` it also stores the figures in the artifact's ``manifest.json``
(``evaluation``; the build key, and so the model revision, does not depend on it) and regenerates
``MODEL_CARD.md`` from the manifest. Parts whose data is absent (no ``../shared/data``) are left out
and say so.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from decorum.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the report options on ``parser``."""
    parser.add_argument("--artifact", type=Path, default=None, help="artifact folder (default: the committed one)")
    parser.add_argument("--stereotype-artifact", type=Path, default=None,
                        help="the bias check's stereotype model (default: the committed one)")
    parser.add_argument("--no-stereotype", action="store_true",
                        help="score the bias check with the main artifact's own bias label")
    parser.add_argument("--suite", type=Path, default=None, help="functional suite folder (default: tests/functional)")
    parser.add_argument("--data", type=Path, default=None, help="shared/data folder (default: ../shared/data)")
    parser.add_argument("--groups", type=int, default=100, help="benign template groups for the counterfactual part")
    parser.add_argument("--seed", type=int, default=13, help="split seed (the artifact's training seed)")
    parser.add_argument("--write", action="store_true", help="store in manifest.json and rewrite MODEL_CARD.md")


def build_report(guardrails: Any, *, suite: Path, data: Path | None, groups: int, seed: int) -> dict[str, Any]:
    """Compute every part of the report that its data allows.

    Args:
        guardrails: The checks to score (a :class:`~decorum.guardrails.checks.Guardrails`).
        suite: Folder with ``hate_suite.jsonl`` and ``stereotype_pairs.jsonl``.
        data: The ``shared/data`` folder, or None/absent to skip the parts that need it.
        groups: Benign template groups for the counterfactual part.
        seed: The split seed the artifact was trained with (held-out StereoSet items depend on it).

    Returns:
        ``{"policy", "functional", "written_dev_pairs", "stereoset_dev_pairs"?, "counterfactual"?, "skipped"}``
        (``written_dev_pairs``: the dev split of the written training pairs, which ship with the code).
    """
    from decorum.guardrails.training.evaluate import functional_report, pair_win_rate, read_rows

    report: dict[str, Any] = {"policy": guardrails.policy.ref, "skipped": []}
    report["functional"] = functional_report(
        guardrails, read_rows(suite / "hate_suite.jsonl"), read_rows(suite / "stereotype_pairs.jsonl")
    )
    from decorum.guardrails.training.datasets import training_pairs

    report["written_dev_pairs"] = pair_win_rate(guardrails, training_pairs({})[1])
    independent = suite.parent / "functional_independent"
    if (independent / "hate_suite.jsonl").is_file() and suite != independent:
        report["functional_independent"] = functional_report(
            guardrails, read_rows(independent / "hate_suite.jsonl"), read_rows(independent / "stereotype_pairs.jsonl")
        )
    report["base_rates"] = base_rates(guardrails, data, seed)
    if data is None or not data.is_dir():
        report["skipped"] += ["stereoset_dev_pairs", "counterfactual", "identity_benign", "subgroup", "held_out"]
        return report
    report["subgroup"] = subgroup_report(guardrails, data, seed)
    report["held_out"] = held_out_sets(guardrails, data, seed)
    from decorum.guardrails.training.counterfactual import TEMPLATES, consistency, groups_from_templates
    from decorum.guardrails.training.datasets import load_corpus, stereotype_pairs

    corpus = load_corpus(data, seed=seed)
    pairs = [(corpus.dev[s].text, corpus.dev[a].text) for s, a in stereotype_pairs(corpus.dev)]
    report["stereoset_dev_pairs"] = pair_win_rate(guardrails, pairs)
    template_groups = groups_from_templates(data / TEMPLATES)
    report["counterfactual"] = consistency(guardrails, template_groups, sample=groups)
    return report


EVERYDAY_MAX_SHARE = 0.005
"""At most this share of everyday benign text may be blocked: the operating point of every check."""
IDENTITY_MAX_SHARE = 0.02
"""At most this share of benign text that names an identity group may be blocked."""
SUBGROUP_CAP = 60
"""Held-out identity rows per (group, label) scored for the subgroup metrics (the templates alone have ~20k)."""


def _decision(results: list[Any]) -> float:
    """One score per text for ranking metrics: how far the most over-threshold check is, mapped around 0.5."""
    return max(0.5 + (r.score - r.threshold) / 2 for r in results) if results else 0.0


def _blocked(results: list[list[Any]]) -> float:
    return round(sum(not all(r.passed for r in res) for res in results) / len(results), 4) if results else 0.0


def base_rates(guardrails: Any, data: Path | None, seed: int) -> dict[str, Any]:
    """Blocked shares on benign text at the policy's thresholds, and each check's operating point.

    ``everyday``: requests and messages from public intent-detection and customer-support corpora
    (tests/benign/everyday.jsonl, plus the never-trained Bitext instructions when ``data`` is there), never
    trained on. ``threshold_for_target``: the lowest threshold at which that check alone blocks at most
    :data:`EVERYDAY_MAX_SHARE` of it. ``identity_benign`` (needs ``data``): benign held-out ToxiGen statements
    and Jigsaw templates that name a group, blocked share overall and per group. ``answers``: Bitext support
    answers through the output checks.
    """
    from decorum.guardrails.training import benign

    have = data if data is not None and data.is_dir() else None
    every = benign.everyday_texts(have, seed)
    results = guardrails.run([t for t, _ in every], stage="input")
    checks: dict[str, Any] = {}
    for k, name in enumerate(r.check for r in results[0]):
        scores = [res[k].score for res in results]
        checks[name] = {
            "threshold": results[0][k].threshold,
            "blocked_share": round(benign.blocked_share(scores, results[0][k].threshold), 4),
            "threshold_for_target": benign.threshold_for_share(scores, EVERYDAY_MAX_SHARE),
        }
    sources: dict[str, list[list[Any]]] = {}
    for (_, source), res in zip(every, results, strict=True):
        sources.setdefault(source, []).append(res)
    out: dict[str, Any] = {"everyday": {
        "n": len(every), "target": EVERYDAY_MAX_SHARE, "blocked_share": _blocked(results), "checks": checks,
        "by_source": {src: {"n": len(r), "blocked_share": _blocked(r)} for src, r in sorted(sources.items())},
    }}
    if have is None:
        return out
    answers = benign.everyday_answers(have)
    ans = guardrails.run(answers, stage="output", questions=["Can you help me with my order?"] * len(answers))
    out["answers"] = {"n": len(answers), "blocked_share": _blocked(ans)}
    ident = benign.identity_benign_texts(have, seed, per_group_cap=SUBGROUP_CAP)
    iden = guardrails.run([t for t, _ in ident], stage="input")
    groups: dict[str, list[list[Any]]] = {}
    for (_, group), res in zip(ident, iden, strict=True):
        groups.setdefault(group, []).append(res)
    out["identity_benign"] = {
        "n": len(ident), "target": IDENTITY_MAX_SHARE, "blocked_share": _blocked(iden),
        "by_group": {g: {"n": len(r), "blocked_share": _blocked(r)} for g, r in sorted(groups.items())},
    }
    return out


def subgroup_report(guardrails: Any, data: Path, seed: int) -> dict[str, Any]:
    """Borkan et al.'s unintended-bias metrics per identity group (subgroup, BPSN and BNSP AUC) on held-out
    ToxiGen (human labels) and Jigsaw templates (template labels), each against its own background."""
    from decorum.guardrails.training import benign

    rows = benign.labelled_identity_rows(data, seed, per_group_cap=SUBGROUP_CAP)
    results = guardrails.run([t for t, _, _ in rows], stage="input")
    scored = [(_decision(res), label, group) for (_, label, group), res in zip(rows, results, strict=True)]
    out: dict[str, Any] = {}
    for prefix in ("toxigen:", "templates:"):
        part = [(s, y, g.removeprefix(prefix)) for s, y, g in benign.iter_groups(scored, prefix)]
        metrics = benign.subgroup_metrics(part)
        out[prefix.rstrip(":")] = {
            "n": len(part), "overall_auc": round(benign.roc_auc([s for s, _, _ in part], [y for _, y, _ in part]), 4),
            "generalized_mean": benign.generalized_mean_bias_auc(metrics), "groups": metrics,
        }
    return out


def held_out_sets(guardrails: Any, data: Path, seed: int) -> dict[str, Any]:
    """The checks at their operating points on human-labelled public test data never trained on: OLID's test
    set, ToxiGen's held-out annotations, and the held-out Wikipedia comments of the unintended-bias set with
    their identity-swapped ("fuzzed") twins."""
    from decorum.guardrails.training import benign, datasets
    from decorum.guardrails.training.evaluate import evaluate

    reader = datasets._Reader(data, {})
    sets: dict[str, list[tuple[str, int]]] = {
        "olid_test": [(ex.text, int(ex.target[0] >= 0.5)) for ex in datasets._olid_test(reader)],
        "toxigen_held_out": [(t, y) for t, y, _ in benign.toxigen_held_out(data, seed)],
        "wiki_held_out": [(ex.text, int(ex.target[0] >= 0.5)) for ex in datasets._wiki(reader, fuzzed=False)
                          if not datasets.wiki_in_train(seed, ex.key)],
        "wiki_fuzzed_held_out": [(ex.text, int(ex.target[0] >= 0.5)) for ex in datasets._wiki(reader, fuzzed=True)
                                 if not datasets.wiki_in_train(seed, ex.key)],
    }
    out: dict[str, Any] = {}
    for name, rows in sets.items():
        rep = evaluate(guardrails, [t for t, _ in rows], [y for _, y in rows], None)
        out[name] = {"n": rep["n"], **{k: rep["checks"]["any"][k] for k in
                                        ("positives", "auc", "balanced_accuracy", "recall", "fpr", "precision")}}
    return out


def run(args: argparse.Namespace) -> int:
    """Entry point of ``decorum guardrails report``."""
    from decorum.guardrails.checks import Guardrails
    from decorum.guardrails.classifier import (
        DEFAULT_ARTIFACT,
        MANIFEST_FILE,
        STEREOTYPE_ARTIFACT,
        build_classifier,
        load_manifest,
    )
    from decorum.guardrails.policy import ClassifierConfig, Policy
    from decorum.guardrails.training.datasets import FUNCTIONAL_SUITE, shared_data_dir

    artifact = Path(args.artifact) if args.artifact else DEFAULT_ARTIFACT
    suite = Path(args.suite) if args.suite else FUNCTIONAL_SUITE
    for name in ("hate_suite.jsonl", "stereotype_pairs.jsonl"):
        if not (suite / name).is_file():
            raise UsageError(f"{suite / name}: no such file (pass --suite)")
    stereotype = None if args.no_stereotype else Path(args.stereotype_artifact or STEREOTYPE_ARTIFACT)
    cfg = ClassifierConfig(artifact=artifact, stereotype_model=stereotype is not None, stereotype_artifact=stereotype)
    policy = Policy(classifier=cfg)
    guardrails = Guardrails(policy, build_classifier(cfg))
    report = build_report(
        guardrails,
        suite=suite,
        data=Path(args.data) if args.data else shared_data_dir(),
        groups=args.groups,
        seed=args.seed,
    )
    report["classifier"] = guardrails.scores.scorer
    print(json.dumps(report, indent=2))
    if args.write:
        from decorum.guardrails.training.train import write_model_card

        # The artifact under report stores the figures, and the stereotype model too when it was named (the card
        # says which stack they were measured on).
        for folder in (artifact, *([stereotype] if stereotype is not None and args.stereotype_artifact else [])):
            manifest = load_manifest(folder)
            manifest["evaluation"] = report
            (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            write_model_card(folder, manifest, manifest["sources"])
    return 0
