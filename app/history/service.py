"""A signed-in user's rests as the server holds them (tombstones left out)."""

import csv
import io
from collections.abc import Iterator

from sqlalchemy import select
from sqlmodel import Session

from app.errors import NotFound
from app.models import Rest
from app.sync.schemas import RestOut, iso_utc
from app.sync.service import CONTENT_FIELDS

EXPORT_FIELDS = ("id", *CONTENT_FIELDS)


def _to_out(row: Rest) -> RestOut:
    return RestOut.model_validate({name: getattr(row, name) for name in EXPORT_FIELDS})


def _live(user_id: int):  # type: ignore[no-untyped-def]
    return (select(Rest)
            .where(Rest.user_id == user_id, Rest.deleted.is_(False))  # type: ignore[arg-type, attr-defined]
            .order_by(Rest.started_at.desc(), Rest.id))  # type: ignore[union-attr, arg-type]


def list_rests(db: Session, user_id: int, limit: int, offset: int) -> list[RestOut]:
    return [_to_out(row) for row in db.scalars(_live(user_id).limit(limit).offset(offset))]


def get_rest(db: Session, user_id: int, rest_id: str) -> RestOut:
    row = db.get(Rest, (user_id, rest_id))
    if row is None or row.deleted:
        # Another user's rest answers exactly like a missing one.
        raise NotFound("No such rest.")
    return _to_out(row)


def all_rests(db: Session, user_id: int) -> list[RestOut]:
    return [_to_out(row) for row in db.scalars(_live(user_id))]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return iso_utc(value)  # type: ignore[arg-type]
    text = str(value)
    # Spreadsheet formula injection: a note starting with = + - @ is shown as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_lines(rests: list[RestOut]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_FIELDS)
    for rest in rests:
        writer.writerow([_cell(getattr(rest, name)) for name in EXPORT_FIELDS])
    yield buffer.getvalue()
