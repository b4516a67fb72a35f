"""The guardrail layer: checks over one classifier, and the policy. The audit log of transparency notes is
``decorum.audit``.

The subpackage is ``decorum.guardrails`` on purpose: a top-level ``guardrails`` package would shadow
the guardrails-ai library.
"""
