from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable

from app.audio.store import MEDIA_NAME, MEDIA_TYPES
from app.deps import MediaStoreDep, SessionDep
from app.errors import AppError, NotFound, error_responses

router = APIRouter(tags=["media"])

# The name is the sha256 of the bytes: a file never changes, so caches may keep it forever.
IMMUTABLE = "public, max-age=31536000, immutable"


class RangeOutsideFile(AppError):
    code = "RANGE_NOT_SATISFIABLE"
    status_code = 416


@router.get(
    "/media/{name}",
    response_class=FileResponse,
    responses={206: {"description": "The byte ranges asked for"}, **error_responses(404, 416)},
)
def get_media(name: str, request: Request, db: SessionDep, store: MediaStoreDep) -> FileResponse:
    """A rendered audio track or captions file; answers Range requests with 206."""
    path = store.local_path(db, name) if MEDIA_NAME.match(name) else None
    if path is None:
        raise NotFound(f"No media called {name!r}.")
    mime = MEDIA_TYPES[name.rsplit(".", 1)[1]]
    stat = path.stat()
    response = FileResponse(
        path,
        media_type=mime,
        headers={"Cache-Control": IMMUTABLE, "Access-Control-Allow-Origin": "*"},
        stat_result=stat,
    )
    asked = request.headers.get("range")
    if asked is not None:
        try:
            FileResponse._parse_range_header(asked, stat.st_size)  # as the response reads it
        except MalformedRangeHeader:
            # Another unit, or ranges that do not parse: the whole file, as RFC 9110 has a
            # server answer a range it does not understand.
            request.scope["headers"] = [(key, value) for key, value in request.scope["headers"]
                                        if key != b"range"]
        except RangeNotSatisfiable:
            # An If-Range naming another version of the file asks for all of it (200).
            if_range = request.headers.get("if-range")
            if if_range is None or response._should_use_range(if_range):
                raise RangeOutsideFile(f"The file has {stat.st_size} bytes; no range asked "
                                       "for lies within them.",
                                       headers={"Content-Range": f"bytes */{stat.st_size}"}
                                       ) from None
    return response
