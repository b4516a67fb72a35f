"""The knowledge base: versioned helpdesk entries that retrieval cites and the grounding check trusts.

``base`` (the entry and its files), ``store`` (SQL tables, seeds), ``registry`` (guarded, recorded changes),
``index`` (retrieval over the published versions, re-read when another process publishes), ``cli``.
"""
