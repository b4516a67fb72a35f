"""Audit workbench: the note's filterable fields as indexed columns, guardrail scores as rows, review marks,
texts kept under a retention policy.

The derived columns and score rows are copies of what the hashed note holds (``audit verify`` checks that they
agree), so filters run on indexes instead of parsing every note. Existing records are backfilled here.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# (column, size, key in audit.derived_fields); "user" is reserved in PostgreSQL, so its column is user_pseudonym
DERIVED = (("strategy", 32, "strategy"), ("template", 120, "template"), ("model", 160, "model"),
           ("adapter", 120, "adapter"), ("engine", 32, "engine"), ("action", 16, "action"),
           ("channel", 64, "channel"), ("user_pseudonym", 48, "user"))


def upgrade() -> None:
    with op.batch_alter_table("audit_record") as batch:
        for name, size, _ in DERIVED:
            batch.add_column(sa.Column(name, sa.String(size), nullable=True))
    for name in ("verdict", "surface", *(n for n, _, _ in DERIVED)):
        op.create_index(f"ix_audit_record_{name}_seq", "audit_record", [name, "seq"])
    op.create_index("ix_audit_record_created_at_seq", "audit_record", ["created_at", "seq"])
    op.create_table(
        "audit_score",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
        sa.Column("stage", sa.String(8), nullable=False),
        sa.Column("check", sa.String(40), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("seq", "stage", "check", name="pk_audit_score"),
    )
    # A score filter is an EXISTS on audit_score per record. (check, score, seq) lets PostgreSQL hash-join a
    # rare score range; (check, seq, score) is SQLite's per-record probe: with the first alone SQLite probes
    # by (check, score range) and walks every score in the range for each record: over 30 s a count at 100k
    # (bench/audit.py).
    op.create_index("ix_audit_score_check_score", "audit_score", ["check", "score", "seq"])
    op.create_index("ix_audit_score_check_seq", "audit_score", ["check", "seq", "score"])
    op.create_table(
        "audit_text",
        sa.Column("note_id", sa.String(32), nullable=False),
        sa.Column("field", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("stored_at", sa.String(32), nullable=False, index=True),
        sa.PrimaryKeyConstraint("note_id", "field", name="pk_audit_text"),
    )
    op.create_table(
        "audit_review",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sample", sa.String(32), nullable=False, index=True),
        sa.Column("note_id", sa.String(32), nullable=False, index=True),
        sa.Column("reviewer", sa.String(128), nullable=True),
        sa.Column("mark", sa.String(16), nullable=True),  # agree | disagree; null until reviewed
        sa.Column("comment", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("marked_at", sa.String(32), nullable=True),
        sa.UniqueConstraint("sample", "note_id", name="uq_audit_review_sample_note"),
    )
    _backfill()


def _backfill() -> None:
    from decorum.audit.records import derived_fields, score_rows

    bind = op.get_bind()
    record = sa.table("audit_record", sa.column("seq"), sa.column("note"), *(sa.column(n) for n, _, _ in DERIVED))
    score = sa.table("audit_score", sa.column("seq"), sa.column("stage"), sa.column("check"), sa.column("score"),
                     sa.column("passed"))
    after = 0
    while True:
        rows = bind.execute(sa.select(record.c.seq, record.c.note).where(record.c.seq > after)
                            .order_by(record.c.seq).limit(1000)).all()
        if not rows:
            return
        scores = []
        for seq, note_json in rows:
            try:
                note = json.loads(note_json)
            except ValueError:
                continue  # a corrupt record stays as it is: audit verify names it
            derived = derived_fields(note)
            bind.execute(record.update().where(record.c.seq == seq)
                         .values(**{column: derived[key] for column, _, key in DERIVED}))
            scores += [{"seq": seq, **r} for r in score_rows(note)]
        if scores:
            bind.execute(score.insert(), scores)
        after = rows[-1][0]


def downgrade() -> None:
    op.drop_table("audit_review")
    op.drop_table("audit_text")
    op.drop_table("audit_score")
    op.drop_index("ix_audit_record_created_at_seq", "audit_record")
    for name in ("verdict", "surface", *(n for n, _, _ in DERIVED)):
        op.drop_index(f"ix_audit_record_{name}_seq", "audit_record")
    with op.batch_alter_table("audit_record") as batch:
        for name, _, _ in DERIVED:
            batch.drop_column(name)
