"""PostgreSQL: a push reads and writes in one function, and may write at its first call

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 23:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in migration 0007: a rest's content columns as of this revision, with the types their
# JSON is read as. A migration that adds one replaces this function, with the new column.
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
ARGUMENTS = ("text, text, text[], integer, timestamptz, integer, integer, boolean, integer, "
             "integer, timestamptz, timestamptz, jsonb, jsonb, jsonb, timestamptz")
INSERT_NEW = f"""INSERT INTO rest (user_id, id, {NAMES}, created_at)
                SELECT p_user_id, r.id, {", ".join(f"r.{name}" for name, _ in WRITTEN)}, p_now
                FROM jsonb_to_recordset(p_new) AS r({AS_RECORD});"""

# 0007's write, which also reads. Called with what a push decided and what it decided on,
# it writes if all of that still holds, as 0007's did: the account's counter, the
# device's seq, and now also the session it came with and the rests it took as new (a
# decision may be a guess from the session's last push, app/sync/push_on_postgres.py).
# Otherwise, or called with no decision, it writes nothing and answers what the push is to
# decide on: the session's account and expiry, the counter, the device's seq and which of
# the batch's rests exist or are tombstones. No rows: no such session. 0007's function
# stays for instances of the previous release until a later migration removes it.
PUSH = f"""
CREATE FUNCTION sync_push(
    p_token_hash text, p_client_id text, p_ids text[],
    -- The decision, and what it was decided on; none where the push has yet to read.
    p_user_id integer = NULL, p_read_expires_at timestamptz = NULL,
    p_read_version integer = NULL, p_read_last_seq integer = NULL,
    p_guessed boolean = NULL, p_version integer = NULL, p_last_seq integer = NULL,
    p_now timestamptz = NULL, p_purge_before timestamptz = NULL, p_new jsonb = NULL,
    p_changed jsonb = NULL, p_rejections jsonb = NULL, p_renew_until timestamptz = NULL)
RETURNS TABLE (written boolean, user_id integer, expires_at timestamptz,
               sync_version integer, last_seq integer, live_ids text[], deleted_ids text[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_version integer;
    v_last_seq integer;
    v_holds boolean;
    v_purged integer;
BEGIN
    IF p_user_id IS NOT NULL THEN
        -- The account's write lock, before anything is read. Each statement below sees
        -- what the push that held it before committed.
        SELECT u.sync_version INTO v_version FROM user_account u WHERE u.id = p_user_id
        FOR UPDATE;
        SELECT c.last_seq INTO v_last_seq FROM sync_client c
        WHERE c.user_id = p_user_id AND c.client_id = p_client_id;
        -- Every change of the account's rests takes the next version: an unchanged
        -- version and device seq mean that what the push decided on still holds, with
        -- the session it came with.
        v_holds := v_version = p_read_version
            AND v_last_seq IS NOT DISTINCT FROM p_read_last_seq
            AND EXISTS (SELECT 1 FROM auth_session s
                        WHERE s.token_hash = p_token_hash AND s.user_id = p_user_id
                          AND s.expires_at = p_read_expires_at AND s.expires_at > p_now);
        IF v_holds AND p_new <> '[]' THEN
            IF p_guessed THEN
                -- Rests taken as new, unread: the key says whether they are. (Looked up
                -- first, by `id = ANY(...)`, PostgreSQL planned the lookup afresh on
                -- every call.) Nothing is written before this statement.
                BEGIN
                    {INSERT_NEW}
                EXCEPTION WHEN unique_violation THEN
                    v_holds := false;
                END;
            ELSE
                {INSERT_NEW}
            END IF;
        END IF;
        IF v_holds THEN
            IF p_changed <> '[]' THEN
                UPDATE rest SET {", ".join(f"{name} = r.{name}" for name, _ in WRITTEN)}
                FROM jsonb_to_recordset(p_changed) AS r({AS_RECORD})
                WHERE rest.user_id = p_user_id AND rest.id = r.id;
            END IF;
            IF p_rejections <> '[]' THEN
                INSERT INTO sync_rejection (user_id, client_id, seq, rest_id, code, detail,
                                            created_at)
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
            SELECT max(purged.sync_version) INTO v_purged FROM purged;
            IF v_purged IS NOT NULL THEN
                UPDATE user_account SET purged_through_version = v_purged
                WHERE id = p_user_id AND purged_through_version < v_purged;
            END IF;
            -- The session's renewal last, after the account's lock: erasing an account
            -- takes them in that order too, and the two never wait on each other in a
            -- circle.
            IF p_renew_until IS NOT NULL THEN
                UPDATE auth_session SET expires_at = p_renew_until
                WHERE token_hash = p_token_hash;
            END IF;
            RETURN QUERY SELECT true, p_user_id, NULL::timestamptz, p_version, p_last_seq,
                                NULL::text[], NULL::text[];
            RETURN;
        END IF;
    END IF;
    -- Nothing written: what the push is to decide on, from one snapshot.
    RETURN QUERY
    SELECT false, s.user_id, s.expires_at, u.sync_version, c.last_seq,
           ARRAY(SELECT r.id::text FROM rest r WHERE r.user_id = s.user_id
                 AND r.id = ANY(p_ids) AND r.deleted IS NOT true),
           ARRAY(SELECT r.id::text FROM rest r WHERE r.user_id = s.user_id
                 AND r.id = ANY(p_ids) AND r.deleted IS true)
    FROM auth_session s
    JOIN user_account u ON u.id = s.user_id
    LEFT JOIN sync_client c ON c.user_id = s.user_id AND c.client_id = p_client_id
    WHERE s.token_hash = p_token_hash;
END
$$
"""


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(PUSH)


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(f"DROP FUNCTION sync_push({ARGUMENTS})")
