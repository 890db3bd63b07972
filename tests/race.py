"""Two transactions racing for one row: the second must wait for the first's lock."""

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.config import Settings
from app.db import make_engine
from app.migrate import upgrade_to_head

T = TypeVar("T")


@contextmanager
def migrated_engine(settings: Settings) -> Iterator[Engine]:
    """The app's engine on the settings' database, migrated to head."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_to_head(settings.resolved_database_url)
    engine = make_engine(settings)
    try:
        yield engine
    finally:
        engine.dispose()


def second_after_first(engine: Engine, first: Callable[[Session], object],
                       second: Callable[[Session], T]) -> T:
    """Runs `first` in a transaction and leaves it open; runs `second` in another, on a
    thread, and checks that it waits; then commits the first, and returns what the second
    returns once committed (or raises what it raises, its transaction rolled back)."""
    with Session(engine) as first_db, Session(engine) as second_db:
        first(first_db)
        with ThreadPoolExecutor(1) as pool:
            racing = pool.submit(second, second_db)
            time.sleep(0.3)
            assert not racing.done(), "the second did not wait for the first's lock"
            first_db.commit()
            result = racing.result(timeout=20)
        second_db.commit()
        return result
