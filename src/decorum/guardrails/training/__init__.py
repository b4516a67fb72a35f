"""Making the guardrail classifier: data sets, training, model soups, evaluation and reports.

Nothing here runs when a message is checked; the runtime layer is ``decorum.guardrails`` itself.
The CLI reaches these modules through ``decorum guardrails train|eval|soup|report``.
"""
