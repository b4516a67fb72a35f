"""guardrails-ai integration: decorum/toxicity and decorum/bias as validators in a Guard."""

from __future__ import annotations

import pytest

from decorum.guardrails.checks import Guardrails
from decorum.guardrails.policy import TOXICITY_THRESHOLD, Policy
from tests.fakes import FakeClassifier


@pytest.fixture
def fake_guardrails() -> Guardrails:
    return Guardrails(Policy(), FakeClassifier({"idiot": {"insult": 0.93}, "are all lazy": {"bias": 0.88}}))


def test_validators_are_registered_under_decorum_names(fake_guardrails) -> None:
    from guardrails.validator_base import get_validator_class

    from decorum.guardrails.validators import DecorumBias, DecorumToxicity

    assert get_validator_class("decorum/toxicity") is DecorumToxicity
    assert get_validator_class("decorum/bias") is DecorumBias


def test_guard_pass_exception_fix_and_noop(fake_guardrails) -> None:
    from guardrails import Guard
    from guardrails.errors import ValidationError

    from decorum.guardrails.validators import DecorumBias, DecorumToxicity

    guard = Guard().use(DecorumToxicity(on_fail="exception", guardrails=fake_guardrails))
    assert guard.validate("Thanks, the VPN works now.").validation_passed
    with pytest.raises(ValidationError, match=rf"insult 0\.93 >= threshold {TOXICITY_THRESHOLD:.2f}"):
        guard.validate("you idiot")

    fixer = Guard().use(DecorumBias(on_fail="fix", guardrails=fake_guardrails))
    out = fixer.validate("Immigrants from there are all lazy")
    assert out.validated_output == "[redacted]"

    noop = Guard().use(DecorumToxicity(on_fail="noop", guardrails=fake_guardrails))
    res = noop.validate("you idiot")
    assert res.validation_passed is False and res.validated_output == "you idiot"


def test_threshold_override(fake_guardrails) -> None:
    from guardrails import Guard

    from decorum.guardrails.validators import DecorumToxicity

    lenient = Guard().use(DecorumToxicity(threshold=0.99, on_fail="exception", guardrails=fake_guardrails))
    assert lenient.validate("you idiot").validation_passed


@pytest.mark.models
def test_default_validator_uses_the_real_classifier() -> None:
    from guardrails import Guard

    from decorum.guardrails.validators import DecorumToxicity

    guard = Guard().use(DecorumToxicity(on_fail="noop"))
    assert guard.validate("How do I reset my VPN password?").validation_passed
    assert not guard.validate("You are a worthless idiot and people like you should be exterminated.").validation_passed
