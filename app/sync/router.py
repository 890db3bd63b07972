"""Push a device's outbox; pull what changed since the device's cookie."""

import json
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.deps import CurrentUser, SessionDep, SettingsDep
from app.errors import AppError, error_responses
from app.observability.metrics import record_sync_batch
from app.sync import service
from app.sync.schemas import UUID_PATTERN, PullResponse, PushRequest, PushResponse

router = APIRouter(prefix="/api/sync", tags=["sync"], responses=error_responses(401))


class TooManyMutations(AppError):
    code = "TOO_MANY_MUTATIONS"
    status_code = 413


@router.post("/push")
def push(body: PushRequest, user: CurrentUser, db: SessionDep,
         settings: SettingsDep) -> PushResponse:
    """Apply a batch of one device's numbered mutations, once each, in order."""
    if len(body.mutations) > settings.sync_max_mutations:
        raise TooManyMutations(
            f"At most {settings.sync_max_mutations} mutations per push; send the rest next.",
            max_mutations=settings.sync_max_mutations,
        )
    assert user.id is not None
    return record_sync_batch(service.push(db, user.id, body.client_id, body.mutations,
                                          settings.tombstone_keep_days))


@router.get("/pull", response_model=PullResponse, responses=error_responses(404))
def pull(
    user: CurrentUser,
    db: SessionDep,
    settings: SettingsDep,
    since: Annotated[int, Query(ge=0, le=2**53)] = 0,
    client_id: Annotated[str | None, Query(pattern=UUID_PATTERN)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Changes after `since` (the cookie of the last pull) and this device's last applied seq."""
    assert user.id is not None
    page = min(limit or settings.sync_pull_limit, settings.sync_pull_limit)
    # Serialised once here: re-validating up to 1000 records through the model costs more
    # than reading them. The shape is PullResponse (tests hold it to that).
    body = service.pull(db, user.id, client_id, since, page)
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")
