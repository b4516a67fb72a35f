"""Slack claims are leases: ``lease_until`` (renewed by the live owner) and ``attempts`` (owners so far).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("slack_event") as batch:
        batch.add_column(sa.Column("lease_until", sa.String(32), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="1"))
        batch.create_index("ix_slack_event_lease_until", ["lease_until"])


def downgrade() -> None:
    with op.batch_alter_table("slack_event") as batch:
        batch.drop_index("ix_slack_event_lease_until")
        batch.drop_column("attempts")
        batch.drop_column("lease_until")
