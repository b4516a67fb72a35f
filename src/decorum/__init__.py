"""Decorum: a Slack assistant with an ethics guardrail layer.

Subpackages follow the request path (see DESIGN.md): ``bot`` (pipeline, router, Slack),
``guardrails`` (checks, policy, audit log), ``adapters`` (generation backends),
``prompts`` (template registry). The core (``settings``, ``errors``, ``store``) imports none of them.
"""

__version__ = "0.1.0"
