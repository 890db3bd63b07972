"""Push and pull. The request is the transaction: these functions never commit.

Invariants (docs/sync.md explains them):
- every change of a user's data takes the next number of the user's `sync_version`, under
  a lock on the user's row, and the row records it: server order is version order;
- a device's mutations apply once each, in `seq` order; `last_seq` moves in the same
  transaction as the changes it covers;
- a tombstone is final: later puts of that id change nothing.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    insert,
    or_,
    select,
    type_coerce,
    update,
)
from sqlmodel import Session

from app.auth.errors import NotSignedIn
from app.auth.sessions import LiveSession, cookie_hash, renew, signed_in, still_live
from app.config import Settings
from app.db import Database, core
from app.direct_sql import DirectConnection
from app.errors import AppError, NotFound
from app.models import AuthSession, Rest, SyncClient, SyncRejection, User
from app.sync.iso_text import iso_utc_text
from app.sync.schemas import Mutation, MutationResult, PushResponse, PutMutation, RestIn
from app.sync.validation import mutation_problem

CONTENT_FIELDS = tuple(name for name in RestIn.model_fields if name != "id")
DATETIME_FIELDS = ("started_at", "ended_at", "updated_at")


USER: Table = User.__table__  # type: ignore[attr-defined]
CLIENT: Table = SyncClient.__table__  # type: ignore[attr-defined]
_LOCK_USER_ROW = select(USER.c.id).where(USER.c.id == bindparam("user_id")).with_for_update()
_TAKE_WRITE_LOCK = (update(USER).where(USER.c.id == bindparam("user_id"))
                    .values(sync_version=USER.c.sync_version))
_COUNTER = select(USER.c.sync_version).where(USER.c.id == bindparam("user_id"))


def lock_user(db: Database, user_id: int) -> None:
    """Take the per-user write lock, before anything is read.

    PostgreSQL: SELECT ... FOR UPDATE on the user's row serialises writes of one user
    across every app instance. SQLite: a no-op UPDATE as the first write takes the
    database's write lock now (as BEGIN IMMEDIATE would).
    """
    connection = core(db)
    postgres = connection.dialect.name == "postgresql"
    connection.execute(_LOCK_USER_ROW if postgres else _TAKE_WRITE_LOCK, {"user_id": user_id})


def lock_user_counter(db: Database, user_id: int) -> int:
    """Take the per-user write lock and read the counter under it."""
    lock_user(db, user_id)
    counter = core(db).scalar(_COUNTER, {"user_id": user_id})
    if counter is None:
        # Erased while this request waited for the lock: nothing may be written for it.
        raise NotFound("No such account.")
    return int(counter)


REST: Table = Rest.__table__  # type: ignore[attr-defined]
REJECTION: Table = SyncRejection.__table__  # type: ignore[attr-defined]
# Every write of a push goes through Core, on statements built once: building 500 ORM
# objects, or one statement, costs more than the SQL itself.
_NEW_RESTS = insert(REST)
_CHANGED_RESTS = update(REST).where(REST.c.user_id == bindparam("match_user_id"),
                                    REST.c.id == bindparam("match_id"))
_REJECTIONS = insert(REJECTION).inline()  # its ids are not wanted back (no RETURNING)


def _put_values(rest: RestIn) -> dict[str, Any]:
    values = {name: getattr(rest, name) for name in CONTENT_FIELDS}
    return {**values, "deleted": False, "deleted_at": None}


def _tombstone_values(now: datetime) -> dict[str, Any]:
    return {**dict.fromkeys(CONTENT_FIELDS), "deleted": True, "deleted_at": now}


@dataclass
class RowState:
    """What a push knows of one rest its batch names."""

    exists: bool  # the row is already in the database
    deleted: bool
    values: dict[str, Any] | None = None  # set once a mutation of this batch wrote it


_Written = tuple[str, dict[str, Any]]  # a rest's id, and every column written


@dataclass
class Batch:
    """A device's batch as a push applies it: each mutation's fate (settle), and the rows
    and rejections to write, by statements (write) or as sync_push takes them on
    PostgreSQL (written, and the rejections)."""

    user_id: int
    client_id: str
    version: int
    rows: dict[str, RowState]
    now: datetime
    rejections: list[dict[str, Any]] = field(default_factory=list)

    def apply(self, mutation: Mutation) -> MutationResult:
        problem = mutation_problem(mutation, self.now)
        if problem:
            self.rejections.append({
                "user_id": self.user_id, "client_id": self.client_id, "seq": mutation.seq,
                "rest_id": mutation.id, "code": "VALIDATION_ERROR", "detail": problem[:1000],
                "created_at": self.now,
            })
            return MutationResult(seq=mutation.seq, status="rejected",
                                  error="VALIDATION_ERROR", detail=problem)
        row = self.rows.setdefault(mutation.id, RowState(exists=False, deleted=False))
        if row.deleted:
            # Tombstones win: a late edit or a repeated delete changes nothing.
            return MutationResult(seq=mutation.seq, status="superseded")
        self.version += 1
        if isinstance(mutation, PutMutation):
            row.values = _put_values(mutation.rest)
        else:
            row.values = _tombstone_values(self.now)
            row.deleted = True
        row.values["sync_version"] = self.version
        return MutationResult(seq=mutation.seq, status="applied")

    def written(self) -> tuple[list[_Written], list[_Written]]:
        """The rows the batch made and the rows it changed: each rest's id and every column
        written. A rest changed twice in one batch is written once, in its final state and
        version: the versions in between were never visible outside this transaction."""
        new: list[_Written] = []
        changed: list[_Written] = []
        for rest_id, row in self.rows.items():
            if row.values is not None:
                (changed if row.exists else new).append((rest_id, row.values))
        return new, changed

    def write(self, db: Connection | DirectConnection) -> None:
        """One INSERT and one UPDATE (executemany) for the rows the batch changed, and
        one INSERT of its rejections."""
        new, changed = self.written()
        if new:
            db.execute(_NEW_RESTS, [{**values, "user_id": self.user_id, "id": rest_id,
                                     "created_at": self.now} for rest_id, values in new])
        if changed:
            db.execute(_CHANGED_RESTS, [{**values, "match_user_id": self.user_id,
                                         "match_id": rest_id} for rest_id, values in changed])
        if self.rejections:
            db.execute(_REJECTIONS, self.rejections)

    def settle(self, mutations: list[Mutation], last_seq: int) -> tuple[list[MutationResult], int]:
        """Every mutation's outcome, in order: what was seen is skipped, a gap stops the
        batch; and the device's last seq after it."""
        results: list[MutationResult] = []
        gap = False
        for mutation in mutations:
            if mutation.seq <= last_seq:
                results.append(MutationResult(seq=mutation.seq, status="duplicate"))
            elif gap or mutation.seq != last_seq + 1:
                # A gap means an earlier batch has not arrived yet: nothing after it may
                # apply.
                gap = True
                results.append(MutationResult(seq=mutation.seq, status="not_applied"))
            else:
                results.append(self.apply(mutation))
                last_seq = mutation.seq
        return results, last_seq


