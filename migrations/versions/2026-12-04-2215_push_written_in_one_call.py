"""PostgreSQL: a device's push writes in one call, once nothing it read has changed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 22:15:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A rest's content columns as of this revision, with the types their JSON is read as. A
# migration that adds one replaces sync_push_write, with the new column.
CONTENT = (
    ("routine_id", "text"), ("title", "text"), ("minutes", "integer"),
    ("cue_density", "text"), ("prep_s", "integer"), ("version", "text"),
    ("started_at", "timestamptz"), ("ended_at", "timestamptz"), ("time_zone", "text"),
    ("planned_s", "integer"), ("actual_s", "integer"), ("completed", "boolean"),
    ("before_rating", "integer"), ("after_rating", "integer"), ("note", "text"),
    ("updated_at", "timestamptz"),
)
WRITTEN = (*CONTENT, ("sync_version", "integer"), ("deleted", "boolean"),
           ("deleted_at", "timestamptz"))
NAMES = ", ".join(name for name, _ in WRITTEN)
AS_RECORD = ", ".join(f"{name} {kind}" for name, kind in (("id", "text"), *WRITTEN))

# The push's rules stay in app/sync/service.py, on every database: this function only
# writes what a push decided, in one call from the app, once it has checked under the
# account's write lock that nothing the push read has changed since
# (app/sync/push_on_postgres.py says why).
WRITE = f"""
CREATE FUNCTION sync_push_write(
    p_user_id integer, p_client_id text, p_read_version integer, p_read_last_seq integer,
    p_version integer, p_last_seq integer, p_now timestamptz, p_purge_before timestamptz,
    p_new jsonb, p_changed jsonb, p_rejections jsonb,
    p_renew_token_hash text, p_renew_until timestamptz)
RETURNS boolean  -- true: written; false: changed since it was read, nothing written;
                 -- NULL: no such account
LANGUAGE plpgsql AS $$
DECLARE
    v_version integer;
    v_last_seq integer;
    v_purged integer;
BEGIN
    -- The account's write lock, before anything is read. Each statement below sees what
    -- the push that held it before committed.
    PERFORM 1 FROM user_account WHERE id = p_user_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;  -- erased since the push read it
    END IF;
    SELECT u.sync_version, c.last_seq INTO v_version, v_last_seq
    FROM user_account u
    LEFT JOIN sync_client c ON c.user_id = u.id AND c.client_id = p_client_id
    WHERE u.id = p_user_id;
    -- Every change of the account's rests takes the next version: an unchanged version
    -- and device seq mean that what the push read still holds.
    IF v_version IS DISTINCT FROM p_read_version
            OR v_last_seq IS DISTINCT FROM p_read_last_seq THEN
        RETURN false;
    END IF;
    IF p_new <> '[]' THEN
        INSERT INTO rest (user_id, id, {NAMES}, created_at)
        SELECT p_user_id, r.id, {", ".join(f"r.{name}" for name, _ in WRITTEN)}, p_now
        FROM jsonb_to_recordset(p_new) AS r({AS_RECORD});
    END IF;
    IF p_changed <> '[]' THEN
        UPDATE rest SET {", ".join(f"{name} = r.{name}" for name, _ in WRITTEN)}
        FROM jsonb_to_recordset(p_changed) AS r({AS_RECORD})
        WHERE rest.user_id = p_user_id AND rest.id = r.id;
    END IF;
    IF p_rejections <> '[]' THEN
        INSERT INTO sync_rejection (user_id, client_id, seq, rest_id, code, detail, created_at)
        SELECT p_user_id, p_client_id, r.seq, r.rest_id, r.code, r.detail, p_now
        FROM jsonb_to_recordset(p_rejections)
             AS r(seq integer, rest_id text, code text, detail text);
    END IF;
    IF p_read_last_seq IS NULL THEN
        INSERT INTO sync_client (user_id, client_id, last_seq, created_at, updated_at)
        VALUES (p_user_id, p_client_id, p_last_seq, p_now, p_now);
    ELSE
        UPDATE sync_client SET last_seq = p_last_seq, updated_at = p_now
        WHERE user_id = p_user_id AND client_id = p_client_id;
    END IF;
    IF p_version <> p_read_version THEN
        UPDATE user_account SET sync_version = p_version WHERE id = p_user_id;
    END IF;
    -- Tombstones past the keep period go; devices behind them must reset.
    WITH purged AS (
        DELETE FROM rest
        WHERE user_id = p_user_id AND deleted IS true AND deleted_at < p_purge_before
        RETURNING sync_version
    )
    SELECT max(sync_version) INTO v_purged FROM purged;
    IF v_purged IS NOT NULL THEN
        UPDATE user_account SET purged_through_version = v_purged
        WHERE id = p_user_id AND purged_through_version < v_purged;
    END IF;
    -- The session's renewal last, after the account's lock: erasing an account takes
    -- them in that order too, and the two never wait on each other in a circle.
    IF p_renew_token_hash IS NOT NULL THEN
        UPDATE auth_session SET expires_at = p_renew_until
        WHERE token_hash = p_renew_token_hash;
    END IF;
    RETURN true;
END
$$
"""


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(WRITE)


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION sync_push_write(integer, text, integer, integer, integer, "
               "integer, timestamptz, timestamptz, jsonb, jsonb, jsonb, text, timestamptz)")
