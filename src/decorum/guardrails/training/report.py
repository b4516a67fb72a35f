"""``decorum guardrails report``: the quality figures of a classifier artifact, for its model card.

    decorum guardrails report [--artifact DIR] [--stereotype-artifact DIR | --no-stereotype] [--groups 100] [--write]

Scores the artifact under the default policy (the thresholds every deployment starts from) on:

* the team's functional suite (``tests/functional/hate_suite.jsonl``): balanced accuracy and per-slice
  accuracy, as :func:`decorum.guardrails.training.evaluate.functional_report` computes them;
* the team's stereotype pairs (``tests/functional/stereotype_pairs.jsonl``) and the held-out StereoSet
  items of the training split (``shared/data``): how often the stereotypical sentence gets the higher
  ``bias`` score;
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
    if data is None or not data.is_dir():
        report["skipped"] += ["stereoset_dev_pairs", "counterfactual"]
        return report
    from decorum.guardrails.training.counterfactual import TEMPLATES, consistency, groups_from_templates
    from decorum.guardrails.training.datasets import load_corpus, stereotype_pairs

    corpus = load_corpus(data, seed=seed)
    pairs = [(corpus.dev[s].text, corpus.dev[a].text) for s, a in stereotype_pairs(corpus.dev)]
    report["stereoset_dev_pairs"] = pair_win_rate(guardrails, pairs)
    template_groups = groups_from_templates(data / TEMPLATES)
    report["counterfactual"] = consistency(guardrails, template_groups, sample=groups)
    return report


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