# A push runs these statements, built once: building one costs more than running it.
# Read after the lock, in a statement of its own: under PostgreSQL's READ COMMITTED a
# statement that waited for the lock still sees the other tables as they were when it
# began, so a device row the previous push just made would be missed.
_COUNTER_AND_DEVICE = (
    select(USER.c.sync_version, CLIENT.c.last_seq)
    .select_from(USER.outerjoin(CLIENT, and_(CLIENT.c.user_id == USER.c.id,
                                             CLIENT.c.client_id == bindparam("client_id"))))
    .where(USER.c.id == bindparam("user_id"))
)
_KNOWN_ROWS = select(REST.c.id, REST.c.deleted).where(
    REST.c.user_id == bindparam("user_id"), REST.c.id.in_(bindparam("ids", expanding=True)))
_NEW_DEVICE = insert(CLIENT)
_DEVICE_SEEN = (update(CLIENT)
                .where(CLIENT.c.user_id == bindparam("match_user_id"),
                       CLIENT.c.client_id == bindparam("match_client_id"))
                .values(last_seq=bindparam("last_seq"), updated_at=bindparam("updated_at")))
_SET_COUNTER = (update(USER).where(USER.c.id == bindparam("user_id"))
                .values(sync_version=bindparam("version")))
_PURGE_OLD_TOMBSTONES = (
    delete(REST)
    .where(REST.c.user_id == bindparam("user_id"), REST.c.deleted.is_(True),
           REST.c.deleted_at < bindparam("before"))
    .returning(REST.c.sync_version)
)
_purged = bindparam("purged", type_=Integer)
_RAISE_PURGED_MARK = (
    update(USER).where(USER.c.id == bindparam("user_id"))
    .values(purged_through_version=case((USER.c.purged_through_version < _purged, _purged),
                                        else_=USER.c.purged_through_version))
)


