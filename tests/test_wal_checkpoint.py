"""The write-ahead log reaches the database file on the checkpointer's thread, not in commits."""

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import text

from app.config import Settings
from app.db import WAL_FAR_LIMIT_PAGES
from app.direct_sql import DirectConnection
from app.main import create_app
from app.sqlite_writer import SqliteWriter
from app.wal_checkpoint import WalCheckpointer
from tests.aio import run_async
from tests.auth.helpers import sign_up
from tests.conftest import make_settings
from tests.sync.factories import make_rest, new_client_id, put


def rests_in_database_file(database: Path) -> int:
    """Rows the database file itself holds: `immutable` reads it and never the log."""
    reader = sqlite3.connect(f"file:{database}?immutable=1", uri=True)
    try:
        return int(reader.execute("SELECT count(*) FROM rest").fetchone()[0])
    finally:
        reader.close()


def eventually(condition: Callable[[], bool], within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except sqlite3.DatabaseError:
            pass  # read while a checkpoint was writing the file: look again
        time.sleep(0.05)
    return condition()


def logged_writer(database: Path) -> sqlite3.Connection:
    """A new database and a writer that commits to the log only (no automatic checkpoint).
    Keep the writer open: the last connection to close would checkpoint the log."""
    writer = sqlite3.connect(database)
    writer.execute("CREATE TABLE rest (id INTEGER PRIMARY KEY, note TEXT)")
    writer.commit()  # before the log exists: the table is in the file from the start
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    return writer


@pytest.fixture
def logged_database(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    database = tmp_path / "rest.db"
    writer = logged_writer(database)
    yield database, writer
    writer.close()


def commit_rows(writer: sqlite3.Connection, rows: int) -> None:
    writer.executemany("INSERT INTO rest (note) VALUES (?)", [("x" * 200,)] * rows)
    writer.commit()


class TestWalCheckpointer:
    def test_logged_commits_reach_the_database_file(
        self, logged_database: tuple[Path, sqlite3.Connection]
    ) -> None:
        database, writer = logged_database
        commit_rows(writer, 300)
        assert rests_in_database_file(database) == 0  # committed, in the log only
        checkpointer = WalCheckpointer(str(database), every_s=0.05)
        checkpointer.start()
        try:
            assert eventually(lambda: rests_in_database_file(database) == 300)
        finally:
            checkpointer.stop()

    def test_stopping_checkpoints_what_is_left(
        self, logged_database: tuple[Path, sqlite3.Connection]
    ) -> None:
        database, writer = logged_database
        checkpointer = WalCheckpointer(str(database), every_s=3600)
        checkpointer.start()
        commit_rows(writer, 50)
        assert rests_in_database_file(database) == 0
        checkpointer.stop()
        assert rests_in_database_file(database) == 50


    def test_a_checkpointer_there_before_the_log_still_copies_it(self, tmp_path: Path) -> None:
        # A new database: the checkpointer opens the file before the app has switched it
        # to WAL mode, and must still notice the log once there is one.
        database = tmp_path / "rest.db"
        checkpointer = WalCheckpointer(str(database))
        checkpointer.checkpoint()
        writer = logged_writer(database)
        commit_rows(writer, 30)
        checkpointer.checkpoint()
        assert rests_in_database_file(database) == 30
        writer.close()

    def test_a_failed_round_is_retried(self, tmp_path: Path,
                                       caplog: pytest.LogCaptureFixture) -> None:
        database = tmp_path / "not-yet" / "rest.db"  # cannot be opened: no such folder
        checkpointer = WalCheckpointer(str(database), every_s=0.05)
        with caplog.at_level(logging.INFO, logger="app.wal_checkpoint"):
            checkpointer.start()
            try:
                time.sleep(0.3)  # a few failed rounds
                database.parent.mkdir()
                writer = logged_writer(database)
                commit_rows(writer, 30)
                assert eventually(lambda: rests_in_database_file(database) == 30)
                writer.close()
            finally:
                checkpointer.stop()
        # One line as the failures start and one as they end, not one per round.
        assert [record.getMessage() for record in caplog.records] == [
            "WAL checkpoint failed; will retry", "WAL checkpoints work again"]


class TestTheAppsCommits:
    def test_a_commit_leaves_checkpoints_to_the_checkpointer(self, client: TestClient) -> None:
        with client.app.state.engine.connect() as connection:  # type: ignore[attr-defined]
            limit = connection.execute(text("PRAGMA wal_autocheckpoint")).scalar()
        assert limit == WAL_FAR_LIMIT_PAGES > 1000  # SQLite's own limit is 1,000 pages

    def test_pushed_rests_reach_the_database_file(
        self, client: TestClient, settings: Settings
    ) -> None:
        account = sign_up(client)
        mutations = [put(seq, make_rest()) for seq in range(1, 21)]
        pushed = account.post("/api/sync/push",
                              json={"client_id": new_client_id(), "mutations": mutations})
        assert pushed.status_code == 200
        database = settings.data_dir / "rest.db"
        assert eventually(lambda: rests_in_database_file(database) == 20)


def test_the_interval_is_a_setting(tmp_path: Path, speech_cache: Path) -> None:
    settings = make_settings(tmp_path / "data", speech_cache, wal_checkpoint_every_s=2.5)
    with TestClient(create_app(settings)) as client:
        checkpointer = client.app.state.wal_checkpointer  # type: ignore[attr-defined]
        assert checkpointer.every_s == 2.5
    with pytest.raises(ValidationError):
        make_settings(tmp_path / "data", speech_cache, wal_checkpoint_every_s=0)


def log_frames(database: Path) -> int:
    """Pages in the write-ahead log since it last started over (copied or not)."""
    reader = sqlite3.connect(database)
    try:
        return int(reader.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
    finally:
        reader.close()


class TestStartingTheLogOver:
    """SQLite writes from the log's start again only for a writer that begins with the
    whole log copied; under steady pushes, something is always committed after a copy."""

    def test_the_writer_starts_over_a_long_log_copied_while_pushes_kept_coming(
        self, tmp_path: Path, speech_cache: Path
    ) -> None:
        settings = make_settings(tmp_path / "data", speech_cache)
        with TestClient(create_app(settings)) as client:
            engine = client.app.state.engine  # type: ignore[attr-defined]
        database = settings.data_dir / "rest.db"
        checkpointer = WalCheckpointer(str(database), every_s=3600, restart_after_frames=10)
        # Another process's writer, say (used from the test's event loop thread too).
        elsewhere = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        elsewhere.execute("PRAGMA journal_mode=WAL")  # as the app's connections set it
        elsewhere.execute("CREATE TABLE probe (note TEXT)")

        def write_elsewhere(rows: int) -> None:
            elsewhere.executemany("INSERT INTO probe VALUES (?)", [("x" * 2000,)] * rows)

        def push(db: DirectConnection) -> None:
            db.driver_connection.execute("INSERT INTO probe VALUES ('pushed')")

        async def steady_writes() -> int:
            writer = SqliteWriter(engine, checkpointer=checkpointer)
            write_elsewhere(100)
            await writer.run(push)
            elsewhere.execute("BEGIN IMMEDIATE")  # under way while the log is copied:
            write_elsewhere(100)
            checkpointer.checkpoint()  # all that was committed, copied: a long log
            elsewhere.execute("COMMIT")  # and this, committed after the copy
            await writer.run(push)
            await writer.close()
            return log_frames(database)

        try:
            frames = run_async(steady_writes())
            assert frames < 10  # the last push alone: the log started over before it
            assert elsewhere.execute("SELECT count(*) FROM probe").fetchone()[0] == 202
            assert not checkpointer.restart_due()  # asked once, by the writer
        finally:
            elsewhere.close()
