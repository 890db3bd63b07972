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
    op.create_index(
        "ix_rest_tombstones", "rest", ["user_id", "deleted_at"], unique=False,
        sqlite_where=sa.text("deleted IS 1"), postgresql_where=sa.text("deleted IS true"),
    )


def downgrade() -> None:
    op.drop_index("ix_rest_tombstones", table_name="rest")
