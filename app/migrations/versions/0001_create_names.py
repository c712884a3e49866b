"""Create the names table.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Migrations only ever add (tables, nullable or defaulted columns, indexes), so
the release before a migration still runs on the migrated schema and a
rollback never needs a downgrade. See docs/runbook.md.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_names")),
    )
    with op.batch_alter_table("names", schema=None) as batch_op:
        batch_op.create_index("ix_names_created_at_id", ["created_at", "id"], unique=False)


def downgrade():
    raise RuntimeError(
        "Downgrades are not supported: migrations are backward-compatible, so rolling back "
        "the code never needs one. To undo data changes, restore the pre-migration backup "
        "(docs/runbook.md)."
    )
