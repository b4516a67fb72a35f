"""False-positive reports: a person's "This was wrong" on a refusal, one per note (the review queue's
standing ``false-positives`` sample holds them; kept texts go to ``audit_text`` under its retention).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "false_positive_report",
        sa.Column("note_id", sa.String(32), primary_key=True),
        sa.Column("reporter", sa.String(80), nullable=False),
        sa.Column("surface", sa.String(16), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("check", sa.String(40), nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("threshold", sa.Float, nullable=True),
        sa.Column("text_kept", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("record_id", sa.String(32), nullable=True),
    )
    op.create_index("ix_false_positive_report_created_at", "false_positive_report", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_false_positive_report_created_at", "false_positive_report")
    op.drop_table("false_positive_report")
