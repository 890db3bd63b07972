"""PostgreSQL: a write to what a pull reads notifies every instance, for its kept polls

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 14:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What a pull reads (app/sync/service.py, PULL_WHOLE). The channel is the one
# app/sync/polls.py listens on.
TABLES = ("user_account", "auth_session", "sync_client", "rest")
CHANNEL = "sync_changes"


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return  # SQLite tells of any write itself (PRAGMA data_version)
    # Once per statement, not per row; and PostgreSQL sends the same notification only
    # once per transaction, at its commit: a push is one notification, however large.
    op.execute(f"""
        CREATE FUNCTION notify_sync_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END $$""")
    for table in TABLES:
        op.execute(f"""
            CREATE TRIGGER {table}_notify_sync_change
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION notify_sync_change()""")


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_notify_sync_change ON {table}")
    op.execute("DROP FUNCTION notify_sync_change()")
