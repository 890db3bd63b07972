from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.config import APP_VERSION
from app.deps import SessionDep
from app.errors import AppError

router = APIRouter(prefix="/api", tags=["health"])


class DatabaseUnavailable(AppError):
    code = "DATABASE_UNAVAILABLE"
    status_code = 503


@router.get("/health")
def health(db: SessionDep) -> dict[str, str]:
    """Liveness with a database round trip."""
    try:
        db.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable("The database does not answer.") from exc
    return {"status": "ok", "version": APP_VERSION}
