"""The ``audit`` section of the YAML configuration: texts kept under retention, checkpoints, summaries.

By default a note keeps only keyed hashes of the question and the answer. An admin may turn on keeping
the texts themselves (``store_question``/``store_answer``), outside the hashed note, for
``text_retention_days``; ``decorum audit purge`` (and ``decorum serve`` once a day) deletes them after that,
and ``audit verify`` stays green because the note holds only the text's keyed hash (its commitment).

``decorum serve`` signs a checkpoint of the log's head every ``checkpoint_every_s`` seconds (default 600;
skipped while no record arrived since the last one; 0 turns periodic and shutdown checkpoints off) and one
when it stops, and appends each to the witnesses: the file ``DECORUM_AUDIT_WITNESS`` and
``witness_channel``.

Example (``DECORUM_CONFIG``)::

    audit:
      store_question: true
      text_retention_days: 30
      checkpoint_every_s: 3600
      witness_channel: C0123AUDIT     # post each signed checkpoint there (an outside witness)
      summary_channel: C0123AUDIT     # the weekly summary
      summary_weekday: mon
      summary_hour_utc: 9
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class AuditConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store_question: bool = False  # keep the question text (outside the hashed note) until purged
    store_answer: bool = False  # keep the answer text likewise
    text_retention_days: int = Field(default=30, ge=0, le=3650)  # 0: purge at the next run
    # sign a checkpoint this often while records arrive, and one at shutdown; 0: only on demand
    checkpoint_every_s: int = Field(default=600, ge=0, le=7 * 86400)
    witness_channel: str | None = Field(default=None, pattern=r"^[CG][A-Z0-9]{2,}$")
    summary_channel: str | None = Field(default=None, pattern=r"^[CG][A-Z0-9]{2,}$")
    summary_weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    summary_hour_utc: int = Field(default=9, ge=0, le=23)
