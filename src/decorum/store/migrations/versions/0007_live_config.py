"""Routing and policy as admin data: versions of the live overlay, the active one, and every change.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_config_version",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version", sa.Integer, nullable=False, unique=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("tests", sa.Text, nullable=True),
    )
    op.create_table(
        "live_config",
        sa.Column("label", sa.String(32), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "live_config_event",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("from_version", sa.Integer, nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("override", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("at", sa.String(32), nullable=False),
    )
    op.execute("INSERT INTO registry_revision (name, value) VALUES ('live_config', 0)")


def downgrade() -> None:
    op.execute("DELETE FROM registry_revision WHERE name = 'live_config'")
    op.drop_table("live_config_event")
    op.drop_table("live_config")
    op.drop_table("live_config_version")
