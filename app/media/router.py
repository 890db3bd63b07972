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
    asked = request.headers.get("range")
    if asked is not None:
        size = path.stat().st_size
        try:
            FileResponse._parse_range_header(asked, size)  # as the response will read it
        except MalformedRangeHeader:
            # Another unit, or ranges that do not parse: the whole file, as RFC 9110 has a
            # server answer a range it does not understand.
            request.scope["headers"] = [(key, value) for key, value in request.scope["headers"]
                                        if key != b"range"]
        except RangeNotSatisfiable:
            # With If-Range, whether the range applies at all is the response's to decide.
            if "if-range" not in request.headers:
                raise RangeOutsideFile(f"The file has {size} bytes; no range asked for lies "
                                       "within them.",
                                       headers={"Content-Range": f"bytes */{size}"}) from None
    mime = MEDIA_TYPES[name.rsplit(".", 1)[1]]
    return FileResponse(
        path,
        media_type=mime,
        headers={"Cache-Control": IMMUTABLE, "Access-Control-Allow-Origin": "*"},
    )