class TooManyMutations(AppError):
    code = "TOO_MANY_MUTATIONS"
    status_code = 413


def too_many_mutations(mutations: list[Mutation], settings: Settings) -> bool:
    return len(mutations) > settings.sync_max_mutations


def check_batch_size(mutations: list[Mutation], settings: Settings) -> None:
    if too_many_mutations(mutations, settings):
        raise TooManyMutations(
            f"At most {settings.sync_max_mutations} mutations per push; send the rest next.",
            max_mutations=settings.sync_max_mutations,
        )


def signed_in_push(session: Database, token: str, settings: Settings, client_id: str,
                   mutations: list[Mutation]) -> tuple[int, PushResponse]:
    """A signed-in device's push (push below): the account pushed to, and the outcome.
    On PostgreSQL, push_on_postgres.signed_in_push does the same in one or two calls."""
    live = signed_in(session, token, settings)  # 401 before any other refusal
    check_batch_size(mutations, settings)
    outcome = push(session, live.user_id, client_id, mutations, settings.tombstone_keep_days)
    renew(session, live)  # after the push's lock on the user's row, never before
    return live.user_id, outcome


def push(session: Database, user_id: int, client_id: str,
         mutations: list[Mutation], tombstone_keep_days: int) -> PushResponse:
    """Apply a device's batch in order: skip what was seen, stop at a gap. Statement by
    statement, under the account's write lock; on PostgreSQL, the app pushes through
    push_on_postgres instead, in one or two statements."""
    db = core(session)
    lock_user(db, user_id)
    read_state = db.execute(_COUNTER_AND_DEVICE, {"user_id": user_id,
                                                  "client_id": client_id})
    # Every id of the batch, those already applied too: read with the state, not after
    # it, and their rows (left unwritten) change nothing.
    ids = list({m.id for m in mutations})
    read_rows = db.execute(_KNOWN_ROWS, {"user_id": user_id, "ids": ids}) if ids else ()
    state = read_state.first()
    if state is None:
        # Erased while this request waited for the lock: nothing may be written for it.
        raise NotFound("No such account.")
    version, known_last_seq = int(state.sync_version), state.last_seq
    rows = {rest_id: RowState(exists=True, deleted=bool(deleted))
            for rest_id, deleted in read_rows}
    batch = Batch(user_id, client_id, version, rows, datetime.now(UTC))
    results, last_seq = batch.settle(mutations, known_last_seq or 0)
    batch.write(db)
    if known_last_seq is None:
        db.execute(_NEW_DEVICE, {"user_id": user_id, "client_id": client_id,
                                 "last_seq": last_seq, "created_at": batch.now,
                                 "updated_at": batch.now})
    else:
        db.execute(_DEVICE_SEEN, {"match_user_id": user_id, "match_client_id": client_id,
                                  "last_seq": last_seq, "updated_at": batch.now})
    if batch.version != version:
        db.execute(_SET_COUNTER, {"user_id": user_id, "version": batch.version})
    purged = _purge_tombstones(db, user_id, batch.now - timedelta(days=tombstone_keep_days))
    _raise_purged_mark(db, user_id, purged)
    return PushResponse(last_applied_seq=last_seq, sync_version=batch.version, results=results)


