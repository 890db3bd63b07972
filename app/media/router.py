from fastapi import APIRouter
from fastapi.responses import FileResponse

from app.audio.store import MEDIA_NAME, MEDIA_TYPES
from app.deps import MediaStoreDep, SessionDep
from app.errors import NotFound, error_responses

router = APIRouter(tags=["media"])

# The name is the sha256 of the bytes: a file never changes, so caches may keep it forever.
IMMUTABLE = "public, max-age=31536000, immutable"


@router.get("/media/{name}", response_class=FileResponse, responses=error_responses(404))
def get_media(name: str, db: SessionDep, store: MediaStoreDep) -> FileResponse:
    """A rendered audio track or captions file; answers Range requests with 206."""
    path = store.local_path(db, name) if MEDIA_NAME.match(name) else None
    if path is None:
        raise NotFound(f"No media called {name!r}.")
    mime = MEDIA_TYPES[name.rsplit(".", 1)[1]]
    return FileResponse(
        path,
        media_type=mime,
        headers={"Cache-Control": IMMUTABLE, "Access-Control-Allow-Origin": "*"},
    )
