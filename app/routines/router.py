from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.rate_limit import client_address
from app.db import in_session
from app.deps import SessionScriptsDep
from app.errors import error_responses
from app.routines import service
from app.routines.definition import CueDensity
from app.routines.schemas import RoutinePublic, SessionOptions, SessionScriptOut

router = APIRouter(prefix="/api/routines", tags=["routines"])

# Their 200 answers stay the same for the life of the process, whoever asks (built-in
# routines; a session's script once rendered), so the app may replay them without routing.
UNCHANGING_ROUTES = frozenset({
    "/api/routines", "/api/routines/{routine_id}", "/api/routines/{routine_id}/session",
})


# Reads of built-in data and of sessions this instance remembers are `async def`: they
# never block, so they skip the hop to a worker thread.
@router.get("", response_model=list[RoutinePublic])
async def list_routines() -> Response:
    """The built-in routines with their lengths, phases and default options."""
    return Response(service.routines_json(), media_type="application/json")


@router.get("/{routine_id}", responses=error_responses(404))
async def get_routine(routine_id: str) -> RoutinePublic:
    """One routine."""
    return service.routine_public(service.get_routine(routine_id))


@router.get(
    "/{routine_id}/session", response_model=SessionScriptOut, responses=error_responses(404, 429)
)
async def get_session_script(
    routine_id: str,
    request: Request,
    scripts: SessionScriptsDep,
    minutes: Annotated[int | None, Query(ge=1, le=120)] = None,
    cues: CueDensity | None = None,
    prep: Annotated[
        int | None, Query(ge=0, le=300, description="Seconds to get down to the floor.")
    ] = None,
) -> Response:
    """The cue script of one session and its audio; rendered on first request."""
    routine = service.get_routine(routine_id)
    options = SessionOptions(
        minutes=routine.minutes.default if minutes is None else minutes,
        cues=routine.default_cues if cues is None else cues,
        prep_s=routine.default_prep_s if prep is None else prep,
    )
    body = scripts.remembered(routine, options)
    if body is None:
        address = client_address(request)
        # Renders beyond the turns wait here, holding no database slot, so the other
        # requests keep a core and the database.
        async with scripts.render_turns:
            body = await in_session(
                request, lambda db: scripts.script_json(db, routine, options, address)
            )
    return Response(body, media_type="application/json")