def _purge_tombstones(db: Connection | DirectConnection, user_id: int,
                      before: datetime) -> Iterable[Any]:
    """Drop tombstones older than the keep period; devices behind them must reset. The
    versions purged (_raise_purged_mark)."""
    return db.execute(_PURGE_OLD_TOMBSTONES, {"user_id": user_id, "before": before})


def _raise_purged_mark(db: Connection | DirectConnection, user_id: int,
                       purged: Iterable[Any]) -> None:
    versions = [int(version) for version, in purged]
    if versions:
        db.execute(_RAISE_PURGED_MARK, {"user_id": user_id, "purged": max(versions)})


REST_NAMES = ("id", *CONTENT_FIELDS)
SESSION: Table = AuthSession.__table__  # type: ignore[attr-defined]
# A pull row, by position (a snapshot reads thousands): the session's user and expiry, the
# counter, the device's last seq, the reset flag, then the rest's deleted flag, version,
# id and fields (all None past the last change: the rest is an outer join).
_DELETED, _VERSION, _REST = 5, 6, 7


def _change(deleted: bool, version: int, values: tuple[Any, ...]) -> dict[str, Any]:
    if deleted:
        return {"id": values[0], "deleted": True, "sync_version": version, "rest": None}
    # The times come as text already (iso_utc_text in the statement).
    return {"id": values[0], "deleted": False, "sync_version": version,
            "rest": dict(zip(REST_NAMES, values, strict=True))}


def _pull_statement() -> Select[*tuple[Any, ...]]:
    # BIGINT: a cookie may be any integer up to 2**53 (a newer one than the account has
    # means a reset), and PostgreSQL would refuse one past INTEGER as a parameter.
    since = bindparam("since", type_=BigInteger)
    purged_or_ahead = or_(
        and_(since > 0, since < User.purged_through_version),
        since > User.sync_version,
    )
    after = case((purged_or_ahead, 0), else_=since)
    client_join = and_(SyncClient.user_id == User.id,  # type: ignore[arg-type]
                       SyncClient.client_id == bindparam("client_id"))  # type: ignore[arg-type]
    rest_join = and_(REST.c.user_id == User.id, REST.c.sync_version > after,
                     REST.c.sync_version <= User.sync_version)
    return (
        # The expiry as stored (text on SQLite): read from the first row only, so a
        # snapshot's thousands of rows are not each parsed into a datetime.
        select(SESSION.c.user_id, type_coerce(SESSION.c.expires_at, String).label("expires_at"),
               User.sync_version.label("counter"),  # type: ignore[attr-defined]
               SyncClient.last_seq.label("last_seq"),  # type: ignore[attr-defined]
               purged_or_ahead.label("reset"), REST.c.deleted, REST.c.sync_version,
               *(iso_utc_text(REST.c[name]).label(name) if name in DATETIME_FIELDS
                 else REST.c[name] for name in REST_NAMES))
        .select_from(SESSION)
        .join(User, User.id == SESSION.c.user_id)  # type: ignore[arg-type]
        .outerjoin(SyncClient, client_join)
        .outerjoin(REST, rest_join)
        .where(SESSION.c.token_hash == bindparam("token_hash"),
               SESSION.c.expires_at > bindparam("now"))
        .order_by(REST.c.sync_version)
    )


# Built once: every device polls this, and building it costs more than running it.
PULL_WHOLE = _pull_statement()
PULL_PAGE = PULL_WHOLE.limit(bindparam("page", type_=Integer))


@dataclass(frozen=True)
class Pulled:
    """A pull's answer (the PullResponse shape as plain data), and the session that asked."""

    user_id: int
    session_expires_at: datetime
    answer: dict[str, Any]


