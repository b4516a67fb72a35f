"""The tamper-evident audit log of transparency notes, below ``bot/`` and ``web/`` (it imports neither).

* ``records``: the record format (canonical JSON, the chain's hash, the columns and score rows copied from a note)
* ``verify``: the chain's verification, pure functions over stored records
* ``log``: ``SqlAuditLog``, the append-only hash-chained log in the database
* ``chain_key``: the chain's HMAC key outside the database, its adoption and what is wrong with it
* ``pseudonyms``: keyed hashes of user ids and texts (``Pseudonymiser``) and the key's rotation
* ``checkpoints``: signed checkpoints of the log's head, their signing key and witnesses
* ``export``: signed exports (CSV, JSON lines) and their offline verification
* ``query``: the filters (``AuditFilter``), search, counts and statistics
* ``review``: review samples, marks and the askers' false-positive reports
* ``summary``: the weekly summary
* ``retention``: kept texts' purge, erasure and subject requests
* ``jobs``: the periodic jobs of ``decorum serve`` (checkpoints, purge, summary)
* ``config``: the ``audit:`` section of the configuration
* ``describe``: how a record reads to a person (``decorum audit list/show``)

The command line is ``decorum.cli.audit``; the console's API is ``decorum.web.audit_api``.
"""
