"""an index of tombstones, for the purge each push runs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        op.create_index("ix_rest_tombstones", "rest", ["user_id", "deleted_at"],
                        unique=False, sqlite_where=sa.text("deleted IS 1"))
        return
    # CONCURRENTLY: a plain CREATE INDEX would hold back every write of rests (every push)
    # on a live server while it builds. It cannot run inside a transaction.
    with op.get_context().autocommit_block():
        op.create_index("ix_rest_tombstones", "rest", ["user_id", "deleted_at"],
                        unique=False, postgresql_where=sa.text("deleted IS true"),
                        postgresql_concurrently=True)


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        op.drop_index("ix_rest_tombstones", table_name="rest")
        return
    with op.get_context().autocommit_block():
        op.drop_index("ix_rest_tombstones", table_name="rest", postgresql_concurrently=True)
