"""Training-data helpers that need no data set: identity swaps (counterfactual pairing) and StereoSet pairs."""

from __future__ import annotations

import random

from decorum.guardrails.training.datasets import (
    SWAP_TERMS,
    Example,
    has_identity_term,
    make_target,
    stereotype_pairs,
    swap_identity,
)


def test_swap_keeps_the_sentence_and_the_attribute() -> None:
    rng = random.Random(0)
    for _ in range(50):
        swapped = swap_identity("My Muslim neighbours invited us for dinner.", rng)
        assert swapped is not None
        assert swapped.startswith("My ") and swapped.endswith(" neighbours invited us for dinner.")
        term = swapped[len("My "):-len(" neighbours invited us for dinner.")]
        assert term.lower() in SWAP_TERMS["religion"] and term != "Muslim"
        assert term[0].isupper()


def test_swap_handles_multiword_terms_case_and_absence() -> None:
    rng = random.Random(1)
    swapped = swap_identity("Middle Eastern food is great", rng)
    assert swapped is not None and not swapped.lower().startswith("middle eastern")
    assert swapped.split(" food")[0].lower() in SWAP_TERMS["race"]
    assert swap_identity("gay", rng).lower() in SWAP_TERMS["sexuality"]
    assert swap_identity("Please reset the staging database", rng) is None
    assert swap_identity("", rng) is None
    # Word boundaries: "Oldham" and "blindly" name no identity term.
    assert not has_identity_term("We drove through Oldham blindly")
    assert has_identity_term("an elderly colleague")


def test_swap_is_seeded() -> None:
    text = "Being deaf is not a problem at work"
    first = [swap_identity(text, random.Random(7)) for _ in range(3)]
    assert len(set(first)) == 1


def test_stereotype_pairs_need_both_sentences_of_an_item() -> None:
    def ex(key: str, kind: str, source: str = "stereoset") -> Example:
        return Example(f"{key} {kind}", make_target(0.0), source, key, f"race:{kind}")

    rows = [
        ex("a", "unrelated"), ex("a", "anti_stereotype"), ex("a", "stereotype"),
        ex("b", "stereotype"),  # no counterpart: skipped
        ex("c", "stereotype", source="toxigen"), ex("c", "anti_stereotype", source="toxigen"),  # not StereoSet
    ]
    assert stereotype_pairs(rows) == [(2, 1)]
    assert stereotype_pairs([]) == []
