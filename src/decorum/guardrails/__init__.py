"""The guardrail layer: checks over one classifier, the policy, and the audit log of transparency notes.

The subpackage is ``decorum.guardrails`` on purpose: a top-level ``guardrails`` package would shadow
the guardrails-ai library.
"""
