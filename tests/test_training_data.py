"""Training-data helpers that need no data set: identity swaps (counterfactual pairing) and StereoSet pairs."""

from __future__ import annotations

import random

from decorum.guardrails.training import datasets
from decorum.guardrails.training.datasets import (
    SWAP_TERMS,
    Example,
    group_swapped_pairs,
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


def _stereoset(text: str, target: str, btype: str, kind: str = "stereotype") -> Example:
    return Example(text, make_target(0.0), "stereoset", f"intersentence|ctx|{target}", f"{btype}:{kind}")


def test_group_swapped_twins_change_the_group_and_nothing_else() -> None:
    rows = [
        _stereoset("My mother is caring. She cooks for her family and loves her.", "mother", "gender"),
        _stereoset("The schoolboy did his homework; nobody helped him.", "schoolboy", "gender"),
        _stereoset("Ethiopian people are skinny, Ethiopia is poor.", "Ethiopian", "race"),
        _stereoset("The Muslim man prays at the mosque.", "Muslim", "religion"),
        _stereoset("the arab man might be a terrorist", "Arab", "race"),
    ]
    twins = dict(group_swapped_pairs(rows, 13))
    assert twins[0] == "My father is caring. He cooks for his family and loves him."
    assert twins[1] == "The schoolgirl did her homework; nobody helped her."
    demonym, rest = twins[2].split(" people are skinny, ")
    assert (rest.removesuffix(" is poor."), demonym) in datasets._CONTRAST_COUNTRIES  # one contrast, both forms
    assert twins[3] == "The Christian man prays at the church."
    assert twins[4].startswith("the ") and twins[4].split()[1] in {d.lower() for _, d in datasets._CONTRAST_COUNTRIES}
    assert group_swapped_pairs(rows, 13) == group_swapped_pairs(rows, 13)


def test_group_swap_leaves_out_what_has_no_contrast() -> None:
    rows = [
        _stereoset("The chess player was asian.", "chess player", "profession"),  # professions: no group
        _stereoset("Norway is cold and the people are blond.", "Norway", "race"),  # no contrast chosen for Europe
        _stereoset("The Bible is full of rules.", "Bible", "religion"),
        _stereoset("My mother is caring.", "mother", "gender", kind="anti_stereotype"),  # only stereotypes rank
        Example("My mother is caring.", make_target(0.0), "toxigen", "k", "gender:stereotype"),  # not StereoSet
        _stereoset("Ethiopia: a poor country", "Ethiopia", "race"),
    ]
    assert [i for i, _ in group_swapped_pairs(rows, 1)] == [5]


def test_swap_across_attributes_reaches_other_attributes() -> None:
    rng = random.Random(3)
    terms = set()
    for _ in range(200):
        swapped = swap_identity("A paralyzed colleague joined the call.", rng, any_attribute=True)
        assert swapped is not None and swapped.startswith("A ") and swapped.endswith(" colleague joined the call.")
        terms.add(swapped[2:-len(" colleague joined the call.")].lower())
    assert "paralyzed" not in terms
    attributes = {attr for attr, ts in SWAP_TERMS.items() if terms & set(ts)}
    assert len(attributes) >= 5  # not only disability
    # The default keeps the attribute.
    assert swap_identity("A paralyzed colleague", random.Random(3)).split()[1] in SWAP_TERMS["disability"]
