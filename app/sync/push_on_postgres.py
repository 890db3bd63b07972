"""PostgreSQL: a signed-in device's push in two statements, one that reads and one that
writes, each its own transaction.

The push's rules are service.py's, on every database (Batch decides each mutation's
fate); what differs is how the rows travel. Statement by statement, as on SQLite, a push
of five rests cost the server's process about 1.3 ms of CPU on PostgreSQL, most of it the
driver's work and the round trips of a dozen statements, BEGIN and COMMIT: at fifty
devices pushing at once, the process's core was the limit. Here a push reads everything
it needs in one statement (the session, the account's counter, the device's last seq and
the batch's known rows, from one snapshot), decides, then writes it all in one call of
sync_push_write (migration 0007). That call takes the account's write lock and writes
only if the counter and the device's seq are still what the push read: every change of
an account's rests takes the next version, so an unchanged counter means nothing the
decisions rest on has moved. (The purge of old tombstones takes none, and needs none: a
tombstone read as such makes its mutations `superseded`, which they would have been had
the push come just before the purge.) Otherwise another push of the account came in
between, and this one reads and decides again.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import column, text

from app.auth.errors import NotSignedIn
from app.auth.sessions import cookie_hash, note_renewal, still_live
from app.config import Settings
from app.db import Database, core
from app.errors import AppError, NotFound
from app.observability.metrics import record_push_overtaken
from app.sync.schemas import Mutation, PushResponse
from app.sync.service import Batch, RowState, check_batch_size

# Each try loses only to a push of the same account written in between, so each try of a
# busy account lets at least one of its pushes through: this many are far more than an
# account's devices need.
MAX_TRIES = 50

_READ = text("""
    SELECT s.user_id, s.expires_at, u.sync_version, c.last_seq,
           ARRAY(SELECT r.id FROM rest r WHERE r.user_id = s.user_id
                 AND r.id = ANY(CAST(:ids AS text[])) AND r.deleted IS NOT true) AS live_ids,
           ARRAY(SELECT r.id FROM rest r WHERE r.user_id = s.user_id
                 AND r.id = ANY(CAST(:ids AS text[])) AND r.deleted IS true) AS deleted_ids
    FROM auth_session s
    JOIN user_account u ON u.id = s.user_id
    LEFT JOIN sync_client c ON c.user_id = s.user_id AND c.client_id = :client_id
    WHERE s.token_hash = :token_hash
""").columns(*map(column, ("user_id", "expires_at", "sync_version", "last_seq", "live_ids",
                          "deleted_ids")))
_WRITE = text("""
    SELECT sync_push_write(
        CAST(:user_id AS integer), CAST(:client_id AS text), CAST(:read_version AS integer),
        CAST(:read_last_seq AS integer), CAST(:version AS integer),
        CAST(:last_seq AS integer), CAST(:now AS timestamptz),
        CAST(:purge_before AS timestamptz), CAST(:new AS jsonb), CAST(:changed AS jsonb),
        CAST(:rejections AS jsonb), CAST(:renew_token_hash AS text),
        CAST(:renew_until AS timestamptz)) AS written
""").columns(column("written"))


class PushesCrossing(AppError):
    code = "SYNC_BUSY"
    status_code = 503


def signed_in_push(session: Database, token: str, settings: Settings, client_id: str,
                   mutations: list[Mutation]) -> tuple[int, PushResponse]:
    """As service.signed_in_push: the account pushed to, and the push's outcome."""
    db = core(session)
    hashed = cookie_hash(token)
    if hashed is None:
        raise NotSignedIn("Sign in first.")
    ids = list({m.id for m in mutations})
    for _ in range(MAX_TRIES):
        state = db.execute(_READ, {"token_hash": hashed, "client_id": client_id,
                                   "ids": ids}).first()
        live = None if state is None else still_live(hashed, state.user_id,
                                                      state.expires_at, settings)
        if state is None or live is None:
            raise NotSignedIn("Sign in first.")
        check_batch_size(mutations, settings)  # 401 before any other refusal
        rows = {rest_id: RowState(exists=True, deleted=False) for rest_id in state.live_ids}
        rows.update((rest_id, RowState(exists=True, deleted=True))
                    for rest_id in state.deleted_ids)
        now = datetime.now(UTC)
        batch = Batch(live.user_id, client_id, state.sync_version, rows, now)
        results, last_seq = batch.settle(mutations, state.last_seq or 0)
        new, changed = batch.written()
        written = db.execute(_WRITE, {
            "user_id": live.user_id, "client_id": client_id,
            "read_version": state.sync_version, "read_last_seq": state.last_seq,
            "version": batch.version, "last_seq": last_seq, "now": now,
            "purge_before": now - timedelta(days=settings.tombstone_keep_days),
            "new": _as_json(new), "changed": _as_json(changed),
            "rejections": orjson.dumps(batch.rejections).decode(),
            "renew_token_hash": hashed if live.renew_until else None,
            "renew_until": live.renew_until,
        }).scalar()
        if written is None:
            # Erased since the push read it: nothing may be written for it.
            raise NotFound("No such account.")
        if written:
            if live.renew_until is not None:
                note_renewal(live)
            return live.user_id, PushResponse(last_applied_seq=last_seq,
                                              sync_version=batch.version, results=results)
        record_push_overtaken()
    raise PushesCrossing("Other pushes of this account kept coming in between; retry soon.",
                         headers={"Retry-After": "1"})


def _as_json(rows: list[tuple[str, dict[str, Any]]]) -> str:
    return orjson.dumps([{"id": rest_id, **values} for rest_id, values in rows]).decode()
