"""PostgreSQL: a signed-in device's push, in one call of sync_push (migration 0008) when
this instance knows what the session's last push left, in two otherwise.

The push's rules are service.py's, on every database (Batch decides each mutation's
fate); what differs is how the rows travel. Statement by statement, as on SQLite, a push
of five rests cost the server's process about 1.3 ms of CPU on PostgreSQL, most of it the
driver's work and the round trips of a dozen statements, BEGIN and COMMIT: at fifty
devices pushing at once, the process's core was the limit. Here each call of sync_push is
one statement, its own transaction. Called with what the push decided and what it decided
on, it takes the account's write lock and writes only if all of that still holds: the
account's counter, the device's seq, the session, and that the rests taken as new are so.
Every change of an account's rests takes the next version, so an unchanged counter means
nothing else the decisions rest on has moved. (The purge of old tombstones takes none,
and needs none: a tombstone read as such makes its mutations `superseded`, which they
would have been had the push come just before the purge.) Otherwise, or called with no
decision, it writes nothing and answers what the push is to decide on, from one
snapshot: the push decides again on that, and calls again.

Decided on what? Most pushes are a phone's next batch of new rests, on the heels of its
last push through the same instance: KnownSessions keeps what each session's last push
left (the account, its counter, the device's seq), and the push decides on that, with
its rests taken as new, at its first call (not for a batch with deletes, which are of
rests the server has). A wrong guess (a push through another instance in between, an
edit of an older rest) costs the round trips of a push with no guess: its call answers
what to decide on. Each round trip saved is about a sixth of a push's CPU on the server,
and the database no longer runs a read of its own.

The push is a coroutine that sends its statements straight to psycopg (pg_pushes.py runs
it), with positional parameters: through SQLAlchemy's statements, in a greenlet, each
call cost about 50 µs more of the server's CPU, a sixth of what a push had left.
"""

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from app.auth.errors import NotSignedIn
from app.auth.sessions import LiveSession, cookie_hash, note_renewal, still_live
from app.config import Settings
from app.errors import AppError
from app.observability.metrics import record_push_overtaken
from app.sync.schemas import Mutation, MutationResult, PushResponse
from app.sync.service import Batch, RowState, check_batch_size, too_many_mutations

if TYPE_CHECKING:
    from app.sync.pg_pushes import Connection

# A try loses to a push of the same account written in between (or to a wrong guess, or a
# renewal of the session elsewhere, each once), so each try of a busy account lets at
# least one of its pushes through: this many are far more than an account's devices need.
MAX_TRIES = 50

# The same function, called to read, and called with a decision (which reads again when
# it no longer holds). Each answers (written, user_id, expires_at, sync_version,
# last_seq, live_ids, deleted_ids).
_READ = "SELECT * FROM sync_push(%s::text, %s::text, %s::text[])"
_WRITE = """
    SELECT * FROM sync_push(
        %s::text, %s::text, %s::text[], %s::integer, %s::timestamptz, %s::integer,
        %s::integer, %s::boolean, %s::integer, %s::integer, %s::timestamptz, %s::timestamptz,
        %s::jsonb, %s::jsonb, %s::jsonb, %s::timestamptz)
"""


class PushesCrossing(AppError):
    code = "SYNC_BUSY"
    status_code = 503


class SessionState(NamedTuple):
    """What a push decides on, but the rests: the session's account and expiry, the
    account's counter, and the device's last applied seq (None: a device new to it)."""

    user_id: int
    expires_at: datetime
    sync_version: int
    client_id: str
    last_seq: int | None


class KnownSessions:
    """What each session's last push through this instance left, so that its next push
    may decide at once (see the module's doc). A guess, checked by sync_push under the
    account's lock: a stale one (another instance's writes, a sign-out committed before
    the push's write) writes nothing.

    No guess where this instance has since written a later version of the account (from
    another session: the phone and the tablet of one account): it would be wrong, and a
    wrong guess waits for the account's lock, which a read does not."""

    MAX_SESSIONS = 20_000  # about 10 MB with the accounts'; the least recently pushed go first

    def __init__(self) -> None:
        self._states: dict[str, SessionState] = {}
        self._latest_versions: dict[int, int] = {}  # by account

    def guess(self, token_hash: str, client_id: str) -> SessionState | None:
        """The session's state as its last push left it, for a push of `client_id`: a
        device the session has not pushed from is taken as new."""
        state = self._states.get(token_hash)
        if state is None or state.sync_version < self._latest_versions.get(state.user_id, 0):
            return None
        if state.client_id == client_id:
            return state
        return state._replace(client_id=client_id, last_seq=None)

    def note(self, token_hash: str, state: SessionState) -> None:
        _keep_latest(self._states, token_hash, state, self.MAX_SESSIONS)
        # Pushes of one account commit in turn, but may be noted out of turn.
        latest = max(state.sync_version, self._latest_versions.get(state.user_id, 0))
        _keep_latest(self._latest_versions, state.user_id, latest, self.MAX_SESSIONS)

    def forget(self, token_hash: str) -> None:
        self._states.pop(token_hash, None)


