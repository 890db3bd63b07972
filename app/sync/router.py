"""Push a device's outbox; pull what changed since the device's cookie."""

import contextlib
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Connection

from app.auth.sessions import LiveSession, renew
from app.config import Settings
from app.db import in_read, in_session, in_transaction
from app.deps import SessionToken
from app.direct_sql import DirectConnection
from app.errors import error_responses
from app.observability.metrics import record_sync_batch
from app.sync import push_on_postgres, service
from app.sync.schemas import UUID_PATTERN, PullResponse, PushRequest, PushResponse

if TYPE_CHECKING:
    from app.sqlite_writer import SqliteWriter
    from app.sync.pg_pushes import PostgresPushes
    from app.sync.polls import PostgresPolls
    from app.sync.sqlite_polls import SqlitePolls

MAX_SINCE = 2**53  # the largest integer a phone's JavaScript holds exactly

router = APIRouter(prefix="/api/sync", tags=["sync"], responses=error_responses(401))


# Both routes are `async def` and do all their database work (the sign-in check included)
# in one go: a push on its writer (below), a pull where in_read puts it. These are
# the hot paths of every device, where each hop that dependencies would add costs more
# than the queries.
@router.post("/push", responses=error_responses(413, 503))
async def push(body: PushRequest, request: Request, token: SessionToken) -> PushResponse:
    """Apply a batch of one device's numbered mutations, once each, in order."""
    return await push_answer(request, token, body)


async def push_answer(request: Request, token: str, body: PushRequest) -> PushResponse:
    """The push's outcome, for a caller whose body is valid (the route above, and
    DirectPush, which answers well-formed pushes without routing them)."""
    settings: Settings = request.app.state.settings
    # On a SQLite file, pushes take turns on the process's writer (app/sqlite_writer.py),
    # statement by statement; on PostgreSQL they run on the event loop
    # (app/sync/pg_pushes.py), in one or two statements (push_on_postgres.py); in a
    # database in memory, on a pooled connection. Their statements go straight to the
    # driver.
    postgres_pushes: PostgresPushes | None = request.app.state.postgres_pushes
    if postgres_pushes is not None:
        known = postgres_pushes.known_sessions
        account, outcome = await postgres_pushes.run(
            lambda connection: push_on_postgres.signed_in_push(
                connection, token, settings, body.client_id, body.mutations, known))
    else:
        writer: SqliteWriter | None = request.app.state.sqlite_writer

        def apply(db: DirectConnection) -> tuple[int, PushResponse]:
            """The account pushed to, and the push's outcome."""
            return service.signed_in_push(db, token, settings, body.client_id,
                                          body.mutations)

        account, outcome = await (writer.run(apply) if writer
                                  else in_transaction(request, apply))
    polls: PostgresPolls | SqlitePolls | None = request.app.state.polls
    if polls is not None:
        polls.written(account)
    return record_sync_batch(outcome)


@router.get("/pull", response_model=PullResponse)
async def pull(
    request: Request,
    token: SessionToken,
    since: Annotated[int, Query(ge=0, le=MAX_SINCE)] = 0,
    client_id: Annotated[str | None, Query(pattern=UUID_PATTERN)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Changes after `since` (the cookie of the last pull) and this device's last applied seq."""
    return Response(await pull_answer(request, token, since, client_id, limit),
                    media_type="application/json")


async def pull_answer(request: Request, token: str, since: int, client_id: str | None,
                      limit: int | None, question: bytes | None = None) -> bytes:
    """The pull's JSON body, for a caller whose parameters are valid (the route above, and
    DirectPull, which answers well-formed polls without routing them and gives their
    query string as `question`, so that an answer with nothing new may be kept)."""
    settings: Settings = request.app.state.settings  # every device polls: no dependency
    page = min(limit or settings.sync_pull_limit, settings.sync_pull_limit)

    polls: PostgresPolls | SqlitePolls | None = request.app.state.polls
    answer = None
    if polls is not None and since > 0:
        with contextlib.suppress(service.SnapshotNeeded):
            answer = await polls.signed_in_pull(token, settings, client_id, since, page,
                                                question)
    if answer is None:

        def read(connection: Connection) -> tuple[LiveSession, bytes]:
            return service.signed_in_pull(connection, token, settings, client_id, since,
                                          page)

        # Snapshots come here (from 0, or a page whose cookie predates purged tombstones),
        # and every read of an in-memory SQLite database, whose pages stay on the loop.
        answer = await in_read(request, read, bounded=since > 0 and polls is None)
    session, body = answer
    if session.renew_until is not None:  # at most once a day per session: a write
        await in_session(request, lambda db: renew(db, session))
    return body

