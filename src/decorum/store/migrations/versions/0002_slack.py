"""Slack: claimed events (the cross-process lock), first-contact notices, OAuth installations and states.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_event",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("team", sa.String(32), nullable=True),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("thread_ts", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note_id", sa.String(32), nullable=True),
        sa.Column("owner", sa.String(80), nullable=False),
        sa.Column("claimed_at", sa.String(32), nullable=False, index=True),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_slack_event_thread", "slack_event", ["channel", "thread_ts"])
    op.create_table(
        "slack_user_notice",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("team", sa.String(32), nullable=False),
        sa.Column("user", sa.String(80), nullable=False),
        sa.Column("noticed_at", sa.String(32), nullable=False),
        sa.UniqueConstraint("team", "user", name="uq_slack_user_notice"),
    )
    op.create_table(
        "slack_installation",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("workspace", sa.String(80), nullable=False, unique=True),
        sa.Column("enterprise_id", sa.String(32), nullable=True),
        sa.Column("team_id", sa.String(32), nullable=True),
        sa.Column("is_enterprise_install", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("installed_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "slack_oauth_state",
        sa.Column("state", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
    )


def downgrade() -> None:
    for table in ("slack_oauth_state", "slack_installation", "slack_user_notice"):
        op.drop_table(table)
    op.drop_index("ix_slack_event_thread", table_name="slack_event")
    op.drop_table("slack_event")
