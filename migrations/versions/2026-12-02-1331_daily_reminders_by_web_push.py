"""daily reminders: a device's Web Push subscription and its schedule

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 13:31:28
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("reminder",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("endpoint_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column("endpoint", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=False),
    sa.Column("p256dh", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column("auth", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column("minute_of_day", sa.Integer(), nullable=False),
    sa.Column("weekdays", sa.Integer(), nullable=False),
    sa.Column("time_zone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("endpoint_hash")
    )
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminder_next_at"), ["next_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminder_next_at"))

    op.drop_table("reminder")
