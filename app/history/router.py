"""The signed-in user's rests on the server: list, one, export as JSON or CSV."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, StreamingResponse

from app.deps import CurrentUser, SessionDep
from app.errors import error_responses
from app.history import service
from app.sync.schemas import RestOut

router = APIRouter(prefix="/api/history", tags=["history"], responses=error_responses(401))


def _attachment(extension: str) -> dict[str, str]:
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    return {
        "Content-Disposition": f'attachment; filename="rest-history-{day}.{extension}"',
        "Cache-Control": "no-store",
    }


@router.get("/rests")
def list_rests(
    user: CurrentUser,
    db: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**53)] = 0,  # beyond 2**63 the driver overflows
) -> list[RestOut]:
    """The account's rests, newest first."""
    assert user.id is not None
    return service.list_rests(db, user.id, limit, offset)


@router.get("/rests/{rest_id}", responses=error_responses(404))
def get_rest(rest_id: str,
             user: CurrentUser, db: SessionDep) -> RestOut:
    """One rest of the account; 404 for a missing, deleted or another user's rest."""
    assert user.id is not None
    return service.get_rest(db, user.id, rest_id)


@router.get("/export.json")
def export_json(user: CurrentUser, db: SessionDep) -> JSONResponse:
    """Every rest of the account as a JSON download."""
    assert user.id is not None
    rests = service.all_rests(db, user.id)
    body = {
        "exported_at": datetime.now(UTC).isoformat(),
        "account": user.email,
        "rests": [rest.model_dump(mode="json") for rest in rests],
    }
    return JSONResponse(body, headers=_attachment("json"))


@router.get("/export.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
def export_csv(user: CurrentUser, db: SessionDep) -> StreamingResponse:
    """Every rest of the account as a CSV download (one row per rest)."""
    assert user.id is not None
    rests = service.all_rests(db, user.id)
    return StreamingResponse(service.csv_lines(rests), media_type="text/csv; charset=utf-8",
                             headers=_attachment("csv"))
