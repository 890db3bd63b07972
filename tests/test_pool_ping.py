"""PostgreSQL connections are pinged only after they sat idle: a dead one is replaced then."""

import pytest
from sqlalchemy import Engine, text

from app import db
from app.db import make_engine
from tests.conftest import make_settings
from tests.sync.conftest import _pg_admin, postgres_url  # noqa: F401  (fixture)


@pytest.fixture
def engine(postgres_url, tmp_path, speech_cache):  # noqa: F811
    settings = make_settings(tmp_path / "data", speech_cache, database_url=postgres_url,
                             db_pool_size=1, db_max_overflow=0)
    engine = make_engine(settings)
    yield engine
    engine.dispose()


def backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def kill_backend(pid: int) -> None:
    with _pg_admin() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_connection_that_sat_idle_is_pinged_and_replaced_when_dead(engine, monkeypatch):
    first = backend_pid(engine)
    kill_backend(first)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)  # every connection counts as idle
    assert backend_pid(engine) != first  # the request still succeeds, on a new connection


def test_a_connection_just_returned_is_handed_out_without_a_ping(engine, monkeypatch):
    backend_pid(engine)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 3600.0)
    pings: list[object] = []

    def ping(conn: object) -> bool:
        pings.append(conn)
        return True

    monkeypatch.setattr(engine.dialect, "do_ping", ping)
    backend_pid(engine)
    assert pings == []
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)
    backend_pid(engine)
    assert len(pings) == 1
