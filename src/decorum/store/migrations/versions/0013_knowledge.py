"""The knowledge base: entries with immutable versions, the published one, and every change as an event.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "knowledge_entry",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("domain", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("published", sa.Integer, nullable=True),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_knowledge_entry_domain", "knowledge_entry", ["domain"])
    op.create_table(
        "knowledge_version",
        sa.Column("entry_id", sa.String(64), sa.ForeignKey("knowledge_entry.id"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(160), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False, server_default=""),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("checks", sa.Text, nullable=True),
    )
    op.create_table(
        "knowledge_event",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("from_version", sa.Integer, nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("override", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("at", sa.String(32), nullable=False),
    )
    op.create_index("ix_knowledge_event_entry_id", "knowledge_event", ["entry_id"])


def downgrade() -> None:
    op.drop_index("ix_knowledge_event_entry_id", "knowledge_event")
    op.drop_table("knowledge_event")
    op.drop_table("knowledge_version")
    op.drop_index("ix_knowledge_entry_domain", "knowledge_entry")
    op.drop_table("knowledge_entry")
