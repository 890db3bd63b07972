"""accounts, rests and sync state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 23:58:35.073484
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("user_account",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column("sync_version", sa.Integer(), nullable=False),
    sa.Column("purged_through_version", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_account_email"), ["email"], unique=True)

    op.create_table("auth_session",
    sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column("user_id", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("token_hash")
    )
    with op.batch_alter_table("auth_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_session_user_id"), ["user_id"], unique=False)

    op.create_table("rest",
    sa.Column("user_id", sa.Integer(), nullable=False),
    sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column("routine_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column("minutes", sa.Integer(), nullable=True),
    sa.Column("cue_density", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column("prep_s", sa.Integer(), nullable=True),
    sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("time_zone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column("planned_s", sa.Integer(), nullable=True),
    sa.Column("actual_s", sa.Integer(), nullable=True),
    sa.Column("completed", sa.Boolean(), nullable=True),
    sa.Column("before_rating", sa.Integer(), nullable=True),
    sa.Column("after_rating", sa.Integer(), nullable=True),
    sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("deleted", sa.Boolean(), nullable=False),
    sa.Column("sync_version", sa.Integer(), nullable=False),
    sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("user_id", "id")
    )
    with op.batch_alter_table("rest", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rest_user_id_sync_version", ["user_id", "sync_version"], unique=False
        )

    op.create_table("sync_client",
    sa.Column("user_id", sa.Integer(), nullable=False),
    sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column("last_seq", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("user_id", "client_id")
    )
    op.create_table("sync_rejection",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("user_id", sa.Integer(), nullable=False),
    sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("rest_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("sync_rejection", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_rejection_user_id"), ["user_id"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("sync_rejection", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_rejection_user_id"))

    op.drop_table("sync_rejection")
    op.drop_table("sync_client")
    with op.batch_alter_table("rest", schema=None) as batch_op:
        batch_op.drop_index("ix_rest_user_id_sync_version")

    op.drop_table("rest")
    with op.batch_alter_table("auth_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_session_user_id"))

    op.drop_table("auth_session")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_account_email"))

    op.drop_table("user_account")
