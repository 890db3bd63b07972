"""Accounts: create, check a password, erase. Services flush; the request commits."""

from sqlalchemy import ColumnElement, Table, delete, func, select
from sqlmodel import Session, SQLModel, col

from app.auth.errors import EmailTaken
from app.auth.passwords import PasswordHashing
from app.db import insert_unless_taken
from app.models import AuthSession, Rest, SyncClient, SyncRejection, User
from app.sync.service import lock_user_counter


def _table(model: type[SQLModel]) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def find_user(db: Session, email: str) -> User | None:
    return db.scalars(select(User).where(col(User.email) == email)).first()


def create_user(db: Session, hashing: PasswordHashing, email: str, password: str) -> User:
    if find_user(db, email) is not None:
        raise EmailTaken("An account with this email already exists.")
    values = User(email=email, password_hash=hashing.hash(password)).model_dump(exclude={"id"})
    # A concurrent sign-up with the same email may win between the check and the insert:
    # then nothing is inserted.
    user = db.scalar(insert_unless_taken(db, User, "email").values(values).returning(User))
    if user is None:
        raise EmailTaken("An account with this email already exists.")
    return user


def authenticate(db: Session, hashing: PasswordHashing, email: str, password: str) -> User | None:
    """The user when the password matches; None otherwise, after the same amount of work."""
    user = find_user(db, email)
    if user is None:
        hashing.verify_dummy(password)
        return None
    if not hashing.verify(user.password_hash, password):
        return None
    return user


def _count(db: Session, table: Table, *where: ColumnElement[bool]) -> int:
    return int(db.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def erase_user(db: Session, user: User) -> dict[str, int]:
    """Delete the account and everything the server holds for it, tombstones included."""
    assert user.id is not None
    # The same lock a push takes first: erasing never interleaves with a push (no deadlock).
    lock_user_counter(db, user.id)
    rests, devices, sessions = (_table(m) for m in (Rest, SyncClient, AuthSession))
    counts = {
        "rests": _count(db, rests, rests.c.user_id == user.id, rests.c.deleted.is_(False)),
        "devices": _count(db, devices, devices.c.user_id == user.id),
        "sessions": _count(db, sessions, sessions.c.user_id == user.id),
    }
    # Explicit deletes, not only ON DELETE CASCADE: SQLite enforces it only with a pragma.
    for table in (rests, _table(SyncRejection), devices, sessions):
        db.execute(delete(table).where(table.c.user_id == user.id))
    users = _table(User)
    db.execute(delete(users).where(users.c.id == user.id))
    db.flush()
    return counts