def _keep_latest(kept: dict[Any, Any], key: Any, value: Any, most: int) -> None:
    """Sets `key` last in line; past `most` keys, the first in line goes."""
    kept.pop(key, None)
    if len(kept) >= most:
        del kept[next(iter(kept))]
    kept[key] = value


class _Decision(NamedTuple):
    """A push decided on `state`, and with `rows` as read (None: the batch's rests were
    taken as new, unread)."""

    state: SessionState
    live: LiveSession
    rows: dict[str, RowState] | None
    batch: Batch
    results: list[MutationResult]
    last_seq: int

    def parameters(self, settings: Settings) -> tuple[Any, ...]:
        """_WRITE's parameters after the push's own three: the decision and its grounds."""
        new, changed = self.batch.written()
        now = self.batch.now
        return (
            self.state.user_id, self.state.expires_at, self.state.sync_version,
            self.state.last_seq,
            # Rests read as absent stay so while the counter does; guessed ones are checked.
            self.rows is None,
            self.batch.version, self.last_seq, now,
            now - timedelta(days=settings.tombstone_keep_days),
            _as_json(new), _as_json(changed), orjson.dumps(self.batch.rejections).decode(),
            self.live.renew_until,
        )


async def signed_in_push(connection: "Connection", token: str, settings: Settings,
                         client_id: str, mutations: list[Mutation],
                         known: KnownSessions | None = None) -> tuple[int, PushResponse]:
    """As service.signed_in_push: the account pushed to, and the push's outcome."""
    hashed = cookie_hash(token)
    if hashed is None:
        raise NotSignedIn("Sign in first.")
    ids = list({m.id for m in mutations})
    decision = _guessed(known, hashed, client_id, mutations, settings)
    for _ in range(MAX_TRIES):
        answer = await _call(connection, _READ, (hashed, client_id, ids)) if decision is None \
            else await _call(connection, _WRITE,
                             (hashed, client_id, ids, *decision.parameters(settings)))
        if answer is None:
            if known is not None:
                known.forget(hashed)
            raise NotSignedIn("Sign in first.")
        written, user_id, expires_at, sync_version, last_seq, live_ids, deleted_ids = answer
        if written:
            assert decision is not None
            return _written(known, decision)
        if decision is not None and decision.rows is not None:
            record_push_overtaken()  # what it read changed before it could write
        state = SessionState(user_id, expires_at, sync_version, client_id, last_seq)
        live = still_live(hashed, user_id, expires_at, settings)
        if live is None:
            raise NotSignedIn("Sign in first.")
        check_batch_size(mutations, settings)  # 401 before any other refusal
        rows = {rest_id: RowState(exists=True, deleted=False) for rest_id in live_ids}
        rows.update((rest_id, RowState(exists=True, deleted=True)) for rest_id in deleted_ids)
        decision = _decided(state, live, rows, mutations)
    raise PushesCrossing("Other pushes of this account kept coming in between; retry soon.",
                         headers={"Retry-After": "1"})


async def _call(connection: "Connection", sql: str, parameters: tuple[Any, ...],
                ) -> tuple[Any, ...] | None:
    """One call of sync_push: its answer, or None where the session is not there."""
    cursor = await connection.execute(sql, parameters)
    return await cursor.fetchone()


def _guessed(known: KnownSessions | None, hashed: str, client_id: str,
             mutations: list[Mutation], settings: Settings) -> _Decision | None:
    """The push decided on what the session's last push left, with its rests taken as
    new; None where there is nothing to go on, where the guess would refuse the batch (a
    stale cookie must hear 401 before 413), or where it would be wrong: a device deletes
    rests that it had, and the server has too."""
    state = known.guess(hashed, client_id) if known is not None else None
    if (state is None or too_many_mutations(mutations, settings)
            or any(mutation.op == "delete" for mutation in mutations)):
        return None
    live = still_live(hashed, state.user_id, state.expires_at, settings)
    return None if live is None else _decided(state, live, None, mutations)


def _decided(state: SessionState, live: LiveSession, rows: dict[str, RowState] | None,
             mutations: list[Mutation]) -> _Decision:
    batch = Batch(state.user_id, state.client_id, state.sync_version, rows or {},
                  datetime.now(UTC))
    results, last_seq = batch.settle(mutations, state.last_seq or 0)
    return _Decision(state, live, rows, batch, results, last_seq)


def _written(known: KnownSessions | None, decision: _Decision) -> tuple[int, PushResponse]:
    state, live, batch = decision.state, decision.live, decision.batch
    if live.renew_until is not None:
        note_renewal(live)
    if known is not None:
        known.note(live.token_hash, state._replace(
            expires_at=live.renew_until or state.expires_at, sync_version=batch.version,
            last_seq=decision.last_seq))
    return state.user_id, PushResponse(last_applied_seq=decision.last_seq,
                                       sync_version=batch.version, results=decision.results)


def _as_json(rows: list[tuple[str, dict[str, Any]]]) -> str:
    return orjson.dumps([{"id": rest_id, **values} for rest_id, values in rows]).decode()
