"""PostgreSQL: a write's notification names the account whose data it changed

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 19:15:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in migration 0005: what a pull reads, and the channel app/sync/polls.py listens on.
TABLES = ("user_account", "auth_session", "sync_client", "rest")
CHANNEL = "sync_changes"
ACCOUNT = "account:"  # the payload's prefix; the account's id follows


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    # Once per row written, so that an instance lets go only the kept answers of the
    # accounts a write touched; PostgreSQL sends each distinct notification once per
    # transaction, at its commit: a push is one notification. Old and new rows both, in
    # case an update moves a row to another account.
    op.execute(f"""
        CREATE FUNCTION notify_sync_change_of_account() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            before_write bigint;
            after_write bigint;
        BEGIN
            -- The account's own row names it by its id; every other row, by user_id.
            IF TG_TABLE_NAME = 'user_account' THEN
                IF TG_OP <> 'INSERT' THEN before_write := OLD.id; END IF;
                IF TG_OP <> 'DELETE' THEN after_write := NEW.id; END IF;
            ELSE
                IF TG_OP <> 'INSERT' THEN before_write := OLD.user_id; END IF;
                IF TG_OP <> 'DELETE' THEN after_write := NEW.user_id; END IF;
            END IF;
            IF before_write IS NOT NULL THEN
                PERFORM pg_notify('{CHANNEL}', '{ACCOUNT}' || before_write);
            END IF;
            IF after_write IS NOT NULL AND after_write IS DISTINCT FROM before_write THEN
                PERFORM pg_notify('{CHANNEL}', '{ACCOUNT}' || after_write);
            END IF;
            RETURN NULL;
        END $$""")
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_notify_sync_change ON {table}")
        op.execute(f"""
            CREATE TRIGGER {table}_notify_sync_change
            AFTER INSERT OR UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION notify_sync_change_of_account()""")
        # A TRUNCATE has no rows to name: its notification (0005's, with no payload) lets
        # every kept answer go.
        op.execute(f"""
            CREATE TRIGGER {table}_notify_sync_truncate
            AFTER TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION notify_sync_change()""")


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_notify_sync_truncate ON {table}")
        op.execute(f"DROP TRIGGER {table}_notify_sync_change ON {table}")
        op.execute(f"""
            CREATE TRIGGER {table}_notify_sync_change
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION notify_sync_change()""")
    op.execute("DROP FUNCTION notify_sync_change_of_account()")
