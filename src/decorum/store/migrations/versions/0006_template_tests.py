"""Template test runs, archived versions, and the revision counters that tell other processes what changed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "template_test_run",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("results", sa.Text, nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
    )
    op.create_index("ix_template_test_run_name_version", "template_test_run", ["name", "version"])
    with op.batch_alter_table("template_version") as batch:
        batch.add_column(sa.Column("archived_at", sa.String(32), nullable=True))
    op.create_table(
        "registry_revision",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO registry_revision (name, value) VALUES ('templates', 0)")


def downgrade() -> None:
    op.drop_table("registry_revision")
    with op.batch_alter_table("template_version") as batch:
        batch.drop_column("archived_at")
    op.drop_index("ix_template_test_run_name_version", "template_test_run")
    op.drop_table("template_test_run")