def pull(db: Session | Connection, session_hash: str, client_id: str | None, since: int,
         limit: int) -> Pulled | None:
    """Changes after `since`, oldest first, and the device's last applied seq, for the user
    of a signed-in session: one snapshot. None when the session is unknown or expired.

    One SELECT reads the session, the counter V, the device's last_seq and the rows with
    since < version <= V together: the poll that every device sends costs one statement
    (one round trip to PostgreSQL), and the statement's snapshot (PostgreSQL and SQLite
    alike) makes them agree: every mutation up to last_seq has its effect at a version
    <= V, and every later one will land above V, after the returned cookie.
    """
    def read(page: int | None) -> Sequence[Any]:
        params = pull_params(session_hash, client_id, since, page)
        return core(db).execute(PULL_WHOLE if page is None else PULL_PAGE, params).all()

    rows = read(pull_page(since, limit))
    if needs_whole_snapshot(rows, limit):
        rows = read(None)
    return pulled(rows, since, limit)


class SnapshotNeeded(Exception):
    """A read that would be a whole snapshot, asked of a reader that only reads pages."""


def pull_params(session_hash: str, client_id: str | None, since: int,
                page: int | None) -> dict[str, Any]:
    """The parameters of PULL_WHOLE (page None) or PULL_PAGE."""
    return {"token_hash": session_hash, "now": datetime.now(UTC),
            "client_id": client_id or "", "since": since, "page": page}


def pull_page(since: int, limit: int) -> int | None:
    """How many rows to read: a page and one more (to know whether more follow), or all of
    them (None) for a snapshot from scratch."""
    # A snapshot from scratch (a new device, or one whose cookie predates purged
    # tombstones) comes whole, in one answer: a page's cookie would predate the purge
    # too, and the next page would start the snapshot over, forever.
    return None if since == 0 else limit + 1


def needs_whole_snapshot(rows: Sequence[Any], limit: int) -> bool:
    """A page that turned out to be a snapshot (the cookie predates the purge), cut short."""
    return bool(rows) and bool(rows[0].reset) and len(rows) > limit


def pulled(rows: Sequence[Any], since: int, limit: int) -> Pulled | None:
    """The answer that the rows of PULL_WHOLE or PULL_PAGE make; None for no live session."""
    if not rows:
        return None
    snapshot = since == 0 or bool(rows[0].reset)
    first = rows[0]
    changes = [row for row in rows if row[_REST] is not None]
    has_more = not snapshot and len(changes) > limit
    changes = changes if snapshot else changes[:limit]
    expires_at = first.expires_at
    if isinstance(expires_at, str):
        expires_at = datetime.fromisoformat(expires_at)
    return Pulled(int(first.user_id), expires_at, {
        "changes": [_change(row[_DELETED], row[_VERSION], tuple(row[_REST:]))
                    for row in changes],
        "cookie": changes[-1][_VERSION] if has_more else int(first.counter),
        "has_more": has_more,
        "last_applied_seq": int(first.last_seq or 0),
        "reset": bool(first.reset),
    })


def signed_in_pull(db: Session | Connection, token: str | None, settings: Settings,
                   client_id: str | None, since: int, limit: int) -> tuple[LiveSession, bytes]:
    """pull() for the caller's sign-in cookie, serialised; 401 unless the session is live."""
    hashed = cookie_hash(token)
    answer = pull(db, hashed, client_id, since, limit) if hashed is not None else None
    return signed_in_answer(hashed, answer, settings)


def signed_in_answer(hashed: str | None, answer: Pulled | None,
                     settings: Settings) -> tuple[LiveSession, bytes]:
    """The session and the serialised answer of a pull for a session's hash; 401 unless the
    session is live.

    The statement already skips expired sessions, so that they read nothing; still_live
    decides whether the session is due for renewal (and refuses one that expired since).
    """
    if hashed is not None and answer is not None:
        session = still_live(hashed, answer.user_id, answer.session_expires_at, settings)
        if session is not None:
            # Serialised once, by orjson: re-validating thousands of records through
            # the model, or the standard json module, costs more than reading them.
            # The shape is PullResponse (tests hold it to that).
            return session, orjson.dumps(answer.answer)
    raise NotSignedIn("Sign in first.")
